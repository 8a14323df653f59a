"""Translators of ONNX reductions (Reduce*), ArgMax/ArgMin, TopK and the cumulative scans CumSum/CumProd."""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from ... import _native
from ... import opset16 as ops
from .registry import op

_I64_MIN = np.iinfo(np.int64).min


def i64(value) -> np.ndarray:
    """``value`` as an int64 numpy array (the type ferrovino's shape and axis inputs use)."""
    return np.asarray(value, dtype=np.int64)


def static_rank(x: _native.Output) -> Optional[int]:
    """The rank of ``x`` when it is known, else None."""
    rank = x.get_partial_shape().rank
    return rank.get_length() if rank.is_static else None


def rank_of(x: _native.Output) -> _native.Output:
    """The rank of ``x`` as a 1-element i64 tensor (a Constant when the rank is known)."""
    rank = static_rank(x)
    if rank is not None:
        return ops.constant(i64([rank])).output(0)
    return ops.shape_of(ops.shape_of(x, "i64"), "i64").output(0)


def as_scalar(x: _native.Output) -> _native.Output:
    """A one-element tensor (ONNX often gives scalars as shape [1]) reshaped to a 0-D tensor."""
    return ops.reshape(x, i64([]), False).output(0)


def scalar_like(value: float, like: _native.Output) -> _native.Output:
    """The number ``value`` as a 0-D constant of ``like``'s element type."""
    return ops.convert_like(np.array(value, np.float64), like).output(0)


def normalized_axis(axis: _native.Output, x: _native.Output) -> _native.Output:
    """A possibly negative runtime axis of ``x`` made non-negative (``axis mod rank``), as a 0-D i64 tensor."""
    axis = ops.convert(as_scalar(axis), "i64").output(0)
    return ops.floor_mod(axis, as_scalar(rank_of(x))).output(0)


# ---------------------------------------------------------------------------------------------------------------
# Reductions.


def _all_axes(x: _native.Output) -> _native.Output:
    """The axes 0..rank-1 of ``x``."""
    rank = static_rank(x)
    if rank is not None:
        return ops.constant(i64(np.arange(rank))).output(0)
    return ops.range(i64(0), as_scalar(rank_of(x)), i64(1), "i64").output(0)


def _runtime_axes(x: _native.Output, axes: _native.Output, noop: bool) -> _native.Output:
    """Axes given as a runtime tensor: when it is empty and ``noop`` is off, every axis of ``x``.

    Appending ``range(rank * (len(axes) == 0))`` adds all axes exactly when none were given."""
    axes = ops.convert(ops.reshape(axes, i64([-1]), False), "i64").output(0)
    if noop:
        return axes
    count = ops.shape_of(axes, "i64").output(0)
    empty = ops.convert(ops.equal(count, i64([0])), "i64").output(0)
    stop = as_scalar(ops.multiply(rank_of(x), empty).output(0))
    return ops.concat([axes, ops.range(i64(0), stop, i64(1), "i64")], 0).output(0)


def reduction_axes(ctx, axes_from_input: bool) -> _native.Output:
    """The axes a Reduce* node reduces: its ``axes`` attribute (older opsets) or its second input, every axis when
    none are given, and none at all when ``noop_with_empty_axes`` is set."""
    x = ctx.input(0)
    noop = bool(ctx.attr("noop_with_empty_axes", 0))
    if axes_from_input:
        if ctx.has_input(1) and ctx.const(1) is None:
            return _runtime_axes(x, ctx.input(1), noop)
        axes = ctx.const(1) if ctx.has_input(1) else None
    else:
        axes = ctx.attr("axes")
    if axes is not None and np.asarray(axes).size > 0:
        return ops.constant(i64(axes).reshape(-1)).output(0)
    return ops.constant(i64([])).output(0) if noop else _all_axes(x)


def _is_boolean(x: _native.Output) -> bool:
    return x.get_element_type().get_type_name() == "boolean"


def _log_sum_exp(x: _native.Output, axes: _native.Output, keep: bool) -> _native.Output:
    """log(sum(exp(x))) computed as m + log(sum(exp(x - m))) with m the (finite) maximum, so exp cannot overflow."""
    peak = ops.reduce_max(x, axes, True).output(0)
    peak = ops.select(ops.is_finite(peak), peak, scalar_like(0, x)).output(0)
    total = ops.reduce_sum(ops.exp(ops.subtract(x, peak)), axes, keep).output(0)
    if not keep:
        peak = ops.reduce_max(peak, axes, False).output(0)
    return ops.add(ops.log(total), peak).output(0)


