//! Type-agnostic element access for ops that only move values: a tensor seen as equal-sized byte chunks
//! (sub-byte types unpacked to one byte per value), index iteration, and the shared "take" primitive.

use crate::error::{Error, Result};
use crate::ir::shape::{fmt_shape, num_elements};
use crate::ir::{ElementType, Tensor};
use std::borrow::Cow;

/// A tensor's values as equal-sized byte chunks; sub-byte values are unpacked to one byte each.
pub struct Elems<'a> {
    et: ElementType,
    width: usize,
    data: Cow<'a, [u8]>,
}

/// Bit position and mask of packed value `i` for a sub-byte type (OpenVINO's packing: u1 is MSB first,
/// 4-bit types put the first value in the low nibble).
fn packed_slot(et: ElementType, i: usize) -> (usize, u32, u8) {
    if et.bitwidth() == 1 {
        (i / 8, 7 - (i % 8) as u32, 1)
    } else {
        (i / 2, 4 * (i % 2) as u32, 0xF)
    }
}

impl<'a> Elems<'a> {
    /// Views `t` (borrowing its bytes unless the type is packed).
    pub fn of(t: &'a Tensor) -> Elems<'a> {
        let et = t.element_type();
        if et.is_sub_byte() {
            let b = t.bytes();
            let data = (0..t.len())
                .map(|i| {
                    let (byte, shift, mask) = packed_slot(et, i);
                    b.get(byte).map_or(0, |v| (v >> shift) & mask)
                })
                .collect();
            Elems {
                et,
                width: 1,
                data: Cow::Owned(data),
            }
        } else {
            Elems {
                et,
                width: et.size().max(1),
                data: Cow::Borrowed(t.bytes()),
            }
        }
    }

    /// Bytes per chunk.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.data.len() / self.width
    }

    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The chunk of value `i`; errors (never panics) when out of range.
    pub fn get(&self, i: usize) -> Result<&[u8]> {
        let w = self.width;
        i.checked_mul(w)
            .and_then(|s| self.data.get(s..s + w))
            .ok_or_else(|| {
                Error::Internal(format!(
                    "element {i} read from a tensor of {} values",
                    self.len()
                ))
            })
    }

    /// The chunks of `n` consecutive values starting at value `start`; errors when out of range.
    pub fn run(&self, start: usize, n: usize) -> Result<&[u8]> {
        let w = self.width;
        start
            .checked_add(n)
            .and_then(|end| self.data.get(start * w..end * w))
            .ok_or_else(|| {
                Error::Internal(format!(
                    "values {start}..+{n} read from a tensor of {} values",
                    self.len()
                ))
            })
    }

    /// An empty builder of the same element type with room for `n` values.
    pub fn builder(&self, n: usize) -> ElemsBuilder {
        ElemsBuilder::new(self.et, n)
    }
}

/// Collects chunks into a new tensor.
pub struct ElemsBuilder {
    et: ElementType,
    data: Vec<u8>,
}

impl ElemsBuilder {
    /// A builder for `n` values of `et`.
    pub fn new(et: ElementType, n: usize) -> ElemsBuilder {
        ElemsBuilder {
            et,
            data: Vec::with_capacity(n.saturating_mul(et.size().max(1))),
        }
    }

    /// A builder holding a copy of `e`'s values, for ops that overwrite some of them.
    pub fn copy_of(e: &Elems) -> ElemsBuilder {
        ElemsBuilder {
            et: e.et,
            data: e.data.to_vec(),
        }
    }

    /// Overwrites value `i` with `chunk`; errors when `i` is out of range or the chunk has another width.
    pub fn set(&mut self, i: usize, chunk: &[u8]) -> Result<()> {
        let w = chunk.len();
        let n = self.data.len() / w.max(1);
        let slot = i.checked_mul(w).and_then(|s| self.data.get_mut(s..s + w));
        slot.map(|s| s.copy_from_slice(chunk)).ok_or_else(|| {
            Error::Internal(format!("element {i} written to a tensor of {n} values"))
        })
    }

    /// Appends one value (or several contiguous values).
    pub fn push(&mut self, chunk: &[u8]) {
        self.data.extend_from_slice(chunk);
    }

