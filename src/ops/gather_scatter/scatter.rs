//! ScatterUpdate-3, ScatterNDUpdate-4/15 and ScatterElementsUpdate-3/12.

use crate::error::{Error, Result};
use crate::ir::shape::normalize_axis;
use crate::ir::{AttributeVisitor, ElementType, Tensor};
use crate::ops::data_movement::args::{check_int_input, int_scalar, known_scalar, one_desc};
use crate::ops::data_movement::elems::{
    Elems, ElemsBuilder, flat_index, for_each_index, wrap_index,
};
use crate::ops::util::{check_input_count, ints_of, merge_types};
use crate::ops::{Op, TensorDesc, TypeInfo};

crate::attr_enum!(
    /// How a scatter combines an update with the value already there.
    Reduction {
        /// Overwrite.
        None => "none",
        /// Add.
        Sum => "sum",
        /// Subtract the update (ScatterNDUpdate-15).
        Sub => "sub",
        /// Multiply.
        Prod => "prod",
        /// Keep the smaller.
        Min => "min",
        /// Keep the larger.
        Max => "max",
        /// Average of everything written (ScatterElementsUpdate-12).
        Mean => "mean"
    }
);

/// Arithmetic a reduction needs, for the two accumulator types (i64 for integers, f64 for reals).
trait Acc: Copy + PartialOrd {
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn div_count(self, n: usize) -> Self;
}

impl Acc for i64 {
    fn add(self, o: i64) -> i64 {
        self.wrapping_add(o)
    }
    fn sub(self, o: i64) -> i64 {
        self.wrapping_sub(o)
    }
    fn mul(self, o: i64) -> i64 {
        self.wrapping_mul(o)
    }
    fn div_count(self, n: usize) -> i64 {
        self / n.max(1) as i64
    }
}

impl Acc for f64 {
    fn add(self, o: f64) -> f64 {
        self + o
    }
    fn sub(self, o: f64) -> f64 {
        self - o
    }
    fn mul(self, o: f64) -> f64 {
        self * o
    }
    fn div_count(self, n: usize) -> f64 {
        self / n.max(1) as f64
    }
}

/// Applies `pairs` of (target position, update position) to `data` in order.
fn reduce_into<T: Acc>(
    data: &mut [T],
    updates: &[T],
    pairs: &[(usize, usize)],
    r: Reduction,
    use_init: bool,
) -> Result<()> {
    let mut count = vec![usize::from(use_init); data.len()];
    for &(t, u) in pairs {
        let v = *updates
            .get(u)
            .ok_or_else(|| Error::Internal("update read out of range".into()))?;
        let d = data
            .get_mut(t)
            .ok_or_else(|| Error::Internal("scatter target out of range".into()))?;
        let c = &mut count[t];
        *d = if *c == 0 || r == Reduction::None {
            v
        } else {
            match r {
                Reduction::Sum | Reduction::Mean => d.add(v),
                Reduction::Sub => d.sub(v),
                Reduction::Prod => d.mul(v),
                Reduction::Min => {
                    if v < *d {
                        v
                    } else {
                        *d
                    }
                }
                Reduction::Max => {
                    if v > *d {
                        v
                    } else {
                        *d
                    }
                }
                Reduction::None => v,
            }
        };
        *c += 1;
    }
    if r == Reduction::Mean {
        for (d, &c) in data.iter_mut().zip(&count) {
            if c > 1 {
                *d = d.div_count(c);
            }
        }
    }
    Ok(())
}

/// Writes `updates` into a copy of `data` at `pairs` of (target, update) flat positions, combining by `r`.
/// Without a reduction values move as bytes (any element type); reductions compute in i64 or f64.
fn scatter(
    data: &Tensor,
    updates: &Tensor,
    pairs: &[(usize, usize)],
    r: Reduction,
    use_init: bool,
) -> Result<Tensor> {
    let et = data.element_type();
    crate::ensure!(
        updates.element_type() == et,
        Shape,
        "updates have element type {}, expected {et} like the data",
        updates.element_type()
    );
    if r == Reduction::None {
        let u = Elems::of(updates);
        let mut out = ElemsBuilder::copy_of(&Elems::of(data));
        for &(t, i) in pairs {
            out.set(t, u.get(i)?)?;
        }
        return out.finish(data.shape());
    }
    if et.is_real() {
        let mut d = data.to_f64_vec();
        reduce_into(&mut d, &updates.to_f64_vec(), pairs, r, use_init)?;
        Tensor::from_f64s(et, data.shape(), &d)
    } else {
        let mut d = data.to_i64_vec();
        reduce_into(&mut d, &updates.to_i64_vec(), pairs, r, use_init)?;
        Tensor::from_i64s(et, data.shape(), &d)
    }
}

