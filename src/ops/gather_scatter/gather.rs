//! Gather-1/7/8, GatherND-5/8 and GatherElements-6.

use crate::error::{Error, Result};
use crate::ir::shape::normalize_axis;
use crate::ir::{AttributeVisitor, Dimension, PartialShape, Tensor};
use crate::ops::data_movement::args::{
    check_int_input, dyn_rank, int_scalar, known_scalar, one_desc, static_out_shape,
};
use crate::ops::data_movement::elems::{flat_index, take, wrap_index};
use crate::ops::util::{check_input_count, ints_of};
use crate::ops::{Op, TensorDesc, TypeInfo};

/// Merges two dimensions that must agree, naming what they are.
fn merge_dim(a: Dimension, b: Dimension, what: &str) -> Result<Dimension> {
    a.merge(&b)
        .ok_or_else(|| Error::Shape(format!("{what}: dimensions {a} and {b} differ")))
}

/// Reads an index, normalising negatives; `None` when out of range.
fn index_at(indices: &[i64], at: usize, dim: usize) -> Result<Option<usize>> {
    let v = *indices
        .get(at)
        .ok_or_else(|| Error::Internal(format!("index {at} read past the indices")))?;
    Ok(wrap_index(v, dim))
}

/// Gather-1, -7 and -8: takes slices of the data along `axis` at the given indices, with `batch_dims` leading
/// axes shared by data and indices. Gather-8 reads out-of-range indices as zeros; earlier versions reject them.
#[derive(Debug, Clone)]
pub struct Gather {
    /// 1, 7 or 8.
    pub version: u32,
    /// Number of leading batch axes (negative counts from the indices rank).
    pub batch_dims: i64,
}

impl Gather {
    fn batch(&self, indices_rank: usize) -> Result<usize> {
        let b = if self.batch_dims < 0 {
            self.batch_dims + indices_rank as i64
        } else {
            self.batch_dims
        };
        usize::try_from(b)
            .ok()
            .filter(|&b| b <= indices_rank)
            .ok_or_else(|| {
                Error::Shape(format!(
                    "batch_dims {} is out of range for indices of rank {indices_rank}",
                    self.batch_dims
                ))
            })
    }
}

impl Op for Gather {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new(
            "Gather",
            ["opset1", "opset7", "opset8"]
                [(self.version >= 7) as usize + (self.version >= 8) as usize],
        )
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        if self.version >= 7 {
            v.on("batch_dims", &mut self.batch_dims)?;
        }
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 3, 3)?;
        check_int_input(&inputs[1], "indices")?;
        check_int_input(&inputs[2], "axis")?;
        let et = inputs[0].element_type;
        let (Some(data), Some(ind)) = (inputs[0].shape.dims(), inputs[1].shape.dims()) else {
            return Ok(dyn_rank(et));
        };
        let b = self.batch(ind.len())?;
        let Some(axis) = known_scalar(&inputs[2]) else {
            let rank = (data.len() + ind.len()).checked_sub(1 + b);
            return Ok(rank.map_or_else(
                || dyn_rank(et),
                |r| one_desc(et, PartialShape::dynamic_of_rank(r)),
            ));
        };
        let a = normalize_axis(axis, data.len(), "Gather")?;
        crate::ensure!(b <= a, Shape, "batch_dims {b} exceeds the axis {a}");
        let mut out = Vec::with_capacity(data.len() + ind.len());
        for i in 0..a {
            out.push(if i < b {
                merge_dim(data[i], ind[i], "Gather batch dimension")?
            } else {
                data[i]
            });
        }
        out.extend_from_slice(&ind[b..]);
        out.extend_from_slice(&data[a + 1..]);
        Ok(one_desc(et, PartialShape::new(out)))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        let out = static_out_shape(self, inputs)?;
        let (x, ind_t) = (inputs[0], inputs[1]);
        let a = normalize_axis(int_scalar(inputs[2], "axis")?, x.rank(), "Gather")?;
        let ind = ints_of(ind_t, "indices")?;
        let b = self.batch(ind_t.rank())?;
        let n_ind = ind_t.rank() - b;
        let dim = x.shape()[a];
        let mut ipos = vec![0; ind_t.rank()];
        let mut src = vec![0; x.rank()];
        let t = take(x, &out, None, |idx| {
            ipos[..b].copy_from_slice(&idx[..b]);
            ipos[b..].copy_from_slice(&idx[a..a + n_ind]);
            let at = flat_index(&ipos, ind_t.shape());
            let Some(i) = index_at(&ind, at, dim)? else {
                if self.version >= 8 {
                    return Ok(None);
                }
                crate::bail!(
                    Shape,
                    "index {} is out of range for axis {a} of length {dim}",
                    ind[at]
                );
            };
            src[..a].copy_from_slice(&idx[..a]);
            src[a] = i;
            src[a + 1..].copy_from_slice(&idx[a + n_ind..]);
            Ok(Some(flat_index(&src, x.shape())))
        })?;
        Ok(vec![t])
    }
}

