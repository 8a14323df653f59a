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

use super::{Binding, Dispatch, GpuKernel, dims, param, per_output_dispatch, storage_type};
use crate::error::Result;
use crate::ir::shape::{normalize_axis, strides};
use crate::ir::{ElementType, Tensor};
use crate::ops::data_movement::{Pad, PadMode};
use crate::ops::gather_scatter::Gather;
use crate::ops::interpolate::{Interpolate, InterpolateMode};
use crate::ops::util::known_i64s;
use crate::ops::{Op, TensorDesc};
use crate::plugins::gpu::context::Caps;
use crate::plugins::gpu::pipelines::PipelineKey;
use std::sync::{Arc, OnceLock};

/// The data movement shaders.
pub const SHADER: &str = include_str!("../../shaders/data_movement.wgsl");

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

/// A run of the `main` entry point (strided views, Pad) or of `lookup` (separable gathers), one dispatch per
/// non-empty output.
#[derive(Debug)]
pub struct ViewKernel {
    /// Exec type (`view`, `pad_reflect`, `lookup`…).
    name: String,
    /// The shader's entry point.
    entry: &'static str,
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
                PipelineKey::new(shader(), self.entry, &[("MODE", f64::from(self.mode))]),
                vec![
                    Binding::Input(0),
                    Binding::Output(*output),
                    Binding::Params(p.clone()),
                ],
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
    if let Some(i) = op.as_any().downcast_ref::<Interpolate>() {
        return select_nearest(i, inputs);
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
        entry: "main",
        mode: 0,
        pieces,
    }))
}

/// Nearest-neighbour Interpolate-4/11 without pads: every output element copies the input element its
/// per-axis source coordinates name; the tables come from the op's own reference on the input's indices.
fn select_nearest(op: &Interpolate, inputs: &[TensorDesc]) -> Option<Box<dyn GpuKernel>> {
    let a = &op.attrs;
    let padded = a.pads_begin.iter().chain(&a.pads_end).any(|&p| p != 0);
    if a.mode != InterpolateMode::Nearest || padded {
        return None;
    }
    let in_shape = dims(inputs.first()?)?;
    let [src] = <[Vec<i64>; 1]>::try_from(source_indices(op, inputs)?).ok()?;
    let out_shape = op
        .infer(inputs)
        .ok()?
        .first()
        .and_then(|d| d.shape.to_static())?;
    let pieces = if src.is_empty() {
        Vec::new()
    } else {
        vec![(0, lookup_params(&src, &out_shape, &in_shape)?)]
    };
    Some(Box::new(ViewKernel {
        name: "lookup".into(),
        entry: "lookup",
        mode: 0,
        pieces,
    }))
}

/// The `lookup` parameters when the source index of every output element (`src`, row-major over `out_shape`)
/// is separable: its coordinate along each input axis depends on the output coordinate along that axis only.
fn lookup_params(src: &[i64], out_shape: &[usize], in_shape: &[usize]) -> Option<Vec<u32>> {
    if out_shape.len() != in_shape.len() {
        return None;
    }
    let (out_strides, in_strides) = (strides(out_shape), strides(in_shape));
    let tables: Vec<Vec<usize>> = (0..out_shape.len())
        .map(|d| {
            (0..out_shape[d])
                .map(|c| {
                    let s = usize::try_from(*src.get(c * out_strides[d])?).ok()?;
                    Some((s / in_strides[d]) % in_shape[d])
                })
                .collect::<Option<Vec<_>>>()
        })
        .collect::<Option<_>>()?;
    for (i, &s) in src.iter().enumerate() {
        let at: usize = (0..out_shape.len())
            .map(|d| tables[d][(i / out_strides[d]) % out_shape[d]] * in_strides[d])
            .sum();
        if i64::try_from(at).ok()? != s {
            return None;
        }
    }
    let rank = out_shape.len();
    let mut p = vec![src.len(), rank];
    let mut start = 2 + 3 * rank;
    for d in 0..rank {
        p.extend([out_shape[d], in_strides[d], start]);
        start += out_shape[d];
    }
    p.extend(tables.iter().flatten());
    p.into_iter().map(|v| u32::try_from(v).ok()).collect()
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
        if !n.is_multiple_of(inner * size) {
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
fn select_pad(
    pad: &Pad,
    inputs: &[TensorDesc],
    outputs: &[TensorDesc],
) -> Option<Box<dyn GpuKernel>> {
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
        axes: (out.iter().zip(&shape).zip(&begins).zip(strides(&shape)))
            .map(|(((&size, &input), &begin), stride)| Axis {
                size,
                input,
                begin,
                stride: stride as i64,
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
        entry: "main",
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
mod tests;
