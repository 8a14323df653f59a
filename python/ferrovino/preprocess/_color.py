"""Colour conversions built from ordinary ops: NV12/I420 (single or multi-plane) to RGB/BGR/GRAY with OpenVINO's
YUV formulas, RGB <-> BGR, RGBX/BGRX to RGB/BGR and RGB/BGR to GRAY. Images are NHWC here."""

from __future__ import annotations

from typing import Any

import numpy as np

from ferrovino import UnsupportedError
from ferrovino import opset13 as ops
from ferrovino.preprocess._enums import YUV, ColorFormat
from ferrovino.preprocess._graph import State, Step, Target, axis_of, gather_channels, slice_axes

_RGB_LIKE = {ColorFormat.RGB, ColorFormat.BGR}
_GRAY_WEIGHTS = (0.299, 0.587, 0.114)
_END = np.iinfo(np.int64).max


def convert_color(dst: ColorFormat) -> Step:
    """Convert from the tensor's colour format to ``dst``."""

    def step(state: State, target: Target) -> State:
        src = state.color
        if src == dst:
            return state
        if src in YUV and dst in _RGB_LIKE | {ColorFormat.GRAY}:
            return _from_yuv(state, dst)
        if src in _RGB_LIKE and dst in _RGB_LIKE:
            return state.with_port(gather_channels(state, [2, 1, 0]), color=dst)
        if src in _RGB_LIKE and dst == ColorFormat.GRAY:
            return _to_gray(state)
        if src in (ColorFormat.RGBX, ColorFormat.BGRX) and dst in _RGB_LIKE:
            return _drop_alpha(state, dst)
        if src == ColorFormat.UNDEFINED:
            raise UnsupportedError(
                f"convert_color({dst.name}) needs the tensor's colour format; set it with tensor().set_color_format"
            )
        raise UnsupportedError(f"colour format {src.name} cannot be converted to {dst.name}")

    return step


def _drop_alpha(state: State, dst: ColorFormat) -> State:
    """RGBX/BGRX -> RGB/BGR: the first three channels, reversed when the order changes."""
    axis = axis_of(state, "C", "convert_color")
    rgb = state.with_port(slice_axes(state.port, [0], [3], [axis]), color=dst)
    same_order = (state.color == ColorFormat.RGBX) == (dst == ColorFormat.RGB)
    return rgb if same_order else rgb.with_port(gather_channels(rgb, [2, 1, 0]))


def _to_gray(state: State) -> State:
    """RGB/BGR -> GRAY: 0.299 R + 0.587 G + 0.114 B over the channel axis (kept, of length 1)."""
    axis = axis_of(state, "C", "convert_color")
    weights = _GRAY_WEIGHTS if state.color == ColorFormat.RGB else _GRAY_WEIGHTS[::-1]
    shape = [1] * state.rank
    shape[axis] = 3
    x, restore = _as_float(state.port)
    w = np.array(weights, dtype=np.float32).reshape(shape)
    gray = ops.reduce_sum(ops.multiply(x, w), np.array([axis], dtype=np.int64), keep_dims=True)
    return state.with_port(restore(gray), color=ColorFormat.GRAY)


def _as_float(port: Any) -> tuple:
    """``port`` as f32, and a function converting a result back to the port's type (rounding for integers)."""
    et = port.get_element_type()
    if et.get_type_name() == "f32":
        return port, lambda node: node
    if et.is_real():
        return ops.convert(port, "f32"), lambda node: ops.convert(node, et.get_type_name())
    return ops.convert(port, "f32"), lambda node: ops.convert(ops.round(node, "half_away_from_zero"), et.get_type_name())


def _dim(shape: Any, axis: int) -> Any:
    """Dimension ``axis`` of a ShapeOf output, as a 1-element i64 tensor."""
    return ops.gather(shape, np.array([axis], dtype=np.int64), np.array(0, dtype=np.int64))


def _yuv_planes(state: State) -> tuple:
    """The Y, U and V planes (NHWC, one channel; U and V at half height and width) of a YUV tensor."""
    fmt, x = state.color, state.port
    if fmt == ColorFormat.NV12_TWO_PLANES:
        y, uv = state.planes
        return y, slice_axes(uv, [0], [1], [3]), slice_axes(uv, [1], [2], [3])
    if fmt == ColorFormat.I420_THREE_PLANES:
        return tuple(state.planes)
    shape = ops.shape_of(x)
    height = ops.divide(ops.multiply(_dim(shape, 1), np.array([2], dtype=np.int64)), np.array([3], dtype=np.int64))
    if fmt == ColorFormat.NV12_SINGLE_PLANE:
        y = slice_axes(x, [0], height, [1])
        uv = slice_axes(x, height, [_END], [1])
        return y, slice_axes(uv, [0], [_END], [2], step=2), slice_axes(uv, [1], [_END], [2], step=2)
    return _i420_single(x, shape, height)


def _i420_single(x: Any, shape: Any, height: Any) -> tuple:
    """Y, U and V of a single-plane I420 image ``[N, H*3/2, W, 1]``: consecutive blocks of H*W, H*W/4 and H*W/4."""
    two = np.array([2], dtype=np.int64)
    width = _dim(shape, 2)
    n = _dim(shape, 0)
    one = np.array([1], dtype=np.int64)
    area = ops.multiply(height, width)
    quarter = ops.divide(area, np.array([4], dtype=np.int64))
    flat = ops.reshape(x, np.array([0, -1], dtype=np.int64), special_zero=True)
    y_shape = ops.concat([n, height, width, one], 0)
    uv_shape = ops.concat([n, ops.divide(height, two), ops.divide(width, two), one], 0)
    u_end = ops.add(area, quarter)

    def block(begin: Any, end: Any, plane_shape: Any) -> Any:
        return ops.reshape(slice_axes(flat, begin, end, [1]), plane_shape, special_zero=False)

    zero = np.array([0], dtype=np.int64)
    return block(zero, area, y_shape), block(area, u_end, uv_shape), block(u_end, [_END], uv_shape)


def _from_yuv(state: State, dst: ColorFormat) -> State:
    """YUV -> GRAY (the Y plane) or RGB/BGR with OpenVINO's formulas (R = 1.164 (Y-16) + 1.596 (V-128), …)."""
    y, u, v = _yuv_planes(state)
    if dst == ColorFormat.GRAY:
        return state.with_port(y, color=dst)
    yf, restore = _as_float(y)
    uf, vf = (_upsample(_as_float(p)[0]) for p in (u, v))
    c = ops.subtract(yf, np.float32(16))
    d = ops.subtract(uf, np.float32(128))
    e = ops.subtract(vf, np.float32(128))
    luma = ops.multiply(c, np.float32(1.164))
    r = ops.add(luma, ops.multiply(e, np.float32(1.596)))
    g = ops.subtract(ops.subtract(luma, ops.multiply(d, np.float32(0.391))), ops.multiply(e, np.float32(0.813)))
    b = ops.add(luma, ops.multiply(d, np.float32(2.018)))
    channels = [r, g, b] if dst == ColorFormat.RGB else [b, g, r]
    clipped = ops.clamp(ops.concat(channels, 3), 0.0, 255.0)
    return state.with_port(restore(clipped), color=dst)


def _upsample(plane: Any) -> Any:
    """A half-resolution chroma plane repeated 2x2 (nearest neighbour) to full resolution."""
    return ops.interpolate(
        plane,
        np.array([2.0, 2.0], dtype=np.float32),
        mode="nearest",
        shape_calculation_mode="scales",
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
        axes=np.array([1, 2], dtype=np.int64),
    )