/// GatherND-5 and -8: gathers slices addressed by index tuples (the last indices axis); GatherND-5 flattens
/// the batch axes of its output into one.
#[derive(Debug, Clone)]
pub struct GatherNd {
    /// 5 or 8.
    pub version: u32,
    /// Number of leading batch axes.
    pub batch_dims: i64,
}

impl GatherNd {
    /// Output dimensions in the GatherND-8 form.
    fn dims8(&self, data: &[Dimension], ind: &[Dimension]) -> Result<Option<Vec<Dimension>>> {
        let b = usize::try_from(self.batch_dims).map_err(|_| {
            Error::Shape(format!("batch_dims is {}, expected >= 0", self.batch_dims))
        })?;
        crate::ensure!(!ind.is_empty(), Shape, "indices must have rank at least 1");
        crate::ensure!(
            b < ind.len() && b < data.len(),
            Shape,
            "batch_dims {b} must be less than both ranks"
        );
        let Some(k) = ind[ind.len() - 1].get() else {
            return Ok(None);
        };
        let k = k as usize;
        crate::ensure!(
            b + k <= data.len(),
            Shape,
            "index tuples of length {k} exceed the data rank minus batch_dims"
        );
        let mut out = Vec::new();
        for i in 0..ind.len() - 1 {
            out.push(if i < b {
                merge_dim(data[i], ind[i], "GatherND batch dimension")?
            } else {
                ind[i]
            });
        }
        out.extend_from_slice(&data[b + k..]);
        Ok(Some(out))
    }
}

impl Op for GatherNd {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new(
            "GatherND",
            if self.version >= 8 {
                "opset8"
            } else {
                "opset5"
            },
        )
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "batch_dims" => batch_dims)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 2, 2)?;
        check_int_input(&inputs[1], "indices")?;
        let et = inputs[0].element_type;
        let (Some(data), Some(ind)) = (inputs[0].shape.dims(), inputs[1].shape.dims()) else {
            return Ok(dyn_rank(et));
        };
        let Some(mut out) = self.dims8(data, ind)? else {
            return Ok(dyn_rank(et));
        };
        let b = self.batch_dims as usize;
        if self.version < 8 && b > 0 {
            let flat = out[..b].iter().fold(Dimension::new(1), |acc, d| acc.mul(d));
            out.splice(..b, [flat]);
        }
        Ok(one_desc(et, PartialShape::new(out)))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        let out = static_out_shape(self, inputs)?;
        let (x, ind_t) = (inputs[0], inputs[1]);
        let data: Vec<Dimension> = x.shape().iter().map(|&d| Dimension::from(d)).collect();
        let ind_dims: Vec<Dimension> = ind_t.shape().iter().map(|&d| Dimension::from(d)).collect();
        let shape8: Vec<usize> = self
            .dims8(&data, &ind_dims)?
            .unwrap_or_default()
            .iter()
            .map(|d| d.get().unwrap_or(0) as usize)
            .collect();
        let ind = ints_of(ind_t, "indices")?;
        let b = self.batch_dims as usize;
        let lead = ind_t.rank() - 1;
        let k = ind_t.shape()[lead];
        let mut src = vec![0; x.rank()];
        let t = take(x, &shape8, None, |idx| {
            let base = flat_index(&idx[..lead], &ind_t.shape()[..lead]) * k;
            src[..b].copy_from_slice(&idx[..b]);
            for j in 0..k {
                let dim = x.shape()[b + j];
                src[b + j] = index_at(&ind, base + j, dim)?.ok_or_else(|| {
                    Error::Shape(format!(
                        "index {} is out of range for axis {} of length {dim}",
                        ind[base + j],
                        b + j
                    ))
                })?;
            }
            src[b + k..].copy_from_slice(&idx[lead..]);
            Ok(Some(flat_index(&src, x.shape())))
        })?;
        Ok(vec![t.reshaped(&out)?])
    }
}

/// GatherElements-6: `out[i] = data[i with axis replaced by indices[i]]`.
#[derive(Debug, Clone, Default)]
pub struct GatherElements {
    /// The gathering axis.
    pub axis: i64,
}

