//! Convolution and GroupConvolution (1 to 3 spatial axes, strides, dilations, pads incl. auto_pad through the
//! op's own geometry), `shaders/conv.wgsl`: an implicit GEMM tiled through workgroup memory when each group has
//! enough output channels to fill its tiles, else a direct shader with one invocation per output element
//! (depthwise and narrow groups).

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

/// Groups with fewer output channels than this take the direct shader (a GEMM tile would be mostly empty).
const GEMM_MIN_CHANNELS: usize = 8;

/// The output block one GEMM workgroup computes, along each side.
const GEMM_TILE: usize = 32;

/// A convolution lowered to the GEMM or the direct shader.
#[derive(Debug, Clone)]
pub struct ConvKernel {
    geometry: ConvGeometry,
    axes: [Axis; 3],
    /// A bias Add is fused in: input 2 holds one value per output channel.
    bias: bool,
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

    /// The bindings both shaders take: data, filter, output, parameters, and the bias — the fused Add's
    /// constant, else zeros (the shaders always add one).
    fn bindings(&self) -> Result<Vec<Binding>> {
        let bias = if self.bias {
            Binding::Input(2)
        } else {
            let g = &self.geometry;
            Binding::Params(vec![0; g.groups * g.out_per_group])
        };
        Ok(vec![
            Binding::Input(0),
            Binding::Input(1),
            Binding::Output(0),
            Binding::Params(self.params()?),
            bias,
        ])
    }

    /// Whether the GEMM shader runs it: every group has enough output channels and reduced elements.
    fn uses_gemm(&self) -> bool {
        let g = &self.geometry;
        let reduced = g.in_per_group * self.axes.iter().map(|a| a.kernel).product::<usize>();
        g.out_per_group >= GEMM_MIN_CHANNELS && reduced >= GEMM_MIN_CHANNELS
    }

    /// The GEMM dispatch: workgroups over output positions, output channels, (batch, group).
    fn gemm_dispatch(&self, caps: &Caps) -> Result<Dispatch> {
        let g = &self.geometry;
        let spatial: usize = self.axes.iter().map(|a| a.output).product();
        let counts = [
            spatial.div_ceil(GEMM_TILE),
            g.out_per_group.div_ceil(GEMM_TILE),
            g.batch * g.groups,
        ];
        let workgroups = counts.map(|c| u32::try_from(c).unwrap_or(u32::MAX));
        if workgroups.iter().any(|&w| w > caps.max_workgroups_per_dim) {
            return Err(crate::error::Error::Unsupported(format!(
                "GPU: the convolution needs {counts:?} workgroups, over the adapter's {} per dimension",
                caps.max_workgroups_per_dim
            )));
        }
        Ok(Dispatch {
            pipeline: PipelineKey::new(shader(), "gemm", &[]),
            bindings: self.bindings()?,
            workgroups,
        })
    }
}

impl GpuKernel for ConvKernel {
    fn with_bias(&self) -> Option<Box<dyn GpuKernel>> {
        (!self.bias).then(|| {
            Box::new(ConvKernel {
                bias: true,
                ..self.clone()
            }) as Box<dyn GpuKernel>
        })
    }

    fn name(&self) -> String {
        if self.uses_gemm() {
            "conv_gemm_f32"
        } else {
            "conv_direct_f32"
        }
        .into()
    }

    fn dispatches(&self, caps: &Caps) -> Result<Vec<Dispatch>> {
        if self.outputs() == 0 {
            return Ok(Vec::new());
        }
        if self.uses_gemm() {
            return Ok(vec![self.gemm_dispatch(caps)?]);
        }
        super::per_output_dispatch(
            PipelineKey::new(shader(), "main", &[]),
            self.bindings()?,
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
    Some(Box::new(ConvKernel {
        geometry,
        axes,
        bias: false,
    }))
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

    #[test]
    fn gemm_tiles_with_edges_groups_and_every_rank() {
        let e = AutoPad::Explicit;
        let cases: [(&[usize], &[usize], bool, ConvAttrs); 6] = [
            // Two row tiles, three position tiles, one k slice.
            (
                &[1, 3, 9, 9],
                &[40, 3, 3, 3],
                false,
                attrs(&[1, 1], &[1, 1], (&[1, 1], &[1, 1]), e),
            ),
            (
                &[2, 16, 11, 10],
                &[33, 16, 3, 2],
                false,
                attrs(&[2, 1], &[1, 2], (&[0, 2], &[1, 0]), e),
            ),
            // 1x1: two k slices.
            (
                &[1, 64, 7, 7],
                &[70, 64, 1, 1],
                false,
                attrs(&[1, 1], &[1, 1], (&[0, 0], &[0, 0]), e),
            ),
            (
                &[2, 32, 6, 6],
                &[2, 10, 16, 3, 3],
                true,
                attrs(&[1, 1], &[1, 1], (&[1, 1], &[1, 1]), e),
            ),
            (
                &[1, 4, 4, 5, 6],
                &[9, 4, 2, 3, 3],
                false,
                attrs(&[1, 2, 1], &[1, 1, 1], (&[0, 1, 1], &[1, 0, 1]), e),
            ),
            (
                &[2, 8, 37],
                &[12, 8, 5],
                false,
                attrs(&[2], &[1], (&[2], &[2]), e),
            ),
        ];
        for (data, filter, grouped, a) in cases {
            let descs = [data, filter].map(|d| {
                crate::ops::TensorDesc::new(
                    crate::ir::ElementType::F32,
                    crate::ir::PartialShape::from_static(d),
                )
            });
            let op: Box<dyn crate::ops::Op> = if grouped {
                Box::new(GroupConvolution { attrs: a.clone() })
            } else {
                Box::new(Convolution { attrs: a.clone() })
            };
            let kernel = super::select(op.as_ref(), &descs, &[]).unwrap();
            assert_eq!(kernel.name(), "conv_gemm_f32", "{data:?} {filter:?}");
            check(data, filter, grouped, a, true);
        }
    }
}
