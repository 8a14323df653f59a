//! Runtime info in IR: per layer and per port as `<rt_info><attribute name=".." version=".." value=".."/>`,
//! per model as a nested section at the end of `<net>`.

use super::xml::{Element, XmlWriter};
use crate::ir::{RtInfo, RtValue};

/// The model rt_info key that holds the IR version read (OpenVINO sets it and never writes it back).
pub(crate) const VERSION_KEY: &str = "version";

/// Reads the `<attribute>` entries of a layer or port `<rt_info>`; entries without a name are skipped.
pub(crate) fn read_attributes(rt: Option<&Element>) -> RtInfo {
    let mut info = RtInfo::new();
    for attr in rt.into_iter().flat_map(|r| r.children_named("attribute")) {
        if let Some(name) = attr.attr("name") {
            let value = attr.attr("value").unwrap_or_default();
            info.insert(name.to_string(), RtValue::Str(value.to_string()));
        }
    }
    info
}

/// Writes the string entries of layer or port runtime info as `<attribute>` elements (nothing when empty).
pub(crate) fn write_attributes(w: &mut XmlWriter, info: &RtInfo) {
    let entries: Vec<(&String, &String)> = info
        .iter()
        .filter_map(|(k, v)| match v {
            RtValue::Str(s) => Some((k, s)),
            RtValue::Map(_) => None,
        })
        .collect();
    if entries.is_empty() {
        return;
    }
    w.open("rt_info", &[]);
    for (name, value) in entries {
        if value.is_empty() {
            w.empty("attribute", &[("name", name), ("version", "0")]);
        } else {
            w.empty(
                "attribute",
                &[("name", name), ("version", "0"), ("value", value)],
            );
        }
    }
    w.close("rt_info");
}

/// Reads a model-level `<rt_info>` section: an entry is named by its `name` attribute or else its tag; it holds
/// its `value` attribute or else a nested section.
pub(crate) fn read_section(section: &Element) -> RtInfo {
    section
        .children
        .iter()
        .map(|child| {
            let key = child.attr("name").unwrap_or(&child.name).to_string();
            let value = match child.attr("value") {
                Some(v) => RtValue::Str(v.to_string()),
                None => RtValue::Map(read_section(child)),
            };
            (key, value)
        })
        .collect()
}

/// Writes model runtime info as `<rt_info>` (always present, possibly empty), leaving out the IR version key.
pub(crate) fn write_model_section(w: &mut XmlWriter, info: &RtInfo) {
    let entries: Vec<_> = info
        .iter()
        .filter(|(k, _)| k.as_str() != VERSION_KEY)
        .collect();
    if entries.is_empty() {
        w.empty("rt_info", &[]);
        return;
    }
    w.open("rt_info", &[]);
    for (k, v) in entries {
        write_entry(w, k, v);
    }
    w.close("rt_info");
}

fn write_entry(w: &mut XmlWriter, key: &str, value: &RtValue) {
    let (tag, name_attr) = if is_tag_name(key) {
        (key, None)
    } else {
        ("info", Some(key))
    };
    let mut attrs: Vec<(&str, &str)> = name_attr.map(|n| ("name", n)).into_iter().collect();
    match value {
        RtValue::Str(s) => {
            attrs.push(("value", s));
            w.empty(tag, &attrs);
        }
        RtValue::Map(m) => {
            w.open(tag, &attrs);
            for (k, v) in m {
                write_entry(w, k, v);
            }
            w.close(tag);
        }
    }
}

/// True when `s` can be an XML tag name as OpenVINO's serializer checks it.
fn is_tag_name(s: &str) -> bool {
    let mut chars = s.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !s.to_ascii_lowercase().starts_with("xml")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontends::ir::xml::parse_document;
    use crate::ir::rt_info::get_path;

    #[test]
    fn model_section_round_trips_with_info_elements() {
        let doc = br#"<rt_info><info name="OpenVINO Runtime" value="v1"/><framework><name value="demo"/></framework>
            <version value="11"/></rt_info>"#;
        let info = read_section(&parse_document(doc).unwrap());
        assert_eq!(
            get_path(&info, &["framework", "name"]),
            Some(&RtValue::Str("demo".into()))
        );
        assert_eq!(
            info.get("OpenVINO Runtime"),
            Some(&RtValue::Str("v1".into()))
        );
        let mut w = XmlWriter::new();
        write_model_section(&mut w, &info);
        let text = w.finish();
        assert!(
            text.contains(r#"<info name="OpenVINO Runtime" value="v1" />"#),
            "{text}"
        );
        assert!(!text.contains("<version"), "{text}");
        let mut expected = info.clone();
        expected.remove(VERSION_KEY);
        assert_eq!(
            read_section(&parse_document(text.as_bytes()).unwrap()),
            expected
        );
    }

    #[test]
    fn attributes_round_trip() {
        let doc = br#"<rt_info><attribute name="decompression" version="0"/><attribute name="fused_names" version="0" value="a,b"/></rt_info>"#;
        let info = read_attributes(Some(&parse_document(doc).unwrap()));
        assert_eq!(
            info.get("decompression"),
            Some(&RtValue::Str(String::new()))
        );
        let mut w = XmlWriter::new();
        write_attributes(&mut w, &info);
        let text = w.finish();
        assert!(
            text.contains(r#"<attribute name="decompression" version="0" />"#),
            "{text}"
        );
        assert_eq!(
            read_attributes(Some(&parse_document(text.as_bytes()).unwrap())),
            info
        );
    }

    #[test]
    fn tag_names() {
        assert!(is_tag_name("framework"));
        assert!(!is_tag_name("OpenVINO Runtime"));
        assert!(!is_tag_name("1abc"));
        assert!(!is_tag_name("xmlns"));
    }
}
