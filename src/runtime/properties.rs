//! Property values and configurations (`{"PERFORMANCE_HINT": "LATENCY", ...}`).

use super::plugin::CompiledModel;
use crate::error::{Error, Result};
use crate::ir::ElementType;
use std::collections::BTreeMap;
use std::fmt;

/// A property value.
#[derive(Debug, Clone, PartialEq)]
pub enum PropertyValue {
    /// A boolean (`YES`/`NO` or `true`/`false` in strings).
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A real number.
    Float(f64),
    /// A string or enum name.
    Str(String),
    /// A list.
    List(Vec<PropertyValue>),
    /// A nested map (`DEVICE_PROPERTIES`, `SUPPORTED_PROPERTIES`).
    Map(BTreeMap<String, PropertyValue>),
}

/// A configuration: property name → value.
pub type Config = BTreeMap<String, PropertyValue>;

impl PropertyValue {
    /// The value as an integer, accepting integral strings.
    pub fn as_int(&self, key: &str) -> Result<i64> {
        match self {
            PropertyValue::Int(i) => Ok(*i),
            PropertyValue::Str(s) => s.trim().parse().map_err(|_| bad(key, self, "an integer")),
            PropertyValue::Bool(b) => Ok(*b as i64),
            _ => Err(bad(key, self, "an integer")),
        }
    }

    /// The value as a boolean, accepting `YES`/`NO`/`true`/`false`.
    pub fn as_bool(&self, key: &str) -> Result<bool> {
        match self {
            PropertyValue::Bool(b) => Ok(*b),
            PropertyValue::Int(i) => Ok(*i != 0),
            PropertyValue::Str(s) => match s.trim().to_ascii_uppercase().as_str() {
                "YES" | "TRUE" | "1" => Ok(true),
                "NO" | "FALSE" | "0" => Ok(false),
                _ => Err(bad(key, self, "a boolean (YES/NO)")),
            },
            _ => Err(bad(key, self, "a boolean (YES/NO)")),
        }
    }

    /// The value as a string (numbers and booleans formatted).
    pub fn as_string(&self) -> String {
        self.to_string()
    }
}

fn bad(key: &str, v: &PropertyValue, expected: &str) -> Error {
    Error::InvalidArgument(format!("property {key}: value '{v}' is not {expected}"))
}

impl fmt::Display for PropertyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PropertyValue::Bool(b) => f.write_str(if *b { "YES" } else { "NO" }),
            PropertyValue::Int(i) => write!(f, "{i}"),
            PropertyValue::Float(x) => write!(f, "{x}"),
            PropertyValue::Str(s) => f.write_str(s),
            PropertyValue::List(v) => {
                write!(
                    f,
                    "{}",
                    v.iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            }
            PropertyValue::Map(m) => {
                let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                write!(f, "{{{}}}", parts.join(", "))
            }
        }
    }
}

impl From<&str> for PropertyValue {
    fn from(s: &str) -> Self {
        PropertyValue::Str(s.to_string())
    }
}

impl From<String> for PropertyValue {
    fn from(s: String) -> Self {
        PropertyValue::Str(s)
    }
}

impl From<i64> for PropertyValue {
    fn from(i: i64) -> Self {
        PropertyValue::Int(i)
    }
}

impl From<bool> for PropertyValue {
    fn from(b: bool) -> Self {
        PropertyValue::Bool(b)
    }
}

/// Whether a property can be changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    /// Read-only.
    Ro,
    /// Read-write.
    Rw,
}

impl Mutability {
    /// OpenVINO's spelling: `RO` or `RW`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::Ro => "RO",
            Mutability::Rw => "RW",
        }
    }
}

