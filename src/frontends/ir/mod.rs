//! The OpenVINO IR (v10/v11) reader and writer.
//!
//! Reading builds every layer through the op registry and the ops' own `visit_attributes`; Constants view
//! the memory-mapped `.bin` without copying. Every problem in a file is an [`Error::Parse`] or
//! [`Error::Unsupported`] whose message names the layer (name, id, type) and what was expected.
//! Writing produces IR v11 that OpenVINO reads.

mod compress;
mod legacy;
mod names;
mod reader;
mod rt;
mod weights;
mod writer;
mod xml;

pub use weights::Weights;

use crate::error::{Error, Result};
use crate::ir::{Model, RtValue};
use std::path::{Path, PathBuf};

/// The IR versions this reader understands.
const SUPPORTED_VERSIONS: [u32; 2] = [10, 11];

fn io_error(what: &str, path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        context: format!("{what} '{}'", path.display()),
        source,
    }
}

/// Reads a model from IR XML text and its weights.
///
/// IR v10 models get OpenVINO's legacy treatment: f16 inputs are presented as f32 (a Convert to f16 follows the
/// Parameter), outputs are converted to f32 (i32 for 32/64-bit integers), and Parameter friendly names and Result
/// producer names become tensor names. The model's rt_info gets `version` = the IR version, as in OpenVINO.
pub fn read_model(xml: &[u8], weights: Weights) -> Result<Model> {
    let root = xml::parse_document(xml)?;
    if root.name != "net" {
        return Err(Error::Parse(format!(
            "the IR root element is <{}>, expected <net>",
            root.name
        )));
    }
    let raw_version = root.attr("version").unwrap_or_default();
    let version = raw_version
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|v| SUPPORTED_VERSIONS.contains(v))
        .ok_or_else(|| {
            Error::Unsupported(format!(
                "IR version '{raw_version}' is not supported (expected 10 or 11)"
            ))
        })?;
    let ctx = reader::ReadContext {
        weights: &weights,
        version,
    };
    let graph = reader::read_graph(&root, &ctx)?;
    if version == 10 {
        legacy::update_v10(&graph.parameters, &graph.results)?;
    }
    for r in &graph.results {
        r.output(0).set_names(r.input(0)?.names())?;
    }
    let mut model = Model::new(
        graph.results,
        graph.sinks,
        graph.parameters,
        root.attr("name").unwrap_or_default(),
    )?;
    model.rt_info = root
        .child("rt_info")
        .map(rt::read_section)
        .unwrap_or_default();
    model.rt_info.insert(
        rt::VERSION_KEY.to_string(),
        RtValue::Str(version.to_string()),
    );
    Ok(model)
}

/// Reads a model from an `.xml` file; the weights come from `bin`, by default the same path with `.bin`, which
/// is memory-mapped. A missing default `.bin` is fine for a model without Constants.
pub fn read_model_from_path(xml: &Path, bin: Option<&Path>) -> Result<Model> {
    let text = std::fs::read(xml).map_err(|e| io_error("reading model file", xml, e))?;
    let default_bin: PathBuf = xml.with_extension("bin");
    let weights = match bin {
        Some(path) => Weights::map_file(path)?,
        None if default_bin.exists() => Weights::map_file(&default_bin)?,
        None => Weights::None,
    };
    read_model(&text, weights)
}

/// Serializes a model to IR v11: the XML text and the weights.
///
/// With `compress_to_fp16`, f32/f64 Constants are stored as f16 followed by a Convert back to their type, marked
/// with the `decompression` rt_info, as OpenVINO's `save_model` does.
pub fn serialize(model: &Model, compress_to_fp16: bool) -> Result<(String, Vec<u8>)> {
    writer::serialize(model, compress_to_fp16)
}

/// Writes a model as IR v11 to `xml` and `bin` (see [`serialize`]).
pub fn write_model(model: &Model, xml: &Path, bin: &Path, compress_to_fp16: bool) -> Result<()> {
    let (text, weights) = serialize(model, compress_to_fp16)?;
    std::fs::write(xml, text).map_err(|e| io_error("writing model file", xml, e))?;
    std::fs::write(bin, weights).map_err(|e| io_error("writing weights file", bin, e))
}
