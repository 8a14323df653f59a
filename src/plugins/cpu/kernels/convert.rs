//! Convert and ConvertLike between the plain numeric types (booleans as sources too): one typed loop per pair of
//! types, computing what the reference `convert_tensor` computes (real destinations through f64, integer ones
//! through i64, so narrowing wraps), spread over threads when large.

use super::{Kernel, take_output};
use crate::error::Result;
use crate::ir::{ElementType, Scalar, Tensor};
use crate::ops::structure::{Convert, ConvertLike};
use crate::ops::util::check_input_count;
use crate::ops::{Op, TensorDesc};
use rayon::prelude::*;

/// Elements per parallel task.
const CHUNK: usize = 1 << 15;

/// Picks the typed kernel for Convert (any plain source type to f32, f64 or an integer type) and ConvertLike.
pub fn select(op: &dyn Op, inputs: &[TensorDesc]) -> Option<Box<dyn Kernel>> {
    let any = op.as_any();
    let to = if let Some(c) = any.downcast_ref::<Convert>() {
        c.destination_type
    } else if any.downcast_ref::<ConvertLike>().is_some() {
        inputs.get(1)?.element_type
    } else {
        return None;
    };
    let from = inputs.first()?.element_type;
    (plain_source(from) && plain_destination(to) && from != to)
        .then(|| Box::new(ConvertKernel { to }) as Box<dyn Kernel>)
}

fn plain_source(et: ElementType) -> bool {
    plain_destination(et) || matches!(et, ElementType::Boolean | ElementType::F16)
}

fn plain_destination(et: ElementType) -> bool {
    use ElementType::*;
    matches!(et, F32 | F64 | I8 | I16 | I32 | I64 | U8 | U16 | U32 | U64)
}

/// Converts its first input to `to`.
#[derive(Debug)]
struct ConvertKernel {
    to: ElementType,
}

/// `dst[i] = src[i]` as the reference converts it.
fn convert_into<S: Scalar + Sync, D: Scalar + Send>(src: &[S], dst: &mut [D], real: bool) {
    let one = |(d, s): (&mut D, &S)| {
        *d = if real {
            D::from_f64(s.to_f64())
        } else {
            D::from_i64(s.to_i64())
        }
    };
    if dst.len() >= CHUNK {
        dst.par_chunks_mut(CHUNK)
            .zip(src.par_chunks(CHUNK))
            .for_each(|(d, s)| d.iter_mut().zip(s).for_each(one));
    } else {
        dst.iter_mut().zip(src).for_each(one);
    }
}

impl Kernel for ConvertKernel {
    fn recycles_outputs(&self) -> bool {
        true
    }
    fn run_recycling(
        &self,
        inputs: &[&Tensor],
        spare: &mut [Option<Tensor>],
    ) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 1, 2)?;
        let x = inputs[0];
        let mut out = take_output(spare, 0, self.to, x.shape());
        let real = self.to.is_real();
        crate::dispatch_scalar!(x.element_type(), S => {
            let src = x.typed::<S>()?;
            crate::dispatch_scalar!(self.to, D => {
                convert_into(src, out.typed_mut::<D>()?, real)
            }, _ => return Ok(vec![crate::ops::structure::convert_tensor(x, self.to)?]))
        }, _ => return Ok(vec![crate::ops::structure::convert_tensor(x, self.to)?]));
        Ok(vec![out])
    }
    fn name(&self) -> &'static str {
        "convert"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::cpu::kernels::testing::assert_kernel_matches;

    #[test]
    fn matches_reference_for_every_pair() {
        let values: Vec<f64> = (0..70000).map(|i| (i as f64 - 35000.0) * 0.37).collect();
        for from in [
            ElementType::F32,
            ElementType::F64,
            ElementType::F16,
            ElementType::I32,
            ElementType::I64,
            ElementType::U8,
            ElementType::Boolean,
        ] {
            let x = Tensor::from_f64s(from, &[2, 35000], &values).unwrap();
            for to in [
                ElementType::F32,
                ElementType::I32,
                ElementType::I64,
                ElementType::U8,
                ElementType::I8,
                ElementType::F64,
            ] {
                if from == to {
                    continue;
                }
                let op = Convert {
                    destination_type: to,
                };
                let descs = [TensorDesc::of_tensor(&x)];
                assert_eq!(select(&op, &descs).unwrap().name(), "convert");
                assert_kernel_matches(&op, std::slice::from_ref(&x), &[false], 0.0, 0.0);
            }
        }
        let f16 = Convert {
            destination_type: ElementType::F16,
        };
        let x = TensorDesc::of_tensor(&Tensor::zeros(ElementType::F32, &[2]));
        assert!(select(&f16, &[x]).is_none());
    }
}
