//! Data movement (`shaders/data_movement.wgsl`): strided views, Pad and Gather. Every output element copies one
//! input element's bits (f32 and i32 storage share the shaders) or, for Pad, a constant.
//!
//! Views — Transpose, StridedSlice, Slice-8, Broadcast-1/3, Tile, DepthToSpace, SpaceToDepth, ShuffleChannels,
//! Reverse, Split and VariadicSplit — are not derived op by op: at compile time the op's own reference runs on
//! the flat indices of its data input (its other inputs must be constants), which gives, for each output, the
//! source index of every element. When that map is affine over some refinement of the output's axes (each axis
//! possibly split in factors, strides possibly 0 or negative), the output is one dispatch of the `main` entry
//! point with those axes; otherwise (Roll, say) the family declines. The map is checked element by element, so
//! a view is exact by construction. Pad uses the same entry point with its pads and mode, and Gather-1/7/8 its
//! own (runtime or constant indices, batch axes).

use super::conv::per_output_dispatch;
use super::{Binding, Dispatch, GpuKernel, dims, param, storage_type};
use crate::error::Result;
use crate::ir::shape::{normalize_axis, strides};
use crate::ir::{ElementType, Tensor};
use crate::ops::data_movement::{Pad, PadMode};
use crate::ops::gather_scatter::Gather;
use crate::ops::util::known_i64s;
use crate::ops::{Op, TensorDesc};
use crate::plugins::gpu::context::Caps;
use crate::plugins::gpu::pipelines::PipelineKey;
use std::sync::{Arc, OnceLock};

/// The data movement shaders.
pub const SHADER: &str = include_str!("../shaders/data_movement.wgsl");

fn shader() -> Arc<str> {
    static SOURCE: OnceLock<Arc<str>> = OnceLock::new();
    SOURCE.get_or_init(|| SHADER.into()).clone()
}

/// Ops whose outputs are (possibly several) strided views of their first input.
const VIEW_OPS: &[&str] = &[
    "Transpose",
    "StridedSlice",
    "Slice",
    "Broadcast",
    "Tile",
    "DepthToSpace",
    "SpaceToDepth",
    "ShuffleChannels",
    "Reverse",
    "Split",
    "VariadicSplit",
];

/// One axis of a `main` dispatch: output coordinate `c` reads input coordinate `c - begin` (mapped by the pad
/// mode when outside `[0, input)`) times `stride`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Axis {
    size: usize,
    input: usize,
    begin: i64,
    stride: i64,
}

/// The source of each element of one output: `base` plus the axes' contributions (outermost axis first).
#[derive(Debug, Clone, PartialEq, Eq)]
struct IndexMap {
    base: i64,
    axes: Vec<Axis>,
}

impl IndexMap {
    /// The shader parameters of `elements` outputs with `fill` as the pad constant's bits.
    fn params(&self, elements: usize, fill: u32) -> Option<Vec<u32>> {
        let i32_bits = |v: i64| i32::try_from(v).ok().map(|v| v as u32);
        let mut p = vec![
            u32::try_from(elements).ok()?,
            u32::try_from(self.axes.len()).ok()?,
            i32_bits(self.base)?,
            fill,
        ];
        for a in &self.axes {
            p.extend([
                u32::try_from(a.size).ok()?,
                i32::try_from(a.input).ok()? as u32,
                i32_bits(a.begin)?,
                i32_bits(a.stride)?,
            ]);
        }
        Some(p)
    }
}

/// A run of the `main` entry point: strided views or Pad, one dispatch per non-empty output.
#[derive(Debug)]
pub struct ViewKernel {
    /// Exec type (`view`, `pad_reflect`…).
    name: String,
    /// The shader's MODE (0 for views, 1-4 for the pad modes).
    mode: u32,
    /// `(output, parameters)` per non-empty output.
    pieces: Vec<(usize, Vec<u32>)>,
}

impl GpuKernel for ViewKernel {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn dispatches(&self, caps: &Caps) -> Result<Vec<Dispatch>> {
        let mut all = Vec::new();
        for (output, p) in &self.pieces {
            let elements = p.first().copied().unwrap_or(0) as usize;
            all.extend(per_output_dispatch(
                PipelineKey::new(shader(), "main", &[("MODE", f64::from(self.mode))]),
                vec![Binding::Input(0), Binding::Output(*output), Binding::Params(p.clone())],
                elements,
                caps,
            )?);
        }
        Ok(all)
    }
}

