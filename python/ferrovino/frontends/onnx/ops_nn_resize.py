"""Translators of ONNX resampling: Resize and Upsample onto Interpolate-11."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ... import _native
from ... import opset16 as ops
from .ops_nn_common import i64, out, rank_of
from .ops_nn_resize_matrix import needs_matrices, resize_by_matrices
from .registry import op

# ONNX mode → Interpolate mode (antialias picks the filter modes, which alone support it).
_MODES = {"nearest": "nearest", "linear": "linear_onnx", "cubic": "cubic"}
_ANTIALIAS_MODES = {"linear": "linear", "cubic": "cubic"}
_TRANSFORMS = {"half_pixel", "pytorch_half_pixel", "asymmetric", "tf_half_pixel_for_nn", "align_corners"}
_NEAREST = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}


def _fail(what: str) -> Exception:
    """An unsupported-feature error (the converter prefixes the node)."""
    return _native.UnsupportedError(what)


@dataclass
class ResizeSpec:
    """What an ONNX Resize or Upsample asks for, in Interpolate-11's terms."""

    mode: str
    transform: str = "half_pixel"
    nearest_mode: str = "round_prefer_floor"
    cube_coeff: float = -0.75
    antialias: bool = False
    axes: Optional[list[int]] = None
    extra: dict = field(default_factory=dict)


def _spec(ctx, transform_default: str, nearest_default: str) -> ResizeSpec:
    """Reads and checks the node's attributes."""
    mode = ctx.attr("mode", "nearest")
    antialias = bool(ctx.attr("antialias", 0)) and mode != "nearest"
    table = _ANTIALIAS_MODES if antialias else _MODES
    if mode not in table:
        raise _fail(f"mode must be one of {sorted(table)}, got '{mode}'")
    spec = ResizeSpec(
        mode=table[mode],
        transform=ctx.attr("coordinate_transformation_mode", transform_default),
        nearest_mode=ctx.attr("nearest_mode", nearest_default),
        cube_coeff=ctx.attr("cubic_coeff_a", -0.75),
        antialias=antialias,
        axes=ctx.attr("axes"),
    )
    if spec.transform not in _TRANSFORMS:
        raise _fail(f"coordinate_transformation_mode '{spec.transform}' is not supported")
    if spec.nearest_mode not in _NEAREST:
        raise _fail(f"nearest_mode '{spec.nearest_mode}' is not supported")
    if ctx.attr("exclude_outside", 0) and spec.mode == "cubic":
        raise _fail("exclude_outside=1 is not supported")
    return spec


def _interpolate(x: _native.Output, target: _native.Output, calc: str, spec: ResizeSpec, ctx) -> _native.Output:
    """Interpolate-11 of ``x`` to ``target`` (scales or sizes per ``calc``) on the spec's axes (all when None)."""
    rank = rank_of(x)
    axes = i64(spec.axes if spec.axes is not None else list(range(rank)))
    node = ops.interpolate(
        x,
        target,
        spec.mode,
        calc,
        pads_begin=[0] * rank,
        pads_end=[0] * rank,
        coordinate_transformation_mode=spec.transform,
        nearest_mode=spec.nearest_mode,
        antialias=spec.antialias,
        cube_coeff=spec.cube_coeff,
        axes=axes,
    )
    return out(node)


def _scales(ctx, i: int) -> _native.Output:
    """Input ``i`` as f32 scales."""
    s = ctx.input(i)
    return s if s.get_element_type() == _native.Type("f32") else out(ops.convert(s, "f32"))


def _given(ctx, i: int) -> bool:
    """True when input ``i`` is present and not a known empty tensor (opset 11-12 pass unused inputs empty)."""
    if not ctx.has_input(i):
        return False
    v = ctx.const(i)
    return v is None or v.size > 0


@op("Resize", since=10)
def _resize_10(ctx):
    # Resize-10: inputs X, scales; coordinates as Upsample does (asymmetric, floor for nearest).
    spec = _spec(ctx, "asymmetric", "floor")
    return [_interpolate(ctx.input(0), _scales(ctx, 1), "scales", spec, ctx)]


def _keep_aspect_sizes(ctx, x: _native.Output, sizes: _native.Output, axes: list[int]) -> _native.Output:
    """Sizes rescaled by one common factor (the smallest or largest sizes/input ratio), rounded half up."""
    policy = ctx.attr("keep_aspect_ratio_policy", "stretch")
    if policy == "stretch":
        return sizes
    if policy not in ("not_larger", "not_smaller"):
        raise _fail(f"keep_aspect_ratio_policy must be stretch, not_larger or not_smaller, got '{policy}'")
    current = out(ops.convert(ops.gather(ops.shape_of(x, "i64"), i64(axes), i64(0)), "f32"))
    ratios = out(ops.divide(ops.convert(sizes, "f32"), current))
    reduce = ops.reduce_min if policy == "not_larger" else ops.reduce_max
    scale = out(reduce(ratios, i64([0]), False))
    scaled = ops.floor(ops.add(ops.multiply(current, scale), np.float32(0.5)))
    return out(ops.convert(scaled, "i64"))


@op("Resize", since=11)
def _resize(ctx):
    x = ctx.input(0)
    scales = ctx.const(2) if _given(ctx, 2) else None
    sizes = ctx.const(3) if _given(ctx, 3) else None
    if (scales is not None or sizes is not None) and needs_matrices(ctx, scales):
        return [resize_by_matrices(ctx, scales, sizes)]
    spec = _spec(ctx, "half_pixel", "round_prefer_floor")
    if _given(ctx, 3):
        axes = spec.axes if spec.axes is not None else list(range(rank_of(x)))
        spec.axes = axes
        sizes = _keep_aspect_sizes(ctx, x, ctx.input(3), axes)
        return [_interpolate(x, sizes, "sizes", spec, ctx)]
    if not _given(ctx, 2):
        raise _native.ParseError("needs either scales (input 2) or sizes (input 3)")
    return [_interpolate(x, _scales(ctx, 2), "scales", spec, ctx)]


def _upsample_spec(ctx) -> ResizeSpec:
    mode = ctx.attr("mode", "nearest")
    mode = "linear" if mode == "bilinear" else mode
    ctx.attrs["mode"] = mode
    return _spec(ctx, "asymmetric", "floor")


@op("Upsample", since=7)
def _upsample_attr(ctx):
    scales = np.asarray(ctx.attr("scales"), np.float32)
    return [_interpolate(ctx.input(0), scales, "scales", _upsample_spec(ctx), ctx)]


@op("Upsample", since=9)
def _upsample_input(ctx):
    return [_interpolate(ctx.input(0), _scales(ctx, 1), "scales", _upsample_spec(ctx), ctx)]
