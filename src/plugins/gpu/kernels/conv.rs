//! Convolution and GroupConvolution (1 to 3 spatial axes, strides, dilations, pads incl. auto_pad through the
//! op's own geometry) as a direct shader (`shaders/conv.wgsl`): one invocation per output element.

use super::{Binding, Dispatch, GpuKernel, param};
use crate::error::Result;
use crate::ir::ElementType;
use crate::ops::conv::{Axis, ConvGeometry, forward_conv_attrs, lift3};
use crate::ops::{Op, TensorDesc};
use crate::plugins::gpu::context::Caps;
use crate::plugins::gpu::pipelines::PipelineKey;
use std::sync::{Arc, OnceLock};

/// The convolution shader.
pub const SHADER: &str = include_str!("../shaders/conv.wgsl");

fn shader() -> Arc<str> {
    static SOURCE: OnceLock<Arc<str>> = OnceLock::new();
    SOURCE.get_or_init(|| SHADER.into()).clone()
}

/// A convolution lowered to the direct shader.
#[derive(Debug)]
pub struct ConvKernel {
    geometry: ConvGeometry,
    axes: [Axis; 3],
}

/// Per spatial axis (lifted to three): the fields the window shaders read, `fields` of them in this order:
/// input, output, kernel, stride, dilation, pad_begin, pad_end.
pub fn axis_params(axes: &[Axis; 3], fields: usize) -> Result<Vec<u32>> {
    axes.iter()
        .flat_map(|a| {
            [
                a.input,
                a.output,
                a.kernel,
                a.stride,
                a.dilation,
                a.pad_begin,
                a.pad_end,
            ]
            .into_iter()
            .take(fields)
        })
        .map(|v| param(v, "window size"))
        .collect()
}

impl ConvKernel {
    /// The number of output elements.
    fn outputs(&self) -> usize {
        let g = &self.geometry;
        g.batch * g.groups * g.out_per_group * self.axes.iter().map(|a| a.output).product::<usize>()
    }

    /// `[outputs, groups, in_per_group, out_per_group, out_channels, axes…]` as `shaders/conv.wgsl` reads them.
    fn params(&self) -> Result<Vec<u32>> {
        let g = &self.geometry;
        let mut p = [
            self.outputs(),
            g.groups,
            g.in_per_group,
            g.out_per_group,
            g.groups * g.out_per_group,
        ]
        .iter()
        .map(|&v| param(v, "convolution size"))
        .collect::<Result<Vec<u32>>>()?;
        p.extend(axis_params(&self.axes, 6)?);
        Ok(p)
    }
}

impl GpuKernel for ConvKernel {
    fn name(&self) -> String {
        "conv_direct_f32".into()
    }

    fn dispatches(&self, caps: &Caps) -> Result<Vec<Dispatch>> {
        super::per_output_dispatch(
            PipelineKey::new(shader(), "main", &[]),
            vec![
                Binding::Input(0),
                Binding::Input(1),
                Binding::Output(0),
                Binding::Params(self.params()?),
            ],
            self.outputs(),
            caps,
        )
    }
}

/// The convolution kernel of an f32 Convolution or GroupConvolution with static shapes.
pub fn select(
    op: &dyn Op,
    inputs: &[TensorDesc],
    _outputs: &[TensorDesc],
) -> Option<Box<dyn GpuKernel>> {
    let (attrs, kind) = forward_conv_attrs(op)?;
    let [x, w] = inputs else { return None };
    if x.element_type != ElementType::F32 || w.element_type != ElementType::F32 {
        return None;
    }
    let geometry = attrs
        .geometry(kind, &super::dims(x)?, &super::dims(w)?, None)
        .ok()?;
    let axes = lift3(&geometry.axes).ok()?;
    Some(Box::new(ConvKernel { geometry, axes }))
}

#[cfg(test)]
mod tests {
    use crate::ops::conv::{AutoPad, ConvAttrs, Convolution, GroupConvolution};
    use crate::plugins::cpu::kernels::testing::Lcg;
    use crate::plugins::gpu::kernels::testing::check_against_reference;

    fn attrs(
        strides: &[i64],
        dilations: &[i64],
        pads: (&[i64], &[i64]),
        auto_pad: AutoPad,
    ) -> ConvAttrs {
        ConvAttrs {
            strides: strides.to_vec(),
            dilations: dilations.to_vec(),
            pads_begin: pads.0.to_vec(),
            pads_end: pads.1.to_vec(),
            auto_pad,
            output_padding: vec![],
        }
    }

    fn check(data: &[usize], filter: &[usize], grouped: bool, a: ConvAttrs, constant_filter: bool) {
        let mut rng = Lcg(data.iter().sum::<usize>() as u64 * 7 + filter.len() as u64);
        let inputs = [rng.tensor(data), rng.tensor(filter)];
        check_against_reference(
            || {
                if grouped {
                    Box::new(GroupConvolution { attrs: a.clone() })
                } else {
                    Box::new(Convolution { attrs: a.clone() })
                }
            },
            &inputs,
            &[false, constant_filter],
        );
    }

    #[test]
    fn plain_strided_dilated_padded() {
        let e = AutoPad::Explicit;
        check(
            &[1, 3, 9, 9],
            &[5, 3, 3, 3],
            false,
            attrs(&[1, 1], &[1, 1], (&[1, 1], &[1, 1]), e),
            true,
        );
        check(
            &[2, 4, 11, 10],
            &[3, 4, 3, 2],
            false,
            attrs(&[2, 1], &[1, 2], (&[0, 2], &[1, 0]), e),
            false,
        );
        check(
            &[1, 2, 8, 8],
            &[4, 2, 1, 1],
            false,
            attrs(&[1, 1], &[1, 1], (&[0, 0], &[0, 0]), e),
            true,
        );
        check(
            &[1, 3, 13, 12],
            &[2, 3, 5, 5],
            false,
            attrs(&[2, 2], &[1, 1], (&[2, 2], &[2, 2]), e),
            true,
        );
    }

    #[test]
    fn auto_pad_one_and_three_axes() {
        for auto_pad in [AutoPad::SameUpper, AutoPad::SameLower, AutoPad::Valid] {
            check(
                &[1, 2, 7, 8],
                &[3, 2, 3, 3],
                false,
                attrs(&[2, 2], &[1, 1], (&[], &[]), auto_pad),
                true,
            );
        }
        let e = AutoPad::Explicit;
        check(
            &[2, 3, 17],
            &[4, 3, 3],
            false,
            attrs(&[2], &[2], (&[1], &[2]), e),
            true,
        );
        check(
            &[1, 2, 4, 5, 6],
            &[3, 2, 2, 3, 3],
            false,
            attrs(&[1, 2, 1], &[1, 1, 1], (&[0, 1, 1], &[1, 0, 1]), e),
            true,
        );
    }

    #[test]
    fn groups_and_depthwise() {
        let e = AutoPad::Explicit;
        check(
            &[1, 6, 8, 8],
            &[3, 4, 2, 3, 3],
            true,
            attrs(&[1, 1], &[1, 1], (&[1, 1], &[1, 1]), e),
            true,
        );
        check(
            &[2, 5, 9, 7],
            &[5, 1, 1, 3, 3],
            true,
            attrs(&[2, 2], &[1, 1], (&[1, 1], &[1, 1]), e),
            false,
        );
        check(
            &[1, 4, 6, 6],
            &[4, 2, 1, 3, 3],
            true,
            attrs(&[1, 1], &[2, 2], (&[2, 2], &[2, 2]), e),
            true,
        );
    }
}