impl Op for GatherElements {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("GatherElements", "opset6")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "axis" => axis)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 2, 2)?;
        check_int_input(&inputs[1], "indices")?;
        let et = inputs[0].element_type;
        let (data, ind) = (&inputs[0].shape, &inputs[1].shape);
        let Some(r) = data.rank().or(ind.rank()) else {
            return Ok(dyn_rank(et));
        };
        let a = normalize_axis(self.axis, r, "GatherElements")?;
        let (Some(d), Some(i)) = (data.dims(), ind.dims()) else {
            return Ok(one_desc(et, ind.clone()));
        };
        crate::ensure!(
            d.len() == i.len(),
            Shape,
            "data {data} and indices {ind} have different ranks"
        );
        let out = (0..r)
            .map(|k| {
                if k == a {
                    Ok(i[k])
                } else {
                    merge_dim(d[k], i[k], "GatherElements")
                }
            })
            .collect::<Result<_>>()?;
        Ok(one_desc(et, PartialShape::new(out)))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        let out = static_out_shape(self, inputs)?;
        let x = inputs[0];
        let ind = ints_of(inputs[1], "indices")?;
        let a = normalize_axis(self.axis, x.rank(), "GatherElements")?;
        let dim = x.shape()[a];
        let mut src = vec![0; x.rank()];
        let t = take(x, &out, None, |idx| {
            let at = flat_index(idx, &out);
            src.copy_from_slice(idx);
            src[a] = index_at(&ind, at, dim)?.ok_or_else(|| {
                Error::Shape(format!(
                    "index {} is out of range for axis {a} of length {dim}",
                    ind[at]
                ))
            })?;
            Ok(Some(flat_index(&src, x.shape())))
        })?;
        Ok(vec![t])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::data_movement::args::testing::*;

    fn g(version: u32, batch_dims: i64) -> Gather {
        Gather {
            version,
            batch_dims,
        }
    }

    #[test]
    fn gather_shapes() {
        assert_eq!(
            shape_of(&g(8, 0), &[st(&[5, 6, 7]), dyn_i(&[2, 3]), cs(-2)]),
            "[5,2,3,7]"
        );
        assert_eq!(
            shape_of(&g(8, 1), &[ps("?,6,7"), dyn_i(&[4, 3]), cs(2)]),
            "[4,6,3]"
        );
        assert_eq!(
            shape_of(&g(8, -1), &[st(&[4, 6, 7]), dyn_i(&[4, 3]), cs(1)]),
            "[4,3,7]"
        );
        assert_eq!(
            shape_of(&g(8, 0), &[st(&[5, 6]), dyn_i(&[2]), dyn_i(&[])]),
            "[?,?]"
        );
        assert!(
            g(8, 2)
                .infer(&[st(&[4, 6, 7]), dyn_i(&[4, 3]), cs(1)])
                .is_err()
        );
        assert!(g(8, 0).infer(&[st(&[4]), dyn_i(&[4]), cs(1)]).is_err());
    }

    #[test]
    fn gather_values() {
        let x = iota(&[3]);
        let i = ti(&[-1, 3, -4, 1]);
        let y = eval1(&g(8, 0), &[x.clone(), i.clone(), Tensor::scalar(0i64)]);
        assert_eq!(y.to_f64_vec(), vec![2., 0., 0., 1.]);
        assert!(g(7, 0).evaluate(&[&x, &i, &Tensor::scalar(0i64)]).is_err());
        // Batched: out[b, j] = x[b, idx[b, j]].
        let idx = Tensor::from_vec(&[2, 2], vec![2i32, 0, 1, 1]).unwrap();
        let y = eval1(&g(8, 1), &[iota(&[2, 3]), idx, Tensor::scalar(1i64)]);
        assert_eq!(y.to_f64_vec(), vec![2., 0., 4., 4.]);
    }

    #[test]
    fn gather_nd() {
        let g5 = GatherNd {
            version: 5,
            batch_dims: 2,
        };
        let g8 = GatherNd {
            version: 8,
            batch_dims: 2,
        };
        assert_eq!(
            shape_of(&g5, &[st(&[2, 3, 4, 5]), dyn_i(&[2, 3, 7, 1])]),
            "[6,7,5]"
        );
        assert_eq!(
            shape_of(&g8, &[st(&[2, 3, 4, 5]), dyn_i(&[2, 3, 7, 1])]),
            "[2,3,7,5]"
        );
        assert!(g8.infer(&[st(&[2, 3, 4]), dyn_i(&[2, 3, 2])]).is_err());
        let g0 = GatherNd {
            version: 8,
            batch_dims: 0,
        };
        let idx = Tensor::from_vec(&[2, 2], vec![0i64, 1, -1, 0]).unwrap();
        let y = eval1(&g0, &[iota(&[2, 2]), idx]);
        assert_eq!(y.to_f64_vec(), vec![1., 2.]);
        let idx = Tensor::from_vec(&[1, 1], vec![1i64]).unwrap();
        let y = eval1(&g0, &[iota(&[2, 2]), idx]);
        assert_eq!(y.shape(), &[1, 2]);
        assert_eq!(y.to_f64_vec(), vec![2., 3.]);
        let bad = Tensor::from_vec(&[1, 1], vec![2i64]).unwrap();
        assert!(g0.evaluate(&[&iota(&[2, 2]), &bad]).is_err());
    }

    #[test]
    fn gather_elements() {
        let ge = GatherElements { axis: 1 };
        assert_eq!(shape_of(&ge, &[ps("?,3"), dyn_i(&[2, 5])]), "[2,5]");
        assert!(ge.infer(&[st(&[3, 3]), dyn_i(&[2, 5])]).is_err());
        let idx = Tensor::from_vec(&[2, 2], vec![0i64, 0, 1, 0]).unwrap();
        let y = eval1(
            &ge,
            &[
                Tensor::from_vec(&[2, 2], vec![1.0f32, 2., 3., 4.]).unwrap(),
                idx,
            ],
        );
        assert_eq!(y.to_f64_vec(), vec![1., 1., 4., 3.]);
    }
}
