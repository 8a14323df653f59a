//! The skeleton of an ONNX file: the same model with the raw bytes of its large initializers left in the file.
//!
//! Python's `onnx` package parses a whole file into memory, copying every weight two or three times before the
//! frontend sees it (ResNet-50: 100 MB read, parsed and copied out of the protobuf, about 150 ms). The skeleton
//! rewrites each top-level initializer whose `raw_data` holds at least [`MIN_MOVED`] bytes into an external-data
//! reference to the same file (`location`, `offset`, `length`, `data_location = EXTERNAL`), which the frontend
//! reads straight from the file; everything else (nodes, small initializers, subgraphs) is copied unchanged, so
//! parsing the skeleton gives the model it came from. Only the protobuf wire format is read here: field numbers
//! and lengths, never the weights themselves.

use crate::error::{Error, Result};
use std::ops::Range;

/// The smallest `raw_data` moved out of the skeleton: shape and index constants, which the frontend reads as
/// values, stay inline.
pub const MIN_MOVED: usize = 4096;

/// `ModelProto.graph`.
const MODEL_GRAPH: u64 = 7;
/// `GraphProto.initializer`.
const GRAPH_INITIALIZER: u64 = 5;
/// `TensorProto.raw_data`.
const TENSOR_RAW_DATA: u64 = 9;
/// `TensorProto.external_data`.
const TENSOR_EXTERNAL_DATA: u64 = 13;
/// `TensorProto.data_location`.
const TENSOR_DATA_LOCATION: u64 = 14;
/// `TensorProto.DataLocation.EXTERNAL`.
const EXTERNAL: u64 = 1;
/// Wire type of a varint.
const VARINT: u8 = 0;
/// Wire type of a length-delimited value.
const LEN: u8 = 2;

/// One field of a protobuf message.
#[derive(Debug)]
struct Field {
    number: u64,
    wire: u8,
    /// The whole field, tag included.
    whole: Range<usize>,
    /// Its value (for a length-delimited field, the bytes after the length).
    value: Range<usize>,
}

/// The skeleton of the ONNX model `file`, whose moved initializers refer to `location` (the file's name, relative
/// to the model's folder); `None` when no initializer is large enough to move.
pub fn skeleton(file: &[u8], location: &str) -> Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    let mut moved = false;
    for field in fields(file, 0..file.len()) {
        let field = field?;
        if field.number == MODEL_GRAPH && field.wire == LEN {
            let graph = rewrite_graph(file, field.value, location, &mut moved)?;
            put_len_field(&mut out, MODEL_GRAPH, &graph);
        } else {
            out.extend_from_slice(&file[field.whole]);
        }
    }
    Ok(moved.then_some(out))
}

/// The graph message at `range` with its large initializers moved.
fn rewrite_graph(
    file: &[u8],
    range: Range<usize>,
    location: &str,
    moved: &mut bool,
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(range.len().min(1 << 20));
    for field in fields(file, range) {
        let field = field?;
        match (field.number, field.wire) {
            (GRAPH_INITIALIZER, LEN) => match rewrite_tensor(file, field.value, location)? {
                Some(tensor) => {
                    put_len_field(&mut out, GRAPH_INITIALIZER, &tensor);
                    *moved = true;
                }
                None => out.extend_from_slice(&file[field.whole]),
            },
            _ => out.extend_from_slice(&file[field.whole]),
        }
    }
    Ok(out)
}

/// The tensor message at `range` with its `raw_data` replaced by a reference to its bytes in the file, or `None`
/// when it has no `raw_data` of at least [`MIN_MOVED`] bytes.
fn rewrite_tensor(file: &[u8], range: Range<usize>, location: &str) -> Result<Option<Vec<u8>>> {
    let all = fields(file, range).collect::<Result<Vec<Field>>>()?;
    let raw = all
        .iter()
        .rfind(|f| f.number == TENSOR_RAW_DATA && f.wire == LEN)
        .map(|f| f.value.clone());
    let Some(raw) = raw.filter(|r| r.len() >= MIN_MOVED) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for f in &all {
        if f.number != TENSOR_RAW_DATA && f.number != TENSOR_DATA_LOCATION {
            out.extend_from_slice(&file[f.whole.clone()]);
        }
    }
    for (key, value) in [
        ("location", location.to_string()),
        ("offset", raw.start.to_string()),
        ("length", raw.len().to_string()),
    ] {
        let mut entry = Vec::new();
        put_len_field(&mut entry, 1, key.as_bytes());
        put_len_field(&mut entry, 2, value.as_bytes());
        put_len_field(&mut out, TENSOR_EXTERNAL_DATA, &entry);
    }
    put_varint(&mut out, TENSOR_DATA_LOCATION << 3 | u64::from(VARINT));
    put_varint(&mut out, EXTERNAL);
    Ok(Some(out))
}

/// The fields of the message at `range` of `buf`, in order; an error for a truncated or malformed one.
fn fields(buf: &[u8], range: Range<usize>) -> impl Iterator<Item = Result<Field>> + '_ {
    let end = range.end.min(buf.len());
    let mut at = range.start;
    std::iter::from_fn(move || {
        if at >= end {
            return None;
        }
        let field = field_at(buf, at, end);
        at = match &field {
            Ok(f) => f.whole.end,
            Err(_) => end,
        };
        Some(field)
    })
}

