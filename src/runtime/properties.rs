//! Property values and configurations (`{"PERFORMANCE_HINT": "LATENCY", ...}`).

use crate::error::{Error, Result};
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
}