/// Common input checks: data and updates share a type, indices are integers.
fn check_scatter_inputs(inputs: &[TensorDesc], min: usize, max: usize) -> Result<ElementType> {
    check_input_count(inputs, min, max)?;
    check_int_input(&inputs[1], "indices")?;
    merge_types(
        inputs[0].element_type,
        inputs[2].element_type,
        "data and updates",
    )
}

fn out_of_range(v: i64, axis: usize, dim: usize) -> Error {
    Error::Shape(format!(
        "index {v} is out of range for axis {axis} of length {dim}"
    ))
}

/// ScatterUpdate-3: overwrites whole slices along `axis` at the given indices.
#[derive(Debug, Clone)]
pub struct ScatterUpdate;

impl Op for ScatterUpdate {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("ScatterUpdate", "opset3")
    }
    fn visit_attributes(&mut self, _v: &mut dyn AttributeVisitor) -> Result<()> {
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let et = check_scatter_inputs(inputs, 4, 4)?;
        check_int_input(&inputs[3], "axis")?;
        if let (Some(r), Some(a)) = (inputs[0].rank(), known_scalar(&inputs[3])) {
            normalize_axis(a, r, "ScatterUpdate")?;
        }
        Ok(one_desc(et, inputs[0].shape.clone()))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 4, 4)?;
        let (x, ind_t, upd) = (inputs[0], inputs[1], inputs[2]);
        let a = normalize_axis(int_scalar(inputs[3], "axis")?, x.rank(), "ScatterUpdate")?;
        let ind = ints_of(ind_t, "indices")?;
        let ir = ind_t.rank();
        let mut want = x.shape()[..a].to_vec();
        want.extend_from_slice(ind_t.shape());
        want.extend_from_slice(&x.shape()[a + 1..]);
        crate::ops::util::expect_shape(upd, &want, "updates")?;
        let dim = x.shape()[a];
        let mut pairs = Vec::with_capacity(upd.len());
        let mut dst = vec![0; x.rank()];
        for_each_index(upd.shape(), |u| {
            let at = flat_index(&u[a..a + ir], ind_t.shape());
            let v = ind.get(at).copied().unwrap_or(-1);
            dst[..a].copy_from_slice(&u[..a]);
            dst[a] = wrap_index(v, dim).ok_or_else(|| out_of_range(v, a, dim))?;
            dst[a + 1..].copy_from_slice(&u[a + ir..]);
            pairs.push((flat_index(&dst, x.shape()), flat_index(u, upd.shape())));
            Ok(())
        })?;
        Ok(vec![scatter(x, upd, &pairs, Reduction::None, true)?])
    }
}

/// ScatterNDUpdate-4 and -15: writes slices addressed by index tuples (the last indices axis);
/// version 15 can combine them with a reduction.
#[derive(Debug, Clone)]
pub struct ScatterNdUpdate {
    /// 4 or 15.
    pub version: u32,
    /// Combination rule (version 15).
    pub reduction: Reduction,
}

