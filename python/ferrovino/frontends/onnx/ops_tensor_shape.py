"""Translators of ONNX shape and layout ops: Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze, Concat, Split,
Slice, Transpose, Expand, Tile, ConstantOfShape, Range and EyeLike."""

from __future__ import annotations

import numpy as np

from ... import _native
from ... import opset16 as ops
from .ops_tensor_common import (
    INT64_MAX,
    as_i64,
    dim,
    i64,
    ints_arg,
    normalize_axis,
    ones_like_vector,
    out,
    rank_of,
    scalar,
    shape_of,
    static_dims,
)
from .registry import op
from .types import element_type


@op("Shape")
def _shape(ctx):
    shape = shape_of(ctx.input(0))
    start, end = ctx.attr("start", 0), ctx.attr("end")
    if start == 0 and end is None:
        return [shape]
    stop = INT64_MAX if end is None else end
    return [out(ops.slice(shape, i64([start]), i64([stop]), i64([1])))]


@op("Size")
def _size(ctx):
    return [out(ops.reduce_prod(shape_of(ctx.input(0)), i64(0), False))]


@op("Reshape", since=1)
def _reshape_attr(ctx):
    shape = ctx.attr("shape")
    if shape is None:
        raise _native.ParseError("Reshape-1 needs the 'shape' attribute")
    return [out(ops.reshape(ctx.input(0), i64(shape), True))]


@op("Reshape", since=5)
def _reshape(ctx):
    # allowzero=1 keeps a 0 in the target shape as a zero-length dimension instead of copying the input's.
    special_zero = not ctx.attr("allowzero", 0)
    return [out(ops.reshape(ctx.input(0), ints_arg(ctx, 1), special_zero))]


def _product(v: _native.Output) -> _native.Output:
    """The product of a 1-D i64 value as a 1-element vector (1 when it is empty)."""
    return out(ops.reduce_prod(v, i64([0]), True))


@op("Flatten")
def _flatten(ctx):
    x = ctx.input(0)
    axis = ctx.attr("axis", 1)
    dims = static_dims(x)
    if dims is not None:
        if not -len(dims) <= axis <= len(dims):
            raise _native.ParseError(f"axis {axis} is outside [-{len(dims)}, {len(dims)}]")
        target = i64([int(np.prod(dims[:axis])), int(np.prod(dims[axis:]))])
    else:
        # Slicing the shape at a negative axis counts from the back, as ONNX's negative axis does.
        shape = shape_of(x)
        head = out(ops.slice(shape, i64([0]), i64([axis]), i64([1])))
        tail = out(ops.slice(shape, i64([axis]), i64([INT64_MAX]), i64([1])))
        target = out(ops.concat([_product(head), _product(tail)], 0))
    return [out(ops.reshape(x, target, False))]


def _squeeze(x: _native.Output, axes) -> _native.Output:
    if axes is None:
        return out(_native.make_node("Squeeze", 1, [x], {}))
    return out(ops.squeeze(x, axes))


@op("Squeeze", since=1)
def _squeeze_attr(ctx):
    return [_squeeze(ctx.input(0), ints_arg(ctx, 1, "axes"))]


@op("Squeeze", since=13)
def _squeeze_input(ctx):
    return [_squeeze(ctx.input(0), ints_arg(ctx, 1))]


def _required(v, what: str):
    if v is None:
        raise _native.ParseError(f"{what} is required")
    return v


@op("Unsqueeze", since=1)
def _unsqueeze_attr(ctx):
    return [out(ops.unsqueeze(ctx.input(0), _required(ints_arg(ctx, 1, "axes"), "attribute 'axes'")))]


@op("Unsqueeze", since=13)
def _unsqueeze_input(ctx):
    return [out(ops.unsqueeze(ctx.input(0), _required(ints_arg(ctx, 1), "input 1 (axes)")))]


@op("Concat")
def _concat(ctx):
    inputs = [i for i in ctx.inputs if i is not None]
    return [out(ops.concat(inputs, ctx.attr("axis", 1)))]