/// A Gather: `[elements, O, J, K, A]` as the `gather` entry point reads them.
#[derive(Debug)]
pub struct GatherKernel {
    params: [usize; 5],
}

impl GpuKernel for GatherKernel {
    fn name(&self) -> String {
        "gather".into()
    }

    fn dispatches(&self, caps: &Caps) -> Result<Vec<Dispatch>> {
        let p = self
            .params
            .iter()
            .map(|&v| param(v, "Gather size"))
            .collect::<Result<Vec<_>>>()?;
        per_output_dispatch(
            PipelineKey::new(shader(), "gather", &[]),
            vec![
                Binding::Input(0),
                Binding::Output(0),
                Binding::Params(p),
                Binding::Input(1),
            ],
            self.params[0],
            caps,
        )
    }
}

/// The data movement kernel of `op` with static inputs, or None when the family cannot run it exactly.
pub fn select(
    op: &dyn Op,
    inputs: &[TensorDesc],
    outputs: &[TensorDesc],
) -> Option<Box<dyn GpuKernel>> {
    storage_type(inputs.first()?.element_type)?;
    if let Some(g) = op.as_any().downcast_ref::<Gather>() {
        return select_gather(g, inputs, outputs);
    }
    if let Some(p) = op.as_any().downcast_ref::<Pad>() {
        return select_pad(p, inputs, outputs);
    }
    VIEW_OPS
        .contains(&op.type_info().name)
        .then(|| select_view(op, inputs))
        .flatten()
}

/// A view kernel from the source indices the op's reference computes for each output.
fn select_view(op: &dyn Op, inputs: &[TensorDesc]) -> Option<Box<dyn GpuKernel>> {
    let mut pieces = Vec::new();
    for (output, src) in source_indices(op, inputs)?.iter().enumerate() {
        if !src.is_empty() {
            pieces.push((output, fit(src)?.params(src.len(), 0)?));
        }
    }
    Some(Box::new(ViewKernel {
        name: "view".into(),
        mode: 0,
        pieces,
    }))
}

/// Runs `op`'s reference on the flat indices of its data input (the others must be constants): the source
/// index of every element of every output.
fn source_indices(op: &dyn Op, inputs: &[TensorDesc]) -> Option<Vec<Vec<i64>>> {
    let (data, rest) = inputs.split_first()?;
    let shape = dims(data)?;
    let n = i32::try_from(shape.iter().product::<usize>()).ok()?;
    let iota = Tensor::from_vec(&shape, (0..n).collect::<Vec<i32>>()).ok()?;
    let args: Vec<&Tensor> = std::iter::once(Some(&iota))
        .chain(rest.iter().map(|d| d.value.as_ref()))
        .collect::<Option<_>>()?;
    let outs = op.evaluate(&args).ok()?;
    Some(outs.iter().map(Tensor::to_i64_vec).collect())
}

/// The affine map behind the non-empty source index list `src` (row-major over the output), or None when
/// there is none. Axes are found innermost first: an axis runs while the sources keep its first step.
fn fit(src: &[i64]) -> Option<IndexMap> {
    let n = src.len();
    let base = *src.first()?;
    let mut axes = Vec::new();
    let mut inner = 1;
    while inner < n {
        let stride = src[inner] - base;
        let mut size = 2;
        while inner * size < n && src[inner * size] - base == size as i64 * stride {
            size += 1;
        }
        if n % (inner * size) != 0 {
            return None;
        }
        axes.push(Axis {
            size,
            input: size,
            begin: 0,
            stride,
        });
        inner *= size;
    }
    axes.reverse();
    let map = IndexMap { base, axes };
    map_matches(&map, src).then_some(map)
}