/// Property names used across the runtime, with OpenVINO's keys.
pub mod keys {
    /// `SUPPORTED_PROPERTIES`.
    pub const SUPPORTED_PROPERTIES: &str = "SUPPORTED_PROPERTIES";
    /// `AVAILABLE_DEVICES`.
    pub const AVAILABLE_DEVICES: &str = "AVAILABLE_DEVICES";
    /// `FULL_DEVICE_NAME`.
    pub const FULL_DEVICE_NAME: &str = "FULL_DEVICE_NAME";
    /// `DEVICE_TYPE`.
    pub const DEVICE_TYPE: &str = "DEVICE_TYPE";
    /// `DEVICE_ARCHITECTURE`.
    pub const DEVICE_ARCHITECTURE: &str = "DEVICE_ARCHITECTURE";
    /// `OPTIMIZATION_CAPABILITIES`.
    pub const OPTIMIZATION_CAPABILITIES: &str = "OPTIMIZATION_CAPABILITIES";
    /// `PERFORMANCE_HINT`.
    pub const PERFORMANCE_HINT: &str = "PERFORMANCE_HINT";
    /// `PERFORMANCE_HINT_NUM_REQUESTS`.
    pub const PERFORMANCE_HINT_NUM_REQUESTS: &str = "PERFORMANCE_HINT_NUM_REQUESTS";
    /// `INFERENCE_NUM_THREADS`.
    pub const INFERENCE_NUM_THREADS: &str = "INFERENCE_NUM_THREADS";
    /// `NUM_STREAMS`.
    pub const NUM_STREAMS: &str = "NUM_STREAMS";
    /// `INFERENCE_PRECISION_HINT`.
    pub const INFERENCE_PRECISION_HINT: &str = "INFERENCE_PRECISION_HINT";
    /// `EXECUTION_MODE_HINT`.
    pub const EXECUTION_MODE_HINT: &str = "EXECUTION_MODE_HINT";
    /// `PERF_COUNT`.
    pub const PERF_COUNT: &str = "PERF_COUNT";
    /// `OPTIMAL_NUMBER_OF_INFER_REQUESTS`.
    pub const OPTIMAL_NUMBER_OF_INFER_REQUESTS: &str = "OPTIMAL_NUMBER_OF_INFER_REQUESTS";
    /// `NETWORK_NAME`.
    pub const NETWORK_NAME: &str = "NETWORK_NAME";
    /// `EXECUTION_DEVICES`.
    pub const EXECUTION_DEVICES: &str = "EXECUTION_DEVICES";
    /// `CACHE_DIR`.
    pub const CACHE_DIR: &str = "CACHE_DIR";
    /// `ENABLE_MMAP`.
    pub const ENABLE_MMAP: &str = "ENABLE_MMAP";
    /// `LOADED_FROM_CACHE`.
    pub const LOADED_FROM_CACHE: &str = "LOADED_FROM_CACHE";
    /// `LOG_LEVEL`.
    pub const LOG_LEVEL: &str = "LOG_LEVEL";
    /// `DEVICE_ID`.
    pub const DEVICE_ID: &str = "DEVICE_ID";
    /// `RANGE_FOR_STREAMS`.
    pub const RANGE_FOR_STREAMS: &str = "RANGE_FOR_STREAMS";
    /// `RANGE_FOR_ASYNC_INFER_REQUESTS`.
    pub const RANGE_FOR_ASYNC_INFER_REQUESTS: &str = "RANGE_FOR_ASYNC_INFER_REQUESTS";
    /// `MULTI_DEVICE_PRIORITIES` (`device.priorities`): the candidate devices of AUTO and MULTI.
    pub const MULTI_DEVICE_PRIORITIES: &str = "MULTI_DEVICE_PRIORITIES";
    /// `DEVICE_PROPERTIES` (`device.properties`): per-device configurations, `{device: {key: value}}`.
    pub const DEVICE_PROPERTIES: &str = "DEVICE_PROPERTIES";
    /// `MODEL_PRIORITY`.
    pub const MODEL_PRIORITY: &str = "MODEL_PRIORITY";
    /// `CACHE_MODE`.
    pub const CACHE_MODE: &str = "CACHE_MODE";
    /// `ENABLE_CPU_PINNING`.
    pub const ENABLE_CPU_PINNING: &str = "ENABLE_CPU_PINNING";
    /// `ENABLE_HYPER_THREADING`.
    pub const ENABLE_HYPER_THREADING: &str = "ENABLE_HYPER_THREADING";
    /// `SCHEDULING_CORE_TYPE`.
    pub const SCHEDULING_CORE_TYPE: &str = "SCHEDULING_CORE_TYPE";
    /// `COMPILATION_NUM_THREADS`.
    pub const COMPILATION_NUM_THREADS: &str = "COMPILATION_NUM_THREADS";