impl Op for ScatterNdUpdate {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new(
            "ScatterNDUpdate",
            if self.version >= 15 {
                "opset15"
            } else {
                "opset4"
            },
        )
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        if self.version >= 15 {
            v.on("reduction", &mut self.reduction)?;
        }
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let et = check_scatter_inputs(inputs, 3, 3)?;
        crate::ensure!(
            self.reduction != Reduction::Mean,
            Shape,
            "ScatterNDUpdate has no mean reduction"
        );
        if let (Some(d), Some(i)) = (inputs[0].shape.dims(), inputs[1].shape.dims()) {
            crate::ensure!(!i.is_empty(), Shape, "indices must have rank at least 1");
            if let Some(k) = i[i.len() - 1].get() {
                crate::ensure!(
                    k as usize <= d.len(),
                    Shape,
                    "index tuples of length {k} exceed the data rank {}",
                    d.len()
                );
            }
        }
        Ok(one_desc(et, inputs[0].shape.clone()))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 3, 3)?;
        let (x, ind_t, upd) = (inputs[0], inputs[1], inputs[2]);
        crate::ensure!(
            ind_t.rank() >= 1,
            Shape,
            "indices must have rank at least 1"
        );
        let ind = ints_of(ind_t, "indices")?;
        let lead = ind_t.rank() - 1;
        let k = ind_t.shape()[lead];
        crate::ensure!(
            k <= x.rank(),
            Shape,
            "index tuples of length {k} exceed the data rank {}",
            x.rank()
        );
        let mut want = ind_t.shape()[..lead].to_vec();
        want.extend_from_slice(&x.shape()[k..]);
        crate::ops::util::expect_shape(upd, &want, "updates")?;
        let mut pairs = Vec::with_capacity(upd.len());
        let mut dst = vec![0; x.rank()];
        for_each_index(upd.shape(), |u| {
            let base = flat_index(&u[..lead], &ind_t.shape()[..lead]) * k;
            for (j, d) in dst[..k].iter_mut().enumerate() {
                let v = ind.get(base + j).copied().unwrap_or(-1);
                *d = wrap_index(v, x.shape()[j]).ok_or_else(|| out_of_range(v, j, x.shape()[j]))?;
            }
            dst[k..].copy_from_slice(&u[lead..]);
            pairs.push((flat_index(&dst, x.shape()), flat_index(u, upd.shape())));
            Ok(())
        })?;
        Ok(vec![scatter(x, upd, &pairs, self.reduction, true)?])
    }
}

/// ScatterElementsUpdate-3 and -12: `data[i with axis replaced by indices[i]] = updates[i]`; version 12 adds
/// reductions and `use_init_val` (whether the existing value takes part in the reduction).
#[derive(Debug, Clone)]
pub struct ScatterElementsUpdate {
    /// 3 or 12.
    pub version: u32,
    /// Combination rule (version 12).
    pub reduction: Reduction,
    /// Whether the data's value takes part in the reduction (version 12).
    pub use_init_val: bool,
}

