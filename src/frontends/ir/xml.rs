//! A small element tree parsed with quick-xml: the IR reader walks it instead of the event stream, so a
//! sub-graph body (`<body>`, `<then_body>`) can be read by the same code as the `<net>` itself.

use crate::error::{Error, Result};
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

/// One XML element: its tag, attributes (unescaped), child elements and text content.
#[derive(Debug, Default)]
pub(crate) struct Element {
    /// The tag name.
    pub name: String,
    /// Attributes in document order.
    pub attrs: Vec<(String, String)>,
    /// Child elements in document order.
    pub children: Vec<Element>,
    /// The concatenated text content (trimmed).
    pub text: String,
}

impl Element {
    /// The value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

fn xml_error(pos: u64, what: impl std::fmt::Display) -> Error {
    Error::Parse(format!("malformed IR XML at byte {pos}: {what}"))
}

fn open_element(start: &BytesStart<'_>, pos: u64) -> Result<Element> {
    let mut el = Element {
        name: start.name().as_ref().to_string(),
        ..Element::default()
    };
    for attr in start.attributes() {
        let attr = attr.map_err(|e| xml_error(pos, e))?;
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| xml_error(pos, e))?;
        el.attrs
            .push((attr.key.as_ref().to_string(), value.into_owned()));
    }
    Ok(el)
}

/// Parses a whole document into its root element.
pub(crate) fn parse_document(xml: &[u8]) -> Result<Element> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let pos = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| xml_error(reader.error_position(), e))?;
        match event {
            Event::Start(s) => stack.push(open_element(&s, pos)?),
            Event::Empty(s) => {
                let el = open_element(&s, pos)?;
                attach(&mut stack, &mut root, el, pos)?;
            }
            Event::End(_) => {
                let el = stack
                    .pop()
                    .ok_or_else(|| xml_error(pos, "closing tag without an opening tag"))?;
                attach(&mut stack, &mut root, el, pos)?;
            }
            Event::Text(t) => push_text(&mut stack, &t.xml10_content()),
            Event::CData(t) => push_text(&mut stack, &t.xml10_content()),
            Event::GeneralRef(r) => {
                let raw = format!("&{};", r.xml10_content());
                let resolved = quick_xml::escape::unescape(&raw).map_err(|e| xml_error(pos, e))?;
                push_text(&mut stack, &resolved);
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(xml_error(
            reader.buffer_position(),
            format!("element <{}> is never closed", open.name),
        ));
    }
    root.ok_or_else(|| xml_error(0, "the document has no root element"))
}

fn attach(
    stack: &mut [Element],
    root: &mut Option<Element>,
    mut el: Element,
    pos: u64,
) -> Result<()> {
    el.text = el.text.trim().to_string();
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None if root.is_none() => *root = Some(el),
        None => return Err(xml_error(pos, "more than one root element")),
    }
    Ok(())
}

fn push_text(stack: &mut [Element], text: &str) {
    if let Some(top) = stack.last_mut() {
        top.text.push_str(text);
    }
}

/// Builds an indented XML document the way OpenVINO lays out its IR (tabs, `<a x="1" />` for empty elements).
#[derive(Default)]
pub(crate) struct XmlWriter {
    buf: String,
    depth: usize,
}

impl XmlWriter {
    /// A writer that has emitted the XML declaration.
    pub fn new() -> XmlWriter {
        XmlWriter {
            buf: "<?xml version=\"1.0\"?>\n".to_string(),
            depth: 0,
        }
    }

    fn start_tag(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        self.buf.extend(std::iter::repeat_n('\t', self.depth));
        self.buf.push('<');
        self.buf.push_str(tag);
        for (k, v) in attrs {
            self.buf.push(' ');
            self.buf.push_str(k);
            self.buf.push_str("=\"");
            self.buf.push_str(&quick_xml::escape::escape(*v));
            self.buf.push('"');
        }
    }

    /// Opens `<tag ...>`; close it with [`XmlWriter::close`].
    pub fn open(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        self.start_tag(tag, attrs);
        self.buf.push_str(">\n");
        self.depth += 1;
    }

    /// Writes `<tag ... />`.
    pub fn empty(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        self.start_tag(tag, attrs);
        self.buf.push_str(" />\n");
    }

    /// Writes `<tag>text</tag>` on one line.
    pub fn text_element(&mut self, tag: &str, text: &str) {
        self.start_tag(tag, &[]);
        self.buf.push('>');
        self.buf.push_str(&quick_xml::escape::escape(text));
        self.buf.push_str("</");
        self.buf.push_str(tag);
        self.buf.push_str(">\n");
    }

    /// Closes the innermost open element `tag`.
    pub fn close(&mut self, tag: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.buf.extend(std::iter::repeat_n('\t', self.depth));
        self.buf.push_str("</");
        self.buf.push_str(tag);
        self.buf.push_str(">\n");
    }

    /// The document text.
    pub fn finish(self) -> String {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_elements_attributes_and_text() {
        let doc = br#"<?xml version="1.0"?><net name="a&amp;b"><dim> 3 </dim><x k="1"/><dim>4&#x31;</dim></net>"#;
        let root = parse_document(doc).unwrap();
        assert_eq!(root.name, "net");
        assert_eq!(root.attr("name"), Some("a&b"));
        let dims: Vec<&str> = root
            .children_named("dim")
            .map(|d| d.text.as_str())
            .collect();
        assert_eq!(dims, ["3", "41"]);
        assert_eq!(root.child("x").and_then(|x| x.attr("k")), Some("1"));
    }

    #[test]
    fn writer_output_parses_back() {
        let mut w = XmlWriter::new();
        w.open("net", &[("name", "a<b\"c")]);
        w.text_element("dim", "3");
        w.empty("x", &[("k", "&")]);
        w.close("net");
        let text = w.finish();
        assert!(text.starts_with("<?xml version=\"1.0\"?>\n<net name="));
        let root = parse_document(text.as_bytes()).unwrap();
        assert_eq!(root.attr("name"), Some("a<b\"c"));
        assert_eq!(root.child("dim").map(|d| d.text.as_str()), Some("3"));
        assert_eq!(root.child("x").and_then(|x| x.attr("k")), Some("&"));
    }

    #[test]
    fn rejects_malformed_documents() {
        for bad in [
            &b"<net><a></b></net>"[..],
            b"<net>",
            b"",
            b"<a/><b/>",
            b"<net a=\"1></net>",
        ] {
            let err = parse_document(bad).unwrap_err();
            assert!(matches!(err, Error::Parse(_)), "{err:?}");
        }
    }
}