    /// The tensor of shape `shape`; errors when the number of values pushed does not match.
    pub fn finish(self, shape: &[usize]) -> Result<Tensor> {
        let n = num_elements(shape);
        let w = if self.et.is_sub_byte() {
            1
        } else {
            self.et.size().max(1)
        };
        if self.data.len() != n * w {
            return Err(Error::Internal(format!(
                "{} values built for shape {}",
                self.data.len() / w,
                fmt_shape(shape)
            )));
        }
        if !self.et.is_sub_byte() {
            return Tensor::from_bytes(self.et, shape, &self.data);
        }
        let mut t = Tensor::zeros(self.et, shape);
        let bytes = t.bytes_mut();
        for (i, v) in self.data.iter().enumerate() {
            let (byte, shift, mask) = packed_slot(self.et, i);
            if let Some(b) = bytes.get_mut(byte) {
                *b |= (v & mask) << shift;
            }
        }
        Ok(t)
    }
}

/// Calls `f` with every multi-index of `shape` in row-major order (nothing for an empty shape's zero elements;
/// once with `[]` for a scalar).
pub fn for_each_index(shape: &[usize], mut f: impl FnMut(&[usize]) -> Result<()>) -> Result<()> {
    if shape.contains(&0) {
        return Ok(());
    }
    let mut idx = vec![0usize; shape.len()];
    loop {
        f(&idx)?;
        let mut d = shape.len();
        loop {
            if d == 0 {
                return Ok(());
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

/// Flat row-major offset of `idx` in `shape`.
pub fn flat_index(idx: &[usize], shape: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |acc, (&i, &d)| acc * d + i)
}

/// Builds a tensor of `out_shape` whose value at each index is `x`'s value at the flat index `src` returns,
/// or `fill` where it returns `None` (zeros when `fill` is `None`).
pub fn take(
    x: &Tensor,
    out_shape: &[usize],
    fill: Option<&Tensor>,
    mut src: impl FnMut(&[usize]) -> Result<Option<usize>>,
) -> Result<Tensor> {
    let e = Elems::of(x);
    let fill_elems = fill.map(Elems::of);
    let zero = vec![0u8; e.width()];
    let fill_chunk = match &fill_elems {
        Some(f) if !f.is_empty() => f.get(0)?,
        _ => &zero,
    };
    let mut out = e.builder(num_elements(out_shape));
    for_each_index(out_shape, |idx| {
        match src(idx)? {
            Some(i) => out.push(e.get(i)?),
            None => out.push(fill_chunk),
        }
        Ok(())
    })?;
    out.finish(out_shape)
}

/// Converts a possibly negative index into `0..dim`, or `None` when out of range.
pub fn wrap_index(i: i64, dim: usize) -> Option<usize> {
    let d = dim as i64;
    let j = if i < 0 { i + d } else { i };
    (0..d).contains(&j).then_some(j as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_byte_round_trip() -> Result<()> {
        let t = Tensor::from_f64s(ElementType::U4, &[5], &[1.0, 2.0, 3.0, 4.0, 5.0])?;
        let r = take(&t, &[5], None, |i| Ok(Some(4 - i[0])))?;
        assert_eq!(r.to_f64_vec(), vec![5.0, 4.0, 3.0, 2.0, 1.0]);
        let b = Tensor::from_f64s(
            ElementType::U1,
            &[9],
            &[1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        )?;
        let r = take(&b, &[9], None, |i| Ok(Some(i[0])))?;
        assert_eq!(r.bytes(), b.bytes());
        Ok(())
    }

    #[test]
    fn index_iteration() -> Result<()> {
        let mut seen = Vec::new();
        for_each_index(&[2, 2], |i| {
            seen.push(flat_index(i, &[2, 2]));
            Ok(())
        })?;
        assert_eq!(seen, vec![0, 1, 2, 3]);
        let mut n = 0;
        for_each_index(&[], |_| {
            n += 1;
            Ok(())
        })?;
        assert_eq!(n, 1);
        for_each_index(&[3, 0], |_| Err(Error::Internal("visited".into())))?;
        assert_eq!(wrap_index(-1, 3), Some(2));
        assert_eq!(wrap_index(3, 3), None);
        Ok(())
    }
}
