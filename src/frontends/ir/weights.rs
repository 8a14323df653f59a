//! The weights (`.bin`) a model's Constants point into.

use crate::error::{Error, Result};
use crate::ir::{ElementType, Tensor};
use std::path::Path;
use std::sync::Arc;

/// Where the Constants of an IR read their bytes from.
#[derive(Clone, Default)]
pub enum Weights {
    /// No weights: reading fails if the model has a Constant.
    #[default]
    None,
    /// A memory-mapped `.bin` file; Constants view it without copying when aligned.
    Mapped(Arc<memmap2::Mmap>),
    /// Weights in memory (any element type; its raw bytes are used).
    Bytes(Tensor),
}

impl Weights {
    /// Maps the file at `path` (an empty file gives empty in-memory weights, as an empty map is not portable).
    pub fn map_file(path: &Path) -> Result<Weights> {
        let io = |source| Error::Io {
            context: format!("opening weights file '{}'", path.display()),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        if file.metadata().map_err(io)?.len() == 0 {
            return Ok(Weights::Bytes(Tensor::zeros(ElementType::U8, &[0])));
        }
        // SAFETY: the map is read-only; as with every mmapped model file, the caller must not truncate or
        // rewrite the file while the model (or a tensor viewing it) is alive.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Ok(Weights::Mapped(Arc::new(map)))
    }

    /// Total size in bytes, or `None` when there are no weights.
    pub fn size(&self) -> Option<usize> {
        match self {
            Weights::None => None,
            Weights::Mapped(m) => Some(m.len()),
            Weights::Bytes(t) => Some(t.bytes().len()),
        }
    }

    /// A tensor of `element_type` and `shape` from the `size` bytes at `offset`, which must lie inside the weights.
    pub fn tensor(
        &self,
        element_type: ElementType,
        shape: &[usize],
        offset: usize,
        size: usize,
    ) -> Result<Tensor> {
        let total = self.size().ok_or_else(|| {
            Error::Parse(
                "a Const needs weights, but none were given (is the .bin file missing?)".into(),
            )
        })?;
        let end = offset.checked_add(size).filter(|&e| e <= total).ok_or_else(|| {
            Error::Parse(format!(
                "weights region at offset {offset} of size {size} lies past the end of the {total}-byte weights"
            ))
        })?;
        match self {
            Weights::Mapped(m) => Tensor::from_mapped(element_type, shape, m.clone(), offset, size),
            Weights::Bytes(t) => {
                let bytes = t
                    .bytes()
                    .get(offset..end)
                    .ok_or_else(|| Error::Internal("weights range".into()))?;
                Tensor::from_bytes(element_type, shape, bytes)
            }
            Weights::None => Err(Error::Internal("weights without a length".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_checked() {
        let w = Weights::Bytes(Tensor::from_vec(&[8], (0u8..8).collect()).unwrap());
        let t = w.tensor(ElementType::U8, &[2], 6, 2).unwrap();
        assert_eq!(t.bytes(), &[6, 7]);
        assert!(matches!(
            w.tensor(ElementType::U8, &[2], 7, 2),
            Err(Error::Parse(_))
        ));
        assert!(matches!(
            w.tensor(ElementType::U8, &[1], usize::MAX, 1),
            Err(Error::Parse(_))
        ));
        assert!(matches!(
            Weights::None.tensor(ElementType::U8, &[1], 0, 1),
            Err(Error::Parse(_))
        ));
    }
}
