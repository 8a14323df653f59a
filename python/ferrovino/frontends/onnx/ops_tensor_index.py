"""Translators of ONNX indexing ops: Gather*, Scatter*, OneHot, NonZero, Compress, ReverseSequence, Trilu and
TensorScatter."""

from __future__ import annotations

from ... import _native
from ... import opset16 as ops
from .ops_tensor_common import (
    arange,
    as_i64,
    const_like,
    dim,
    i64,
    normalize_axis,
    out,
    rank_of,
    scalar,
    shape_of,
)
from .registry import op


@op("Gather")
def _gather(ctx):
    return [out(ops.gather(ctx.input(0), ctx.input(1), i64(ctx.attr("axis", 0))))]


@op("GatherElements")
def _gather_elements(ctx):
    return [out(ops.gather_elements(ctx.input(0), ctx.input(1), ctx.attr("axis", 0)))]


@op("GatherND")
def _gather_nd(ctx):
    return [out(ops.gather_nd(ctx.input(0), ctx.input(1), ctx.attr("batch_dims", 0)))]


# ONNX scatter reduction → ferrovino's name of it.
_REDUCTIONS = {"none": "none", "add": "sum", "mul": "prod", "max": "max", "min": "min"}


def _reduction(ctx) -> str:
    name = ctx.attr("reduction", "none")
    if name not in _REDUCTIONS:
        raise _native.ParseError(f"reduction '{name}' is not one of {sorted(_REDUCTIONS)}")
    return _REDUCTIONS[name]


@op("Scatter", since=9)
@op("ScatterElements", since=11)
def _scatter_elements(ctx):
    data, indices, updates = (ctx.input(i) for i in range(3))
    axis = i64(ctx.attr("axis", 0))
    return [out(ops.scatter_elements_update(data, indices, updates, axis, _reduction(ctx), True))]


@op("ScatterND", since=11)
def _scatter_nd(ctx):
    data, indices, updates = (ctx.input(i) for i in range(3))
    reduction = _reduction(ctx)
    return [out(ops.scatter_nd_update(data, indices, updates, None if reduction == "none" else reduction))]


@op("OneHot")
def _one_hot(ctx):
    indices, depth, values = ctx.input(0), ctx.input(1), ctx.input(2)
    if not indices.get_element_type().is_integral():
        indices = as_i64(indices)
    depth = scalar(as_i64(depth))
    off = out(ops.gather(values, i64(0), i64(0)))
    on = out(ops.gather(values, i64(1), i64(0)))
    # Negative indices count from the back; ones outside [-depth, depth) select no class.
    return [out(ops.one_hot(indices, depth, on, off, ctx.attr("axis", -1), "normalize"))]


@op("NonZero")
def _non_zero(ctx):
    return [out(ops.non_zero(ctx.input(0), "i64"))]


@op("Compress")
def _compress(ctx):
    x, condition = ctx.input(0), ctx.input(1)
    axis = ctx.attr("axis")
    if axis is None:
        x, axis = out(ops.reshape(x, i64([-1]), False)), 0
    chosen = out(ops.reshape(out(ops.non_zero(condition, "i64")), i64([-1]), False))
    return [out(ops.gather(x, chosen, i64(axis)))]


def _swap01(x: _native.Output, rank: int) -> _native.Output:
    return out(ops.transpose(x, i64([1, 0, *range(2, rank)])))


@op("ReverseSequence")
def _reverse_sequence(ctx):
    x, lens = ctx.input(0), as_i64(ctx.input(1))
    rank = rank_of(x)
    batch_axis = normalize_axis(ctx.attr("batch_axis", 1), rank)
    time_axis = normalize_axis(ctx.attr("time_axis", 0), rank)
    if {batch_axis, time_axis} != {0, 1}:
        raise _native.ParseError(f"batch_axis and time_axis must be 0 and 1, got {batch_axis} and {time_axis}")
    xb = _swap01(x, rank) if time_axis == 0 else x  # [batch, time, ...]
    t = out(ops.unsqueeze(arange(dim(xb, 1)), i64(0)))  # [1, time]
    n = out(ops.unsqueeze(lens, i64(1)))  # [batch, 1]
    reversed_t = out(ops.subtract(out(ops.subtract(n, i64(1))), t))
    source = out(ops.select(out(ops.less(t, n)), reversed_t, t))  # [batch, time]
    y = out(ops.gather(xb, source, i64(1), 1))
    return [_swap01(y, rank) if time_axis == 0 else y]


@op("Trilu", since=14)
def _trilu(ctx):
    x = ctx.input(0)
    rank = rank_of(x)
    if rank < 2:
        raise _native.ParseError(f"input 0 must have rank >= 2, got {rank}")
    k = scalar(as_i64(ctx.input(1))) if ctx.has_input(1) else i64(0)
    rows = out(ops.unsqueeze(arange(dim(x, rank - 2)), i64(1)))
    cols = out(ops.unsqueeze(arange(dim(x, rank - 1)), i64(0)))
    offset = out(ops.subtract(cols, rows))  # column - row: 0 on the main diagonal
    keep = ops.greater_equal(offset, k) if ctx.attr("upper", 1) else ops.less_equal(offset, k)
    return [out(ops.select(out(keep), x, const_like(0, x)))]


@op("TensorScatter", since=24)
def _tensor_scatter(ctx):
    cache, update = ctx.input(0), ctx.input(1)
    rank = rank_of(cache)
    axis = normalize_axis(ctx.attr("axis", -2), rank)
    if axis == 0:
        raise _native.ParseError("axis must not be the batch axis 0")
    mode = ctx.attr("mode", "linear")
    if mode not in ("linear", "circular"):
        raise _native.ParseError(f"mode '{mode}' is not 'linear' or 'circular'")
    ones = [1] * rank
    steps = out(ops.reshape(arange(dim(update, axis)), i64(ones[:axis] + [-1] + ones[axis + 1:]), False))
    position = steps
    if ctx.has_input(2):
        starts = out(ops.reshape(as_i64(ctx.input(2)), i64([-1] + ones[1:]), False))
        position = out(ops.add(starts, steps))
    if mode == "circular":
        position = out(ops.floor_mod(position, dim(cache, axis)))
    indices = out(ops.broadcast(position, shape_of(update)))
    return [out(ops.scatter_elements_update(cache, indices, update, i64(axis), "none", True))]