def _may_be_empty(x: _native.Output) -> bool:
    """Whether some axis of ``x`` may have length 0 (an unknown or a zero length)."""
    shape = x.get_partial_shape()
    return not shape.rank.is_static or any(not d.is_static or d.get_length() == 0 for d in shape)


def _empty_gives(value: float, x: _native.Output, axes: _native.Output, result: _native.Output) -> _native.Output:
    """``result`` where the reduced set is non-empty, else ``value``: ONNX defines max/min of nothing as -inf/+inf
    where OpenVINO's ReduceMax/ReduceMin give the lowest/highest finite number."""
    if not x.get_element_type().is_real() or not _may_be_empty(x):
        return result
    lengths = ops.gather(ops.shape_of(x, "i64"), axes, i64(0)).output(0)
    empty = ops.equal(ops.reduce_prod(lengths, i64([0]), False), i64(0)).output(0)
    return ops.select(empty, scalar_like(value, x), result).output(0)


def _reduce_max(x, axes, keep):
    if _is_boolean(x):
        return ops.reduce_logical_or(x, axes, keep).output(0)
    return _empty_gives(-np.inf, x, axes, ops.reduce_max(x, axes, keep).output(0))


def _reduce_min(x, axes, keep):
    if _is_boolean(x):
        return ops.reduce_logical_and(x, axes, keep).output(0)
    return _empty_gives(np.inf, x, axes, ops.reduce_min(x, axes, keep).output(0))


def _plain(build) -> Callable:
    return lambda x, axes, keep: build(x, axes, keep).output(0)


# ONNX Reduce* op → (opset from which axes is an input, reduction of (data, axes, keep_dims)).
_REDUCTIONS: dict[str, tuple[int, Callable]] = {
    "ReduceSum": (13, _plain(ops.reduce_sum)),
    "ReduceMean": (18, _plain(ops.reduce_mean)),
    "ReduceMax": (18, _reduce_max),
    "ReduceMin": (18, _reduce_min),
    "ReduceProd": (18, _plain(ops.reduce_prod)),
    "ReduceL1": (18, _plain(ops.reduce_l1)),
    "ReduceL2": (18, _plain(ops.reduce_l2)),
    "ReduceSumSquare": (18, lambda x, axes, keep: ops.reduce_sum(ops.multiply(x, x), axes, keep).output(0)),
    "ReduceLogSum": (18, lambda x, axes, keep: ops.log(ops.reduce_sum(x, axes, keep)).output(0)),
    "ReduceLogSumExp": (18, _log_sum_exp),
}


def _register_reduction(onnx_name: str, input_since: int, reduce: Callable) -> None:
    def translator(axes_from_input: bool) -> Callable:
        def translate(ctx):
            axes = reduction_axes(ctx, axes_from_input)
            return [reduce(ctx.input(0), axes, bool(ctx.attr("keepdims", 1)))]

        return translate

    op(onnx_name, since=1)(translator(False))
    op(onnx_name, since=input_since)(translator(True))


for _name, (_since, _reduce) in _REDUCTIONS.items():
    _register_reduction(_name, _since, _reduce)


# ---------------------------------------------------------------------------------------------------------------
# ArgMax / ArgMin / TopK.


def reverse_along(x: _native.Output, axis: int) -> _native.Output:
    """``x`` with its elements along ``axis`` in reverse order."""
    return ops.slice(x, i64([-1]), i64([_I64_MIN]), i64([-1]), i64([axis])).output(0)


def _dim(x: _native.Output, axis: int) -> _native.Output:
    """The length of ``x`` along ``axis`` as a 1-element i64 tensor."""
    return ops.gather(ops.shape_of(x, "i64"), i64([axis]), i64(0)).output(0)


def _arg_extreme(ctx, mode: str) -> list:
    """ArgMax/ArgMin: TopK with k=1 (stable, so ties give the first index); ``select_last_index`` runs it on the
    reversed axis and maps the index back."""
    x = ctx.input(0)
    axis = ctx.attr("axis", 0)
    last = bool(ctx.attr("select_last_index", 0))
    data = reverse_along(x, axis) if last else x
    index = ops.topk(data, i64(1), axis, mode, "none", "i64", True).output(1)
    if last:
        top = ops.subtract(_dim(x, axis), i64(1)).output(0)
        rank = static_rank(x)
        if rank is None:
            raise _native.UnsupportedError(f"{ctx.node.op_type} with select_last_index needs an input of known rank")
        top = ops.reshape(top, i64([1] * rank), False).output(0) if rank else as_scalar(top)
        index = ops.subtract(top, index).output(0)
    if not ctx.attr("keepdims", 1):
        index = ops.squeeze(index, i64([axis])).output(0)
    return [index]