def _split(ctx, lengths, count=None) -> list:
    """Splits input 0 along the ``axis`` attribute: by ``lengths`` when given, else into ``count`` (default: the
    node's output count) parts, the last one shorter when the dimension does not divide evenly."""
    x = ctx.input(0)
    axis = ctx.attr("axis", 0)
    if lengths is not None:
        node = ops.variadic_split(x, i64(axis), lengths)
        return [node.output(i) for i in range(ctx.output_count())]
    n = ctx.output_count() if count is None else count
    dims = static_dims(x)
    if dims is not None:
        size = dims[normalize_axis(axis, len(dims))]
        if size % n:
            chunk = -(-size // n)
            return _split(ctx, i64([chunk] * (n - 1) + [size - chunk * (n - 1)]))
    node = ops.split(x, i64(axis), n)
    return [node.output(i) for i in range(n)]


@op("Split", since=1)
def _split_v1(ctx):
    lengths = ints_arg(ctx, 1) if ctx.has_input(1) else ints_arg(ctx, 1, "split")
    return _split(ctx, lengths)


@op("Split", since=2)
def _split_attr(ctx):
    return _split(ctx, ints_arg(ctx, 1, "split"))


@op("Split", since=13)
def _split_input(ctx):
    return _split(ctx, ints_arg(ctx, 1))


@op("Split", since=18)
def _split_num_outputs(ctx):
    return _split(ctx, ints_arg(ctx, 1), ctx.attr("num_outputs"))


def _slice(x, starts, ends, axes, steps) -> _native.Output:
    steps = ones_like_vector(starts) if steps is None else steps
    if axes is None:
        return out(ops.slice(x, starts, ends, steps))
    return out(ops.slice(x, starts, ends, steps, axes))


@op("Slice", since=1)
def _slice_attr(ctx):
    starts = _required(ints_arg(ctx, 1, "starts"), "attribute 'starts'")
    ends = _required(ints_arg(ctx, 1, "ends"), "attribute 'ends'")
    return [_slice(ctx.input(0), starts, ends, ints_arg(ctx, 1, "axes"), None)]


@op("Slice", since=10)
def _slice_input(ctx):
    return [_slice(ctx.input(0), ints_arg(ctx, 1), ints_arg(ctx, 2), ints_arg(ctx, 3), ints_arg(ctx, 4))]


@op("Transpose")
def _transpose(ctx):
    x = ctx.input(0)
    perm = ctx.attr("perm")
    if perm is None:
        # No permutation reverses the axes; an empty order asks the same of ferrovino's Transpose.
        perm = [] if x.get_partial_shape().rank.is_dynamic else list(range(rank_of(x)))[::-1]
    return [out(ops.transpose(x, i64(perm)))]


@op("Expand")
def _expand(ctx):
    return [out(ops.broadcast(ctx.input(0), ints_arg(ctx, 1), broadcast_spec="BIDIRECTIONAL"))]


@op("Tile", since=1)
def _tile_axis(ctx):
    # Tile-1 repeats along one axis: `tiles` times along input 2's axis.
    x = ctx.input(0)
    axis = ctx.const(2)
    if axis is None:
        raise _native.UnsupportedError("Tile-1 needs input 2 (axis) to be an initializer or a Constant")
    rank = rank_of(x)
    tiles = out(ops.reshape(as_i64(ctx.input(1)), i64([1]), False))
    repeats = i64(np.ones(rank, np.int64))
    index = i64([normalize_axis(int(np.asarray(axis).reshape(-1)[0]), rank)])
    return [out(ops.tile(x, out(ops.scatter_update(repeats, index, tiles, i64(0)))))]


@op("Tile", since=6)
def _tile(ctx):
    return [out(ops.tile(ctx.input(0), ints_arg(ctx, 1)))]


@op("ConstantOfShape")
def _constant_of_shape(ctx):
    value = ctx.attr("value")
    value = np.zeros((), np.float32) if value is None else np.asarray(value).reshape(())
    return [out(ops.broadcast(value, ints_arg(ctx, 0)))]


@op("Range")
def _range(ctx):
    start, limit, delta = (scalar(ctx.input(i)) for i in range(3))
    return [out(ops.range(start, limit, delta, start.get_element_type()))]


@op("EyeLike")
def _eye_like(ctx):
    x = ctx.input(0)
    if rank_of(x) != 2:
        raise _native.ParseError(f"input 0 must be 2-D, got rank {rank_of(x)}")
    dtype = ctx.attr("dtype")
    out_type = x.get_element_type() if dtype is None else element_type(dtype)
    k = i64(ctx.attr("k", 0))
    return [out(ops.eye(dim(x, 0), dim(x, 1), k, out_type))]
