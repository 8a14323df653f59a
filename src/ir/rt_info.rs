//! Runtime info: free-form metadata attached to models, nodes and ports, as a tree of strings.

use std::collections::BTreeMap;

/// A runtime-info value: a string or a nested map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtValue {
    /// A leaf string.
    Str(String),
    /// A nested section.
    Map(RtInfo),
}

/// Runtime info: an ordered map of names to values.
pub type RtInfo = BTreeMap<String, RtValue>;

/// The node rt_info key that marks a Convert as weight decompression (fp16-compressed IR).
pub const DECOMPRESSION: &str = "decompression";

/// Looks up a path of keys (`["framework", "name"]`) in nested runtime info.
pub fn get_path<'a>(info: &'a RtInfo, path: &[&str]) -> Option<&'a RtValue> {
    let (first, rest) = path.split_first()?;
    let v = info.get(*first)?;
    if rest.is_empty() {
        return Some(v);
    }
    match v {
        RtValue::Map(m) => get_path(m, rest),
        RtValue::Str(_) => None,
    }
}

/// Sets a value at a path of keys, creating sections as needed.
pub fn set_path(info: &mut RtInfo, path: &[&str], value: RtValue) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        info.insert(first.to_string(), value);
        return;
    }
    let entry = info
        .entry(first.to_string())
        .or_insert_with(|| RtValue::Map(RtInfo::new()));
    if let RtValue::Str(_) = entry {
        *entry = RtValue::Map(RtInfo::new());
    }
    if let RtValue::Map(m) = entry {
        set_path(m, rest, value);
    }
}
