"""Translators of ONNX pooling: MaxPool (with indices), AveragePool, LpPool, the global pools and MaxUnpool."""

from __future__ import annotations

import numpy as np

from ... import _native
from ... import opset16 as ops
from .ops_nn_common import axes_range, concat_ints, const_like, dims, i64, out, product, rank_of, shape_of
from .ops_nn_conv import Window
from .registry import op


def _kernel(ctx, spatial: int) -> list[int]:
    kernel = ctx.attr("kernel_shape")
    if kernel is None or len(kernel) != spatial:
        raise _native.ParseError(f"kernel_shape must hold {spatial} values, got {kernel}")
    return [int(k) for k in kernel]


def _rounding(ctx) -> str:
    """ONNX ceil_mode keeps a last window only when it starts inside the input or its left padding."""
    return "ceil_torch" if ctx.attr("ceil_mode", 0) else "floor"


def _pool_geometry(ctx, x: _native.Output):
    """(window, kernel) of a pooling node over ``x``."""
    spatial = rank_of(x) - 2
    return Window.of(ctx, spatial), _kernel(ctx, spatial)


def _column_major(indices: _native.Output, x: _native.Output) -> _native.Output:
    """Row-major flat indices of a 2-D pooling turned into ONNX's storage_order=1 (column-major per plane)."""
    h = out(ops.gather(shape_of(x), i64(2), i64(0)))
    w = out(ops.gather(shape_of(x), i64(3), i64(0)))
    plane = out(ops.multiply(h, w))
    within = out(ops.floor_mod(indices, plane))
    base = out(ops.subtract(indices, within))
    row = out(ops.divide(within, w))
    col = out(ops.floor_mod(within, w))
    return out(ops.add(base, ops.add(ops.multiply(col, h), row)))


@op("MaxPool")
def _max_pool(ctx):
    x = ctx.input(0)
    win, kernel = _pool_geometry(ctx, x)
    node = ops.max_pool(
        x, win.strides, win.dilations, win.pads_begin, win.pads_end, kernel, _rounding(ctx), win.auto_pad, "i64", 0
    )
    indices = node.output(1)
    if ctx.attr("storage_order", 0):
        if len(kernel) != 2:
            raise _native.UnsupportedError(f"storage_order=1 is supported for 2-D pooling only, got {len(kernel)}-D")
        indices = _column_major(indices, x)
    return [node.output(0), indices]


@op("AveragePool")
def _average_pool(ctx):
    x = ctx.input(0)
    win, kernel = _pool_geometry(ctx, x)
    exclude_pad = not ctx.attr("count_include_pad", 0)
    node = ops.avg_pool(
        x, win.strides, win.pads_begin, win.pads_end, kernel, exclude_pad, _rounding(ctx), win.auto_pad, win.dilations
    )
    return [out(node)]


@op("LpPool")
def _lp_pool(ctx):
    # The window sums of |x|^p are a convolution of every channel alone with a kernel of ones.
    x = ctx.input(0)
    win, kernel = _pool_geometry(ctx, x)
    p = ctx.attr("p", 2)
    powered = out(ops.power(ops.abs(x), const_like(p, x)))
    planes = out(ops.reshape(powered, concat_ints([[-1, 1], dims(x, 2)]), False))
    ones = out(ops.convert_like(np.ones([1, 1, *kernel], np.float32), x))
    sums = out(ops.convolution(planes, ones, win.strides, win.pads_begin, win.pads_end, win.dilations, win.auto_pad))
    if ctx.attr("ceil_mode", 0):
        raise _native.UnsupportedError("ceil_mode=1 is not supported")
    sums = out(ops.reshape(sums, concat_ints([dims(x, 0, 2), dims(sums, 2)]), False))
    return [out(ops.power(sums, const_like(1.0 / p, x)))]


def _global_pool(reduce):
    def translate(ctx):
        x = ctx.input(0)
        return [out(reduce(x, axes_range(2, rank_of(x)), True))]

    return translate


op("GlobalAveragePool")(_global_pool(ops.reduce_mean))
op("GlobalMaxPool")(_global_pool(ops.reduce_max))


@op("GlobalLpPool", since=2)
def _global_lp_pool(ctx):
    x = ctx.input(0)
    p = ctx.attr("p", 2)
    axes = axes_range(2, rank_of(x))
    total = ops.reduce_sum(ops.power(ops.abs(x), const_like(p, x)), axes, True)
    return [out(ops.power(total, const_like(1.0 / p, x)))]


def _unpooled_shape(ctx, x: _native.Output) -> _native.Output:
    """The shape MaxUnpool's indices address: the inverse of the pooling geometry."""
    win, kernel = _pool_geometry(ctx, x)
    spatial = dims(x, 2)
    stride, k = i64(win.strides), i64(kernel)
    pads = i64(win.pads_begin) + i64(win.pads_end)
    size = ops.subtract(ops.add(ops.multiply(ops.subtract(spatial, i64(1)), stride), k), pads)
    return concat_ints([dims(x, 0, 2), out(size)])


@op("MaxUnpool", since=9)
def _max_unpool(ctx):
    # Values go to their flat indices in the inferred shape; an output_shape input pads that with zeros at the end.
    x, indices = ctx.input(0), ctx.input(1)
    shape = _unpooled_shape(ctx, x)
    flat = out(ops.reshape(x, i64([-1]), False))
    zeros = out(ops.broadcast(const_like(0, x), product(shape)))
    where = out(ops.reshape(indices, i64([-1]), False))
    scattered = ops.scatter_elements_update(zeros, where, flat, i64(0))
    y = out(ops.reshape(scattered, shape, False))
    if ctx.has_input(2):
        rank = rank_of(x)
        grow = out(ops.subtract(ops.convert(ctx.input(2), "i64"), shape))
        y = out(ops.pad(y, i64([0] * rank), grow, "constant", const_like(0, x)))
    return [y]