    /// Every key above: the candidates a compiled model's `SUPPORTED_PROPERTIES` is probed with.
    pub const ALL: &[&str] = &[
        SUPPORTED_PROPERTIES,
        AVAILABLE_DEVICES,
        FULL_DEVICE_NAME,
        DEVICE_TYPE,
        DEVICE_ARCHITECTURE,
        OPTIMIZATION_CAPABILITIES,
        PERFORMANCE_HINT,
        PERFORMANCE_HINT_NUM_REQUESTS,
        INFERENCE_NUM_THREADS,
        NUM_STREAMS,
        INFERENCE_PRECISION_HINT,
        EXECUTION_MODE_HINT,
        PERF_COUNT,
        OPTIMAL_NUMBER_OF_INFER_REQUESTS,
        NETWORK_NAME,
        EXECUTION_DEVICES,
        CACHE_DIR,
        ENABLE_MMAP,
        LOADED_FROM_CACHE,
        LOG_LEVEL,
        DEVICE_ID,
        RANGE_FOR_STREAMS,
        RANGE_FOR_ASYNC_INFER_REQUESTS,
        MULTI_DEVICE_PRIORITIES,
        DEVICE_PROPERTIES,
        MODEL_PRIORITY,
        CACHE_MODE,
        ENABLE_CPU_PINNING,
        ENABLE_HYPER_THREADING,
        SCHEDULING_CORE_TYPE,
        COMPILATION_NUM_THREADS,
    ];
}

/// The values `PERFORMANCE_HINT` takes.
pub const PERFORMANCE_MODES: [&str; 3] = ["LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT"];

/// `LOG_LEVEL` spellings: OpenVINO's string and the name of the Python `log.Level` member.
const LOG_LEVELS: [(&str, &str); 6] = [
    ("LOG_NONE", "NO"),
    ("LOG_ERROR", "ERR"),
    ("LOG_WARNING", "WARNING"),
    ("LOG_INFO", "INFO"),
    ("LOG_DEBUG", "DEBUG"),
    ("LOG_TRACE", "TRACE"),
];

/// What a well-known property's value must be.
enum Kind {
    /// `YES`/`NO`, `true`/`false`.
    Bool,
    /// A non-negative integer.
    Count,
    /// `NUM_STREAMS`: an integer >= 0, or `AUTO` (-1) / `NUMA` (-2).
    Streams,
    /// One of a fixed set of names.
    Choice(&'static [&'static str]),
    /// A `LOG_LEVEL`.
    LogLevel,
    /// An element type name (`f32`, `bf16`).
    Precision,
    /// Any string.
    Text,
}

fn kind_of(key: &str) -> Option<Kind> {
    use keys::*;
    Some(match key {
        PERF_COUNT | ENABLE_MMAP | ENABLE_CPU_PINNING | ENABLE_HYPER_THREADING => Kind::Bool,
        INFERENCE_NUM_THREADS | PERFORMANCE_HINT_NUM_REQUESTS | COMPILATION_NUM_THREADS => {
            Kind::Count
        }
        NUM_STREAMS => Kind::Streams,
        PERFORMANCE_HINT => Kind::Choice(&PERFORMANCE_MODES),
        EXECUTION_MODE_HINT => Kind::Choice(&["PERFORMANCE", "ACCURACY"]),
        MODEL_PRIORITY => Kind::Choice(&["LOW", "MEDIUM", "HIGH"]),
        CACHE_MODE => Kind::Choice(&["OPTIMIZE_SIZE", "OPTIMIZE_SPEED"]),
        SCHEDULING_CORE_TYPE => Kind::Choice(&["ANY_CORE", "PCORE_ONLY", "ECORE_ONLY"]),
        LOG_LEVEL => Kind::LogLevel,
        INFERENCE_PRECISION_HINT => Kind::Precision,
        CACHE_DIR | DEVICE_ID | MULTI_DEVICE_PRIORITIES => Kind::Text,
        _ => return None,
    })
}

/// Checks the value of a well-known property and brings it to one canonical form (`"YES"` → `true`, `"4"` → `4`,
/// `"AUTO"` streams → `-1`, `WARNING` → `LOG_WARNING`, `float32` → `f32`); other properties pass unchanged.
pub fn normalize(key: &str, value: &PropertyValue) -> Result<PropertyValue> {
    let Some(kind) = kind_of(key) else {
        return Ok(value.clone());
    };
    let text = value.to_string();
    let word = text.trim().to_ascii_uppercase();
    Ok(match kind {
        Kind::Bool => PropertyValue::Bool(value.as_bool(key)?),
        Kind::Count => match value.as_int(key)? {
            n if n >= 0 => PropertyValue::Int(n),
            _ => return Err(bad(key, value, "a non-negative integer")),
        },
        Kind::Streams => match word.as_str() {
            "AUTO" => PropertyValue::Int(-1),
            "NUMA" => PropertyValue::Int(-2),
            _ => match value.as_int(key) {
                Ok(n) if n >= -2 => PropertyValue::Int(n),
                _ => return Err(bad(key, value, "a number of streams, AUTO or NUMA")),
            },
        },
        Kind::Choice(names) => match names.iter().find(|n| **n == word) {
            Some(n) => PropertyValue::from(*n),
            None => return Err(bad(key, value, &format!("one of {}", names.join(", ")))),
        },
        Kind::LogLevel => match LOG_LEVELS
            .iter()
            .find(|(ov, py)| *ov == word || *py == word)
        {
            Some((ov, _)) => PropertyValue::from(*ov),
            None => {
                let names: Vec<&str> = LOG_LEVELS.iter().map(|(ov, _)| *ov).collect();
                return Err(bad(key, value, &format!("one of {}", names.join(", "))));
            }
        },
        Kind::Precision => match text.trim().parse::<ElementType>() {
            Ok(et) if et.is_real() || et == ElementType::Dynamic => PropertyValue::from(et.name()),
            _ => {
                return Err(bad(
                    key,
                    value,
                    "a floating-point element type (f32, f16, bf16)",
                ));
            }
        },
        Kind::Text => PropertyValue::Str(text),
    })
}