/// The field starting at `start`, within `..end`.
fn field_at(buf: &[u8], start: usize, end: usize) -> Result<Field> {
    let malformed = || {
        Error::Parse(format!(
            "malformed protobuf field at byte {start} of the ONNX file"
        ))
    };
    let (tag, at) = varint(buf, start, end).ok_or_else(malformed)?;
    let (number, wire) = (tag >> 3, (tag & 7) as u8);
    let value = match wire {
        VARINT => at..varint(buf, at, end).ok_or_else(malformed)?.1,
        1 => at..at + 8,
        LEN => {
            let (len, from) = varint(buf, at, end).ok_or_else(malformed)?;
            let len = usize::try_from(len).map_err(|_| malformed())?;
            from..from.checked_add(len).ok_or_else(malformed)?
        }
        5 => at..at + 4,
        _ => return Err(malformed()),
    };
    if value.end > end || number == 0 {
        return Err(malformed());
    }
    Ok(Field {
        number,
        wire,
        whole: start..value.end,
        value,
    })
}

/// The varint at `at` (before `end`) and where it ends.
fn varint(buf: &[u8], at: usize, end: usize) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &byte) in buf.get(at..end)?.iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Some((value, at + i + 1));
        }
    }
    None
}

/// Appends `v` as a varint.
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends field `number` holding the bytes `payload`.
fn put_len_field(out: &mut Vec<u8>, number: u64, payload: &[u8]) {
    put_varint(out, number << 3 | u64::from(LEN));
    put_varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tensor message: name, dims, data type and raw bytes.
    fn tensor(name: &str, raw: &[u8]) -> Vec<u8> {
        let mut t = Vec::new();
        put_varint(&mut t, 1 << 3);
        put_varint(&mut t, (raw.len() / 4) as u64);
        put_varint(&mut t, 2 << 3);
        put_varint(&mut t, 1);
        put_len_field(&mut t, 8, name.as_bytes());
        put_len_field(&mut t, TENSOR_RAW_DATA, raw);
        t
    }

    /// A model message: an IR version, a graph with a name and the given initializers, and a trailing field.
    fn model(initializers: &[Vec<u8>]) -> Vec<u8> {
        let mut graph = Vec::new();
        put_len_field(&mut graph, 2, b"g");
        for t in initializers {
            put_len_field(&mut graph, GRAPH_INITIALIZER, t);
        }
        let mut m = Vec::new();
        put_varint(&mut m, 1 << 3);
        put_varint(&mut m, 8);
        put_len_field(&mut m, MODEL_GRAPH, &graph);
        put_len_field(&mut m, 3, b"producer");
        m
    }

    /// The (key, value) pairs of a rewritten tensor's external data, and whether its raw data is gone.
    fn external(tensor: &[u8]) -> (Vec<(String, String)>, bool, Option<u64>) {
        let mut entries = Vec::new();
        let mut raw = false;
        let mut location = None;
        for f in fields(tensor, 0..tensor.len()) {
            let f = f.unwrap();
            match f.number {
                TENSOR_EXTERNAL_DATA => {
                    let kv: Vec<String> = fields(tensor, f.value.clone())
                        .map(|e| String::from_utf8(tensor[e.unwrap().value].to_vec()).unwrap())
                        .collect();
                    entries.push((kv[0].clone(), kv[1].clone()));
                }
                TENSOR_RAW_DATA => raw = true,
                TENSOR_DATA_LOCATION => {
                    location = varint(tensor, f.value.start, f.value.end).map(|v| v.0)
                }
                _ => {}
            }
        }
        (entries, raw, location)
    }

    #[test]
    fn large_initializers_point_into_the_file_and_the_rest_is_unchanged() {
        let big: Vec<u8> = (0..MIN_MOVED as u32 + 8).map(|i| (i % 251) as u8).collect();
        let small = vec![7u8; 16];
        let file = model(&[tensor("w", &big), tensor("shape", &small)]);
        let out = skeleton(&file, "m.onnx").unwrap().unwrap();
        let top: Vec<Field> = fields(&out, 0..out.len()).map(|f| f.unwrap()).collect();
        assert_eq!(top.iter().map(|f| f.number).collect::<Vec<_>>(), [1, 7, 3]);
        let graph = &out[top[1].value.clone()];
        let inits: Vec<&[u8]> = fields(graph, 0..graph.len())
            .map(|f| f.unwrap())
            .filter(|f| f.number == GRAPH_INITIALIZER)
            .map(|f| &graph[f.value])
            .collect();
        let (entries, raw, location) = external(inits[0]);
        assert!(!raw);
        assert_eq!(location, Some(EXTERNAL));
        let offset: usize = entries[1].1.parse().unwrap();
        let length: usize = entries[2].1.parse().unwrap();
        assert_eq!(entries[0], ("location".into(), "m.onnx".into()));
        assert_eq!(&file[offset..offset + length], &big[..]);
        // The small initializer is copied as it was.
        assert_eq!(inits[1], &tensor("shape", &small)[..]);
    }

    #[test]
    fn a_model_without_large_initializers_has_no_skeleton() {
        let file = model(&[tensor("shape", &[1, 2, 3, 4])]);
        assert!(skeleton(&file, "m.onnx").unwrap().is_none());
        assert!(skeleton(&[], "m.onnx").unwrap().is_none());
    }

    #[test]
    fn truncated_or_malformed_files_are_errors() {
        let big = vec![1u8; MIN_MOVED];
        let file = model(&[tensor("w", &big)]);
        for cut in [1, 3, 5, file.len() / 2, file.len() - 1] {
            assert!(skeleton(&file[..cut], "m.onnx").is_err(), "cut at {cut}");
        }
        // Wire type 3 (a group) and field number 0 are not ONNX.
        assert!(skeleton(&[0x0b], "m.onnx").is_err());
        assert!(skeleton(&[0x00, 0x01], "m.onnx").is_err());
        // A varint longer than ten bytes.
        assert!(
            skeleton(
                &[
                    0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
                ],
                "m.onnx"
            )
            .is_err()
        );
    }
}