/// True when `map` gives `src`, element by element.
fn map_matches(map: &IndexMap, src: &[i64]) -> bool {
    let mut coords = vec![0; map.axes.len()];
    let mut at = map.base;
    for &s in src {
        if s != at {
            return false;
        }
        for (c, a) in coords.iter_mut().zip(&map.axes).rev() {
            *c += 1;
            at += a.stride;
            if *c < a.size {
                break;
            }
            *c = 0;
            at -= a.stride * a.size as i64;
        }
    }
    true
}

/// Pad-1/12 with constant pads (and pad value), every mode.
fn select_pad(pad: &Pad, inputs: &[TensorDesc], outputs: &[TensorDesc]) -> Option<Box<dyn GpuKernel>> {
    let [data, begins, ends, value @ ..] = inputs else {
        return None;
    };
    let shape = dims(data)?;
    let out = dims(outputs.first()?)?;
    let (begins, ends) = (known_i64s(begins)?, known_i64s(ends)?);
    if begins.len() != shape.len() || ends.len() != shape.len() || out.len() != shape.len() {
        return None;
    }
    let fill = match value.first() {
        None => 0,
        Some(v) => fill_bits(v.value.as_ref()?, data.element_type)?,
    };
    let map = IndexMap {
        base: 0,
        axes: (0..shape.len())
            .map(|a| Axis {
                size: out[a],
                input: shape[a],
                begin: begins[a],
                stride: strides(&shape)[a] as i64,
            })
            .collect(),
    };
    let elements: usize = out.iter().product();
    let pieces = if elements == 0 {
        Vec::new()
    } else {
        vec![(0, map.params(elements, fill)?)]
    };
    let (mode, name) = match pad.pad_mode {
        PadMode::Constant => (1, "pad_constant"),
        PadMode::Edge => (2, "pad_edge"),
        PadMode::Reflect => (3, "pad_reflect"),
        PadMode::Symmetric => (4, "pad_symmetric"),
    };
    Some(Box::new(ViewKernel {
        name: name.into(),
        mode,
        pieces,
    }))
}

/// The stored bits of a scalar pad value of type `et` (f32, or an integer within i32).
fn fill_bits(v: &Tensor, et: ElementType) -> Option<u32> {
    match et {
        ElementType::F32 => Some((*v.typed::<f32>().ok()?.first()?).to_bits()),
        _ => Some(i32::try_from(*v.to_i64_vec().first()?).ok()? as u32),
    }
}