/// Normalises every value of a configuration (see [`normalize`]); `DEVICE_PROPERTIES` maps are normalised inside.
pub fn normalize_config(config: &Config) -> Result<Config> {
    config
        .iter()
        .map(|(k, v)| {
            let v = match (k.as_str(), v) {
                (keys::DEVICE_PROPERTIES, PropertyValue::Map(devices)) => PropertyValue::Map(
                    devices
                        .iter()
                        .map(|(d, c)| Ok((d.clone(), normalize_device_entry(d, c)?)))
                        .collect::<Result<_>>()?,
                ),
                (keys::DEVICE_PROPERTIES, other) => {
                    return Err(bad(k, other, "a dictionary {device: {key: value}}"));
                }
                _ => normalize(k, v)?,
            };
            Ok((k.clone(), v))
        })
        .collect()
}

fn normalize_device_entry(device: &str, entry: &PropertyValue) -> Result<PropertyValue> {
    match entry {
        PropertyValue::Map(c) => Ok(PropertyValue::Map(normalize_config(c)?)),
        other => Err(Error::InvalidArgument(format!(
            "property {}: the entry of device '{device}' is '{other}', expected a dictionary of properties",
            keys::DEVICE_PROPERTIES
        ))),
    }
}

/// Reads a compiled-model property; `SUPPORTED_PROPERTIES`, when the device does not list them itself, is every
/// well-known key the compiled model answers, all read-only as OpenVINO reports them.
pub fn compiled_model_property(model: &dyn CompiledModel, key: &str) -> Result<PropertyValue> {
    match model.get_property(key) {
        Err(Error::NotFound(_)) if key == keys::SUPPORTED_PROPERTIES => {
            let ro = || PropertyValue::from(Mutability::Ro.as_str());
            let mut listed: BTreeMap<String, PropertyValue> = keys::ALL
                .iter()
                .filter(|k| model.get_property(k).is_ok())
                .map(|k| (k.to_string(), ro()))
                .collect();
            listed.insert(key.to_string(), ro());
            Ok(PropertyValue::Map(listed))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(key: &str, v: impl Into<PropertyValue>) -> Result<PropertyValue> {
        normalize(key, &v.into())
    }

    #[test]
    fn well_known_values_take_one_form() {
        assert_eq!(
            norm(keys::PERF_COUNT, "YES").unwrap(),
            PropertyValue::Bool(true)
        );
        assert_eq!(
            norm(keys::PERF_COUNT, "false").unwrap(),
            PropertyValue::Bool(false)
        );
        assert_eq!(
            norm(keys::INFERENCE_NUM_THREADS, "4").unwrap(),
            PropertyValue::Int(4)
        );
        assert_eq!(
            norm(keys::NUM_STREAMS, "AUTO").unwrap(),
            PropertyValue::Int(-1)
        );
        assert_eq!(
            norm(keys::NUM_STREAMS, "numa").unwrap(),
            PropertyValue::Int(-2)
        );
        assert_eq!(
            norm(keys::NUM_STREAMS, 3i64).unwrap(),
            PropertyValue::Int(3)
        );
        assert_eq!(
            norm(keys::PERFORMANCE_HINT, "throughput").unwrap(),
            PropertyValue::from("THROUGHPUT")
        );
        assert_eq!(
            norm(keys::LOG_LEVEL, "WARNING").unwrap(),
            PropertyValue::from("LOG_WARNING")
        );
        assert_eq!(
            norm(keys::LOG_LEVEL, "LOG_NONE").unwrap(),
            PropertyValue::from("LOG_NONE")
        );
        assert_eq!(
            norm(keys::INFERENCE_PRECISION_HINT, "float16").unwrap(),
            PropertyValue::from("f16")
        );
        assert_eq!(
            norm(keys::CACHE_DIR, "/tmp/c").unwrap(),
            PropertyValue::from("/tmp/c")
        );
        // Keys the runtime does not know pass unchanged: the device decides.
        assert_eq!(
            norm("SOME_PLUGIN_KEY", "x").unwrap(),
            PropertyValue::from("x")
        );
    }

    #[test]
    fn bad_values_are_refused_with_the_key_and_the_expectation() {
        let cases: [(&str, PropertyValue, &str); 7] = [
            (keys::PERFORMANCE_HINT, "FAST".into(), "LATENCY, THROUGHPUT"),
            (keys::PERF_COUNT, "maybe".into(), "boolean"),
            (
                keys::INFERENCE_NUM_THREADS,
                PropertyValue::Int(-3),
                "non-negative",
            ),
            (keys::NUM_STREAMS, "many".into(), "AUTO or NUMA"),
            (keys::NUM_STREAMS, PropertyValue::Int(-5), "AUTO or NUMA"),
            (keys::LOG_LEVEL, "LOUD".into(), "LOG_NONE"),
            (
                keys::INFERENCE_PRECISION_HINT,
                "i8".into(),
                "floating-point",
            ),
        ];
        for (key, value, expected) in cases {
            let e = normalize(key, &value).unwrap_err().to_string();
            assert!(e.contains(key) && e.contains(expected), "{e}");
        }
    }

    #[test]
    fn device_properties_are_normalised_inside() {
        let inner = Config::from([(keys::PERF_COUNT.to_string(), PropertyValue::from("YES"))]);
        let cfg = Config::from([(
            keys::DEVICE_PROPERTIES.to_string(),
            PropertyValue::Map(BTreeMap::from([(
                "CPU".to_string(),
                PropertyValue::Map(inner),
            )])),
        )]);
        let PropertyValue::Map(devices) = &normalize_config(&cfg).unwrap()[keys::DEVICE_PROPERTIES]
        else {
            panic!("a map");
        };
        assert_eq!(
            devices["CPU"],
            PropertyValue::Map(Config::from([(
                keys::PERF_COUNT.to_string(),
                PropertyValue::Bool(true)
            )]))
        );
        for bad in [
            PropertyValue::from("CPU"),
            PropertyValue::Map(BTreeMap::from([("CPU".to_string(), PropertyValue::Int(1))])),
        ] {
            let cfg = Config::from([(keys::DEVICE_PROPERTIES.to_string(), bad)]);
            let e = normalize_config(&cfg).unwrap_err().to_string();
            assert!(e.contains(keys::DEVICE_PROPERTIES), "{e}");
        }
    }

    /// A compiled model answering only NETWORK_NAME and OPTIMAL_NUMBER_OF_INFER_REQUESTS.
    struct Answering(crate::ir::Model);

    impl CompiledModel for Answering {
        fn model(&self) -> &crate::ir::Model {
            &self.0
        }
        fn infer(
            &self,
            _: &[crate::ir::Tensor],
            _: &mut super::super::RequestState,
        ) -> Result<Vec<crate::ir::Tensor>> {
            Ok(Vec::new())
        }
        fn get_property(&self, key: &str) -> Result<PropertyValue> {
            match key {
                keys::NETWORK_NAME => Ok("net".into()),
                keys::OPTIMAL_NUMBER_OF_INFER_REQUESTS => Ok(PropertyValue::Int(2)),
                k => Err(Error::NotFound(format!("no {k}"))),
            }
        }
    }

    #[test]
    fn compiled_model_supported_properties_lists_what_it_answers() {
        let cm =
            Answering(crate::ir::Model::new(Vec::new(), Vec::new(), Vec::new(), "net").unwrap());
        let listed = compiled_model_property(&cm, keys::SUPPORTED_PROPERTIES).unwrap();
        let ro = PropertyValue::from("RO");
        assert_eq!(
            listed,
            PropertyValue::Map(BTreeMap::from([
                (keys::NETWORK_NAME.to_string(), ro.clone()),
                (
                    keys::OPTIMAL_NUMBER_OF_INFER_REQUESTS.to_string(),
                    ro.clone()
                ),
                (keys::SUPPORTED_PROPERTIES.to_string(), ro),
            ]))
        );
        assert_eq!(
            compiled_model_property(&cm, keys::NETWORK_NAME).unwrap(),
            PropertyValue::from("net")
        );
        assert!(matches!(
            compiled_model_property(&cm, "FOO"),
            Err(Error::NotFound(_))
        ));
    }
}
