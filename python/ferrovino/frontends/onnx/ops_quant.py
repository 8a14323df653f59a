"""Translators of ONNX quantisation ops: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear and the integer
matmul/convolution family (MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv).

The float8/float4/2-bit ONNX types have no ferrovino element type; models using them are rejected when their
types are read.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from ... import _native
from ... import opset16 as ops
from .ops_elementwise import narrow_float_convert
from .ops_tensor_common import i64, rank_of, static_dims
from .registry import lookup, op
from .types import element_type

# Integer element type → (lowest, highest) representable value.
_RANGES = {
    "u8": (0, 255),
    "i8": (-128, 127),
    "u16": (0, 65535),
    "i16": (-32768, 32767),
    "u4": (0, 15),
    "i4": (-8, 7),
    "u2": (0, 3),
    "i2": (-2, 1),
    "i32": (-(2**31), 2**31 - 1),
}


def _type_name(x) -> str:
    """The ferrovino element-type name of an output (e.g. 'f32', 'u8')."""
    return x.get_element_type().get_type_name()


def _blocked(param, x, axis: int, block_size: int) -> _native.Output:
    """Blocked quantisation: ``param`` (x's shape with axis ``axis`` cut into blocks) with each block's value repeated
    ``block_size`` times and cut to x's length on ``axis``."""
    rank = param.get_partial_shape().rank.get_length()
    shape = ops.shape_of(param).output(0)
    length = ops.gather(ops.shape_of(x), i64([axis]), i64(0)).output(0)
    expanded = ops.unsqueeze(param, i64(axis + 1)).output(0)
    reps = [1] * (rank + 1)
    reps[axis + 1] = block_size
    tiled = ops.tile(expanded, i64(reps)).output(0)
    head = ops.slice(shape, i64([0]), i64([axis]), i64([1])).output(0)
    tail = ops.slice(shape, i64([axis + 1]), i64([rank]), i64([1])).output(0)
    merged = ops.reshape(tiled, ops.concat([head, i64([-1]), tail], 0), False).output(0)
    return ops.slice(merged, i64([0]), length, i64([1]), i64([axis])).output(0)


def _along_axis(ctx, param, x, what: str) -> _native.Output:
    """A scale or zero point made broadcastable to ``x``: a scalar as is, a 1-D tensor laid along ``axis``,
    a tensor of x's rank expanded over ``block_size`` blocks."""
    rank, x_rank = rank_of(param, what), rank_of(x, "input 0")
    axis = ctx.attr("axis", 1)
    axis = axis + x_rank if axis < 0 else axis
    block_size = ctx.attr("block_size", 0)
    if rank == 0 or (block_size <= 0 and static_dims(param) == [1]):
        return param  # one value for the whole tensor broadcasts as it is
    if not 0 <= axis < x_rank:
        raise _native.ParseError(f"axis {ctx.attr('axis', 1)} is out of range for a rank-{x_rank} input")
    if block_size > 0:
        if rank != x_rank:
            raise _native.ParseError(f"blocked {what} must have the input's rank {x_rank}, got rank {rank}")
        return _blocked(param, x, axis, block_size)
    if rank != 1:
        raise _native.ParseError(f"{what} must be a scalar or 1-D (or blocked with block_size), got rank {rank}")
    return ops.unsqueeze(param, i64([i for i in range(x_rank) if i != axis])).output(0)


def _saturate_round(y, zero_point, out_type: str) -> _native.Output:
    """round-half-to-even(y) + zero_point, clamped to ``out_type``'s range and converted to it."""
    y = ops.round(y, "half_to_even").output(0)
    if zero_point is not None:
        y = ops.add(y, ops.convert_like(zero_point, y)).output(0)
    lo, hi = _RANGES[out_type]
    return ops.convert(ops.clamp(y, lo, hi), out_type).output(0)


# Float targets: x / scale + zero point is converted (saturating by default) without integer rounding.
_FLOAT_TARGETS = ("f8e4m3", "f8e4m3fnuz", "f8e5m2", "f8e5m2fnuz", "f4e2m1")


def _quantized_type(out_type: str) -> str:
    """``out_type`` when ferrovino can quantise to it, else an error."""
    if (out_type not in _RANGES or out_type == "i32") and out_type not in _FLOAT_TARGETS:
        expected = ", ".join([t for t in _RANGES if t != "i32"] + list(_FLOAT_TARGETS))
        raise _native.UnsupportedError(f"cannot quantise to {out_type}; expected one of {expected}")
    return out_type


@op("QuantizeLinear", since=10)
def _quantize_linear(ctx):
    x = ctx.input(0)
    zero_point = ctx.input(2) if ctx.has_input(2) else None
    declared = ctx.attr("output_dtype")
    out_type = element_type(declared) if declared else "u8"
    if zero_point is not None:
        if declared and _type_name(zero_point) != out_type:
            raise _native.ParseError(f"output_dtype {out_type} differs from the zero point's type {_type_name(zero_point)}")
        out_type = _type_name(zero_point)
    out_type = _quantized_type(out_type)
    precision = ctx.attr("precision")
    compute = element_type(precision) if precision else ("f64" if _type_name(x) == "f64" else "f32")
    scale = ops.convert(_along_axis(ctx, ctx.input(1), x, "y_scale"), compute).output(0)
    y = ops.divide(ops.convert(x, compute), scale).output(0)
    zp = None if zero_point is None else _along_axis(ctx, zero_point, x, "y_zero_point")
    if out_type in _FLOAT_TARGETS:
        if zp is not None:
            y = ops.add(y, ops.convert(zp, compute)).output(0)
        return [narrow_float_convert(y, out_type, bool(ctx.attr("saturate", 1)))]
    return [_saturate_round(y, zp, out_type)]


@op("DequantizeLinear", since=10)
def _dequantize_linear(ctx):
    x, scale = ctx.input(0), ctx.input(1)
    declared = ctx.attr("output_dtype")
    y = ops.convert(x, "f32").output(0)
    if ctx.has_input(2):
        zero_point = ctx.input(2)
        if _type_name(zero_point) != _type_name(x):
            raise _native.ParseError(f"x_zero_point has type {_type_name(zero_point)}, expected x's type {_type_name(x)}")
        y = ops.subtract(y, ops.convert(_along_axis(ctx, zero_point, x, "x_zero_point"), "f32")).output(0)
    y = ops.multiply(y, ops.convert(_along_axis(ctx, scale, x, "x_scale"), "f32")).output(0)
    return [ops.convert(y, element_type(declared) if declared else _type_name(scale)).output(0)]


@op("DynamicQuantizeLinear", since=11)
def _dynamic_quantize_linear(ctx):
    x = ops.convert(ctx.input(0), "f32").output(0)
    axes = i64(list(range(rank_of(x, "x"))))
    zero = np.array(0, np.float32)
    high = ops.maximum(ops.reduce_max(x, axes, False), zero).output(0)
    low = ops.minimum(ops.reduce_min(x, axes, False), zero).output(0)
    span = ops.subtract(high, low).output(0)
    span = ops.select(ops.equal(span, zero), np.array(1, np.float32), span).output(0)
    scale = ops.divide(span, np.array(255, np.float32)).output(0)
    zp = ops.round(ops.clamp(ops.negative(ops.divide(low, scale)), 0, 255), "half_to_even").output(0)
    y = _saturate_round(ops.divide(x, scale).output(0), zp, "u8")
    return [y, ops.convert_like(scale, ctx.input(0)).output(0), ops.convert(zp, "u8").output(0)]


def _centered(ctx, x, zero_point_index: int, per_row: bool) -> _native.Output:
    """``x - zero_point`` in i32 (no zero point when the input is absent). A 1-D zero point of a matmul's left
    operand (``per_row``) holds one value per row."""
    y = ops.convert(x, "i32").output(0)
    if not ctx.has_input(zero_point_index):
        return y
    zp = ops.convert(ctx.input(zero_point_index), "i32").output(0)
    if per_row and rank_of(zp, f"input {zero_point_index}") == 1:
        zp = ops.unsqueeze(zp, i64(-1)).output(0)
    return ops.subtract(y, zp).output(0)


def _filters_centered(ctx, w, zero_point_index: int) -> _native.Output:
    """Convolution filters minus their zero point in i32; a 1-D zero point holds one value per output channel."""
    y = ops.convert(w, "i32").output(0)
    if not ctx.has_input(zero_point_index):
        return y
    zp = ops.convert(ctx.input(zero_point_index), "i32").output(0)
    if rank_of(zp, f"input {zero_point_index}") == 1:
        zp = ops.unsqueeze(zp, i64(list(range(1, rank_of(w, "w"))))).output(0)
    return ops.subtract(y, zp).output(0)


def _convolve(ctx, x, w, bias: Optional[_native.Output] = None) -> _native.Output:
    """The ONNX Conv of ``x`` and ``w`` (plus ``bias``) with this node's geometry attributes, through the Conv
    translator."""
    conv = lookup("", "Conv", max(ctx.opset, 11))
    if conv is None:
        raise _native.UnsupportedError("needs the Conv translator, which is not registered")
    inputs = [x, w] + ([bias] if bias is not None else [])
    return conv(dataclasses.replace(ctx, inputs=inputs, constants=[None] * len(inputs)))[0]


def _requantize(acc, multiplier, zero_point: Optional[_native.Output], out_type: str) -> _native.Output:
    """An i32 accumulator times the float ``multiplier`` (in f64), plus the zero point, saturated to ``out_type``."""
    y = ops.multiply(ops.convert(acc, "f64"), ops.convert(multiplier, "f64")).output(0)
    return _saturate_round(y, zero_point, out_type)


@op("MatMulInteger", since=10)
def _matmul_integer(ctx):
    a = _centered(ctx, ctx.input(0), 2, per_row=True)
    b = _centered(ctx, ctx.input(1), 3, per_row=False)
    return [ops.matmul(a, b, False, False).output(0)]


@op("ConvInteger", since=10)
def _conv_integer(ctx):
    x = _centered(ctx, ctx.input(0), 2, per_row=False)
    w = _filters_centered(ctx, ctx.input(1), 3)
    return [_convolve(ctx, x, w)]


@op("QLinearMatMul", since=10)
def _qlinear_matmul(ctx):
    a = _centered(ctx, ctx.input(0), 2, per_row=True)
    b = _centered(ctx, ctx.input(3), 5, per_row=False)
    a_scale, b_scale, y_scale = ctx.input(1), ctx.input(4), ctx.input(6)
    if rank_of(a_scale, "a_scale") == 1:
        a_scale = ops.unsqueeze(a_scale, i64(-1)).output(0)
    multiplier = ops.divide(ops.multiply(a_scale, b_scale), y_scale).output(0)
    zero_point = ctx.input(7) if ctx.has_input(7) else None
    out_type = _quantized_type(_type_name(zero_point if zero_point is not None else ctx.input(0)))
    return [_requantize(ops.matmul(a, b, False, False).output(0), multiplier, zero_point, out_type)]


@op("QLinearConv", since=10)
def _qlinear_conv(ctx):
    x = _centered(ctx, ctx.input(0), 2, per_row=False)
    w = _filters_centered(ctx, ctx.input(3), 5)
    acc = _convolve(ctx, x, w, ctx.input(8) if ctx.has_input(8) else None)
    w_scale = ctx.input(4)
    if rank_of(w_scale, "w_scale") == 1:
        spatial = rank_of(ctx.input(3), "w") - 2
        w_scale = ops.unsqueeze(w_scale, i64([0, *range(2, 2 + spatial)])).output(0)
    multiplier = ops.divide(ops.multiply(ctx.input(1), w_scale), ctx.input(6)).output(0)
    zero_point = ctx.input(7) if ctx.has_input(7) else None
    out_type = _quantized_type(_type_name(zero_point if zero_point is not None else ctx.input(0)))
    return [_requantize(acc, multiplier, zero_point, out_type)]