@op("ArgMax")
def _argmax(ctx):
    return _arg_extreme(ctx, "max")


@op("ArgMin")
def _argmin(ctx):
    return _arg_extreme(ctx, "min")


def _topk(ctx, k) -> list:
    mode = "max" if ctx.attr("largest", 1) else "min"
    node = ops.topk(ctx.input(0), k, ctx.attr("axis", -1), mode, "value", "i64", True)
    return [node.output(0), node.output(1)]


@op("TopK", since=1)
def _topk_attr(ctx):
    return _topk(ctx, i64(ctx.attr("k")))


@op("TopK", since=10)
def _topk_input(ctx):
    return _topk(ctx, ops.convert(as_scalar(ctx.input(1)), "i64").output(0))


# ---------------------------------------------------------------------------------------------------------------
# CumSum / CumProd.


@op("CumSum", since=11)
def _cumsum(ctx):
    axis = as_scalar(ctx.input(1))
    exclusive, reverse = bool(ctx.attr("exclusive", 0)), bool(ctx.attr("reverse", 0))
    return [ops.cumsum(ctx.input(0), axis, exclusive, reverse).output(0)]


def _scan_mask(n: _native.Output, exclusive: bool, reverse: bool) -> _native.Output:
    """The [n, n] boolean matrix M[i, j]: does output i take input j of an inclusive/exclusive, forward/reverse
    scan."""
    positions = ops.range(i64(0), as_scalar(n), i64(1), "i64").output(0)
    i = ops.unsqueeze(positions, i64([1])).output(0)
    j = ops.unsqueeze(positions, i64([0])).output(0)
    compare = {
        (False, False): ops.less_equal,
        (True, False): ops.less,
        (False, True): ops.greater_equal,
        (True, True): ops.greater,
    }[(exclusive, reverse)]
    return compare(j, i).output(0)


def spread_matrix(matrix: _native.Output, axis: _native.Output, x: _native.Output) -> _native.Output:
    """A [rows, cols] matrix reshaped to rank(x) + 1 dimensions, rows at ``axis`` and cols at ``axis + 1`` and 1
    elsewhere: it broadcasts against ``x`` unsqueezed at ``axis`` so that M[o, i] meets x[..., i, ...] (``axis`` is a
    0-D i64 tensor, so it may be known only at run time)."""
    rows_cols = ops.shape_of(matrix, "i64").output(0)
    positions = ops.range(i64(0), ops.add(as_scalar(rank_of(x)), i64(1)), i64(1), "i64").output(0)
    rows = ops.gather(rows_cols, i64(0), i64(0)).output(0)
    cols = ops.gather(rows_cols, i64(1), i64(0)).output(0)
    shape = ops.select(ops.equal(positions, ops.add(axis, i64(1))), cols, i64(1)).output(0)
    shape = ops.select(ops.equal(positions, axis), rows, shape).output(0)
    return ops.reshape(matrix, shape, False).output(0)


def inner_axis(axis: _native.Output) -> _native.Output:
    """The 1-element axes tensor [axis + 1]: where x's original axis lies once x is unsqueezed at ``axis``."""
    return ops.reshape(ops.add(axis, i64(1)), i64([1]), False).output(0)


@op("CumProd", since=26)
def _cumprod(ctx):
    """out[i] = product of the inputs x[j] that the scan mask selects, computed by broadcasting x against the mask
    (works for an axis known only at run time)."""
    x = ctx.input(0)
    axis = normalized_axis(ctx.input(1), x)
    n = ops.gather(ops.shape_of(x, "i64"), ops.reshape(axis, i64([1]), False), i64(0)).output(0)
    mask = _scan_mask(n, bool(ctx.attr("exclusive", 0)), bool(ctx.attr("reverse", 0)))
    mask = spread_matrix(mask, axis, x)
    chosen = ops.select(mask, ops.unsqueeze(x, axis), scalar_like(1, x)).output(0)
    return [ops.reduce_prod(chosen, inner_axis(axis), False).output(0)]