/// Gather-1/7/8 with a constant axis and i32/i64 indices (runtime or constant). Earlier versions reject
/// out-of-range indices: constant ones are checked here; at run time the GPU cannot fail and writes 0.
fn select_gather(
    g: &Gather,
    inputs: &[TensorDesc],
    outputs: &[TensorDesc],
) -> Option<Box<dyn GpuKernel>> {
    let [data, indices, axis] = inputs else {
        return None;
    };
    if !matches!(indices.element_type, ElementType::I32 | ElementType::I64) {
        return None;
    }
    let (shape, ishape) = (dims(data)?, dims(indices)?);
    let axis = match known_i64s(axis)?.as_slice() {
        [a] => normalize_axis(*a, shape.len(), "Gather").ok()?,
        _ => return None,
    };
    let irank = ishape.len() as i64;
    let b = usize::try_from(if g.batch_dims < 0 {
        g.batch_dims + irank
    } else {
        g.batch_dims
    })
    .ok()
    .filter(|&b| b <= axis && b <= ishape.len())?;
    let len = shape[axis];
    if let (true, Some(v)) = (g.version < 8, &indices.value) {
        let n = len as i64;
        if !v.to_i64_vec().iter().all(|&i| (-n..n).contains(&i)) {
            return None;
        }
    }
    let elements: usize = dims(outputs.first()?)?.iter().product();
    Some(Box::new(GatherKernel {
        params: [
            elements,
            shape[b..axis].iter().product(),
            ishape[b..].iter().product(),
            shape[axis + 1..].iter().product(),
            len,
        ],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::data_movement::{
        Broadcast, BroadcastMode, DepthSpace, Reverse, ReverseMode, Roll, Slice, SpaceMode, Split,
        StridedSlice, Tile, Transpose, VariadicSplit,
    };
    use crate::plugins::cpu::kernels::testing::Lcg;
    use crate::plugins::gpu::kernels::testing::check_against_reference;

    fn ints(shape: &[usize], v: &[i64]) -> Tensor {
        Tensor::from_i64s(ElementType::I64, shape, v).unwrap()
    }

    fn i32s(rng: &mut Lcg, shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<i32> = (0..n).map(|_| (rng.next_f64() * 2000.0) as i32 - 1000).collect();
        Tensor::from_vec(shape, v).unwrap()
    }

    fn desc(t: &Tensor, constant: bool) -> TensorDesc {
        let mut d = TensorDesc::new(
            t.element_type(),
            crate::ir::PartialShape::from_static(t.shape()),
        );
        if constant {
            d.value = Some(t.clone());
        }
        d
    }

    #[test]
    fn fit_finds_split_axes_and_rejects_wraps() {
        // A 2x3 transpose, a tile of 3 twice, a reversed slice.
        let m = fit(&[0, 3, 1, 4, 2, 5]).unwrap();
        assert_eq!(m.base, 0);
        assert_eq!(
            m.axes.iter().map(|a| (a.size, a.stride)).collect::<Vec<_>>(),
            [(3, 1), (2, 3)]
        );
        let m = fit(&[0, 1, 2, 0, 1, 2]).unwrap();
        assert_eq!(
            m.axes.iter().map(|a| (a.size, a.stride)).collect::<Vec<_>>(),
            [(2, 0), (3, 1)]
        );
        let m = fit(&[7, 5, 3]).unwrap();
        assert_eq!((m.base, m.axes[0].stride), (7, -2));
        assert_eq!(fit(&[4]).unwrap().axes, []);
        // A roll is not affine.
        assert!(fit(&[1, 2, 0]).is_none());
        assert!(fit(&[0, 1, 2, 3, 4, 0]).is_none());
    }

    #[test]
    fn roll_runtime_bounds_and_booleans_are_declined() {
        let x = Tensor::zeros(ElementType::F32, &[4]);
        let (shift, axes) = (ints(&[1], &[1]), ints(&[1], &[0]));
        let d = [desc(&x, false), desc(&shift, true), desc(&axes, true)];
        assert!(select(&Roll, &d, &Roll.infer(&d).unwrap()).is_none());
        let (start, stop, step) = (ints(&[1], &[0]), ints(&[1], &[2]), ints(&[1], &[1]));
        let d = [
            desc(&x, false),
            desc(&start, false),
            desc(&stop, true),
            desc(&step, true),
        ];
        assert!(select(&Slice, &d, &Slice.infer(&d).unwrap()).is_none());
        let b = Tensor::zeros(ElementType::Boolean, &[4]);
        let d = [desc(&b, false), desc(&ints(&[1], &[0]), true)];
        assert!(select(&Transpose, &d, &Transpose.infer(&d).unwrap()).is_none());
    }

    #[test]
    fn transposes_depth_space_and_reverse() {
        let mut rng = Lcg(3);
        let x = rng.tensor(&[2, 3, 4, 5]);
        for perm in [[0i64, 1, 2, 3], [3, 2, 1, 0], [0, 2, 3, 1], [1, 0, 3, 2]] {
            let p = ints(&[4], &perm);
            check_against_reference(|| Box::new(Transpose), &[x.clone(), p], &[false, true]);
        }
        let xi = i32s(&mut rng, &[3, 1, 5]);
        let p = ints(&[3], &[2, 0, 1]);
        check_against_reference(|| Box::new(Transpose), &[xi, p], &[false, true]);
        let x = rng.tensor(&[1, 8, 3, 2]);
        for to_space in [true, false] {
            for mode in [SpaceMode::BlocksFirst, SpaceMode::DepthFirst] {
                let make = || -> Box<dyn Op> {
                    let mut op = if to_space {
                        DepthSpace::depth_to_space()
                    } else {
                        DepthSpace::space_to_depth()
                    };
                    op.mode = mode;
                    op.block_size = 2;
                    Box::new(op)
                };
                let input = if to_space {
                    x.clone()
                } else {
                    rng.tensor(&[2, 3, 4, 6])
                };
                check_against_reference(make, &[input], &[false]);
            }
        }
        let axes = ints(&[2], &[0, -1]);
        check_against_reference(
            || {
                Box::new(Reverse {
                    mode: ReverseMode::Index,
                })
            },
            &[rng.tensor(&[3, 2, 5]), axes],
            &[false, true],
        );
    }

    #[test]
    fn slices_strided_and_reversed() {
        let mut rng = Lcg(5);
        let x = rng.tensor(&[5, 6, 7]);
        let cases: [(&[i64], &[i64], &[i64], Option<&[i64]>); 4] = [
            (&[1, 0], &[4, 6], &[2, 1], None),
            (&[-1, 5], &[-6, 0], &[-2, -3], Some(&[2, 1])),
            (&[0], &[100], &[3], Some(&[-2])),
            (&[2], &[2], &[1], Some(&[0])),
        ];
        for (start, stop, step, axes) in cases {
            let n = start.len();
            let mut inputs = vec![
                x.clone(),
                ints(&[n], start),
                ints(&[n], stop),
                ints(&[n], step),
            ];
            inputs.extend(axes.map(|a| ints(&[n], a)));
            check_against_reference(|| Box::new(Slice), &inputs, &[false, true, true, true, true]);
        }
        // StridedSlice: begin/end masks, a new axis, a shrunk axis, an ellipsis and a reversed stride.
        let x = i32s(&mut rng, &[4, 5, 6]);
        let ss = |b: &[i64], e: &[i64], n: &[i64], s: &[i64], el: &[i64]| StridedSlice {
            begin_mask: b.to_vec(),
            end_mask: e.to_vec(),
            new_axis_mask: n.to_vec(),
            shrink_axis_mask: s.to_vec(),
            ellipsis_mask: el.to_vec(),
        };
        let cases = [
            (ss(&[0, 1, 0], &[0, 0, 1], &[], &[], &[]), [1i64, 0, 1], [3i64, 4, 0], [1i64, 2, -1]),
            (ss(&[], &[], &[0, 1, 0], &[1, 0, 0], &[]), [-1, 0, 0], [0, 0, 5], [1, 1, 2]),
            (ss(&[], &[], &[], &[0, 0, 1], &[1, 0, 0]), [0, 0, 2], [0, 0, 3], [1, 1, 1]),
            (ss(&[1, 1, 1], &[1, 1, 1], &[], &[], &[]), [0, 0, 0], [0, 0, 0], [-1, -2, -3]),
        ];
        for (op, b, e, s) in cases {
            let inputs = [x.clone(), ints(&[3], &b), ints(&[3], &e), ints(&[3], &s)];
            check_against_reference(|| Box::new(op.clone()), &inputs, &[false, true, true, true]);
        }
    }

    #[test]
    fn broadcasts_and_tiles() {
        let mut rng = Lcg(7);
        let modes = [
            (1, BroadcastMode::Numpy, vec![3, 1, 4], vec![2i64, 3, 5, 4], None),
            (3, BroadcastMode::Bidirectional, vec![3, 1, 4], vec![5, 1], None),
            (3, BroadcastMode::Explicit, vec![3, 4], vec![3, 2, 4], Some(vec![0i64, 2])),
            (1, BroadcastMode::Numpy, vec![1], vec![0, 3], None),
        ];
        for (version, mode, shape, target, axes) in modes {
            let mut inputs = vec![rng.tensor(&shape), ints(&[target.len()], &target)];
            inputs.extend(axes.map(|a| ints(&[a.len()], &a)));
            let make = || -> Box<dyn Op> { Box::new(Broadcast { version, mode }) };
            check_against_reference(make, &inputs, &[false, true, true]);
        }
        for (shape, reps) in [
            (vec![2, 3], vec![2i64, 3]),
            (vec![3, 1], vec![4]),
            (vec![2], vec![3, 1, 2]),
            (vec![2, 2], vec![0, 2]),
        ] {
            let inputs = [i32s(&mut rng, &shape), ints(&[reps.len()], &reps)];
            check_against_reference(|| Box::new(Tile), &inputs, &[false, true]);
        }
    }

    #[test]
    fn splits_with_empty_pieces() {
        let mut rng = Lcg(9);
        let x = rng.tensor(&[4, 6, 3]);
        for axis in [1i64, -3] {
            let inputs = [x.clone(), ints(&[], &[axis])];
            check_against_reference(|| Box::new(Split { num_splits: 2 }), &inputs, &[false, true]);
        }
        let inputs = [x.clone(), ints(&[], &[-2]), ints(&[3], &[2, 0, -1])];
        check_against_reference(|| Box::new(VariadicSplit), &inputs, &[false, true, true]);
    }

    #[test]
    fn pads_every_mode() {
        let mut rng = Lcg(11);
        let x = rng.tensor(&[3, 4, 5]);
        for mode in [
            PadMode::Constant,
            PadMode::Edge,
            PadMode::Reflect,
            PadMode::Symmetric,
        ] {
            for (b, e) in [([1i64, 2, 0], [0i64, 3, 2]), ([2, -1, 1], [-2, 0, 4])] {
                let make = || -> Box<dyn Op> {
                    Box::new(Pad {
                        version: 12,
                        pad_mode: mode,
                    })
                };
                let mut inputs = vec![x.clone(), ints(&[3], &b), ints(&[3], &e)];
                if mode == PadMode::Constant {
                    inputs.push(Tensor::from_vec(&[], vec![2.5f32]).unwrap());
                }
                check_against_reference(make, &inputs, &[false, true, true, true]);
            }
        }
        // Integers with the default constant, and a constant pad around an empty axis.
        let pad1 = || -> Box<dyn Op> {
            Box::new(Pad {
                version: 1,
                pad_mode: PadMode::Constant,
            })
        };
        let inputs = [
            i32s(&mut rng, &[2, 3]),
            ints(&[2], &[1, 1]),
            ints(&[2], &[0, 2]),
            Tensor::from_vec(&[], vec![-7i32]).unwrap(),
        ];
        check_against_reference(pad1, &inputs, &[false, true, true, true]);
        let inputs = [rng.tensor(&[2, 0]), ints(&[2], &[0, 1]), ints(&[2], &[1, 1])];
        check_against_reference(pad1, &inputs, &[false, true, true]);
    }

    #[test]
    fn gathers_with_batch_axes_and_negative_indices() {
        let mut rng = Lcg(13);
        let x = rng.tensor(&[3, 5, 4]);
        for version in [1, 7, 8] {
            for (axis, constant) in [(1i64, false), (-1, true), (0, false)] {
                let idx = ints(&[2, 2], &[0, -1, 2, -3]);
                let make = || -> Box<dyn Op> {
                    Box::new(Gather {
                        version,
                        batch_dims: 0,
                    })
                };
                let inputs = [x.clone(), idx, ints(&[], &[axis])];
                check_against_reference(make, &inputs, &[false, constant, true]);
            }
        }
        // batch_dims 1 (and -1) with i32 indices and i32 data; Gather-8 zeroes out-of-range indices.
        let xi = i32s(&mut rng, &[3, 4, 2]);
        let idx = Tensor::from_vec(&[3, 2], vec![0i32, 3, -1, 2, 1, 1]).unwrap();
        for batch_dims in [1, -1] {
            let make = || -> Box<dyn Op> {
                Box::new(Gather {
                    version: 8,
                    batch_dims,
                })
            };
            let inputs = [xi.clone(), idx.clone(), ints(&[], &[1])];
            check_against_reference(make, &inputs, &[false, false, true]);
        }
        let idx = ints(&[3], &[0, 9, -9]);
        let make = || -> Box<dyn Op> {
            Box::new(Gather {
                version: 8,
                batch_dims: 0,
            })
        };
        check_against_reference(make, &[x.clone(), idx.clone(), ints(&[], &[1])], &[false, false, true]);
        // Gather-7 rejects out-of-range constant indices, so the GPU declines them.
        let d = [desc(&x, false), desc(&idx, true), desc(&ints(&[], &[1]), true)];
        let g7 = Gather {
            version: 7,
            batch_dims: 0,
        };
        let g8 = Gather { version: 8, ..g7 };
        assert!(select(&g7, &d, &g8.infer(&d).unwrap()).is_none());
        assert!(select(&g8, &d, &g8.infer(&d).unwrap()).is_some());
    }
}