impl Op for ScatterElementsUpdate {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new(
            "ScatterElementsUpdate",
            if self.version >= 12 {
                "opset12"
            } else {
                "opset3"
            },
        )
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        if self.version >= 12 {
            crate::visit_attrs!(self, v; "reduction" => reduction, "use_init_val" => use_init_val)?;
        }
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let et = check_scatter_inputs(inputs, 4, 4)?;
        check_int_input(&inputs[3], "axis")?;
        crate::ensure!(
            self.reduction != Reduction::Sub,
            Shape,
            "ScatterElementsUpdate has no sub reduction"
        );
        let (i, u) = (&inputs[1].shape, &inputs[2].shape);
        crate::ensure!(
            i.compatible(u),
            Shape,
            "indices {i} and updates {u} must have the same shape"
        );
        if let (Some(r), Some(a)) = (inputs[0].rank(), known_scalar(&inputs[3])) {
            normalize_axis(a, r, "ScatterElementsUpdate")?;
            crate::ensure!(
                i.rank().is_none_or(|ir| ir == r),
                Shape,
                "indices {i} must have the data's rank {r}"
            );
        }
        Ok(one_desc(et, inputs[0].shape.clone()))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 4, 4)?;
        let (x, ind_t, upd) = (inputs[0], inputs[1], inputs[2]);
        let a = normalize_axis(
            int_scalar(inputs[3], "axis")?,
            x.rank(),
            "ScatterElementsUpdate",
        )?;
        crate::ops::util::expect_shape(upd, ind_t.shape(), "updates")?;
        crate::ensure!(
            ind_t.rank() == x.rank(),
            Shape,
            "indices must have the data's rank {}",
            x.rank()
        );
        let ind = ints_of(ind_t, "indices")?;
        let dim = x.shape()[a];
        let mut pairs = Vec::with_capacity(ind.len());
        let mut dst = vec![0; x.rank()];
        let mut n = 0;
        for_each_index(ind_t.shape(), |u| {
            dst.copy_from_slice(u);
            dst[a] = wrap_index(ind[n], dim).ok_or_else(|| out_of_range(ind[n], a, dim))?;
            crate::ensure!(
                dst.iter().zip(x.shape()).all(|(i, d)| i < d),
                Shape,
                "indices shape {:?} reaches outside the data",
                ind_t.shape()
            );
            pairs.push((flat_index(&dst, x.shape()), n));
            n += 1;
            Ok(())
        })?;
        Ok(vec![scatter(
            x,
            upd,
            &pairs,
            self.reduction,
            self.use_init_val,
        )?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::data_movement::args::testing::*;

    fn i32s(v: &[i32]) -> Tensor {
        Tensor::from_vec(&[v.len()], v.to_vec()).unwrap()
    }

    #[test]
    fn scatter_update() {
        let upd = Tensor::from_vec(&[2, 1], vec![10.0f32, 20.0]).unwrap();
        let y = eval1(
            &ScatterUpdate,
            &[iota(&[2, 3]), ti(&[-1]), upd.clone(), Tensor::scalar(1i64)],
        );
        assert_eq!(y.to_f64_vec(), vec![0., 1., 10., 3., 4., 20.]);
        assert!(
            ScatterUpdate
                .evaluate(&[&iota(&[2, 3]), &ti(&[3]), &upd, &Tensor::scalar(1i64)])
                .is_err()
        );
        assert_eq!(
            shape_of(
                &ScatterUpdate,
                &[ps("?,3"), dyn_i(&[1]), st(&[2, 1]), cs(1)]
            ),
            "[?,3]"
        );
    }

    #[test]
    fn scatter_nd() {
        let idx = Tensor::from_vec(&[3, 1], vec![1i64, 1, 0]).unwrap();
        let upd = i32s(&[1, 2, 4]);
        let d = i32s(&[10, 20, 30]);
        let none = ScatterNdUpdate {
            version: 4,
            reduction: Reduction::None,
        };
        assert_eq!(
            eval1(&none, &[d.clone(), idx.clone(), upd.clone()]).to_i64_vec(),
            vec![4, 2, 30]
        );
        let sum = ScatterNdUpdate {
            version: 15,
            reduction: Reduction::Sum,
        };
        assert_eq!(
            eval1(&sum, &[d.clone(), idx.clone(), upd.clone()]).to_i64_vec(),
            vec![14, 23, 30]
        );
        let sub = ScatterNdUpdate {
            version: 15,
            reduction: Reduction::Sub,
        };
        assert_eq!(eval1(&sub, &[d, idx, upd]).to_i64_vec(), vec![6, 17, 30]);
        assert!(none.infer(&[st(&[3]), dyn_i(&[1, 2]), st(&[1])]).is_err());
    }

    #[test]
    fn scatter_elements_matches_openvino() {
        // From openvino: data [10,20,30,40], indices [1,1,3], updates [1,2,4].
        let d = i32s(&[10, 20, 30, 40]);
        let idx = ti(&[1, 1, 3]);
        let upd = i32s(&[1, 2, 4]);
        let run = |reduction, use_init_val, d: &Tensor| {
            let op = ScatterElementsUpdate {
                version: 12,
                reduction,
                use_init_val,
            };
            eval1(
                &op,
                &[d.clone(), idx.clone(), upd.clone(), Tensor::scalar(0i64)],
            )
            .to_i64_vec()
        };
        assert_eq!(run(Reduction::Mean, true, &d), vec![10, 7, 30, 22]);
        assert_eq!(run(Reduction::Mean, false, &d), vec![10, 1, 30, 4]);
        assert_eq!(run(Reduction::Prod, false, &d), vec![10, 2, 30, 4]);
        assert_eq!(run(Reduction::None, true, &d), vec![10, 2, 30, 4]);
        assert_eq!(run(Reduction::Max, true, &d), vec![10, 20, 30, 40]);
        let neg = i32s(&[-10, 20, 30, 40]);
        let op = ScatterElementsUpdate {
            version: 12,
            reduction: Reduction::Mean,
            use_init_val: true,
        };
        let y = eval1(
            &op,
            &[neg, ti(&[0, 0]), i32s(&[1, 2]), Tensor::scalar(0i64)],
        );
        assert_eq!(y.to_i64_vec(), vec![-2, 20, 30, 40]);
    }
}
