"""Translators of the ONNX loss ops: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ... import _native
from ... import opset16 as ops
from .ops_tensor_common import const_like, i64, out, rank_of
from .registry import op

_REDUCTIONS = ("none", "sum", "mean")


def _all_axes(x: _native.Output) -> np.ndarray:
    return i64(list(range(rank_of(x))))


def nll_loss(
    x: _native.Output,
    target: _native.Output,
    weight: Optional[_native.Output],
    reduction: str,
    ignore_index: Optional[int],
) -> _native.Output:
    """``-x[n, target[n, d...], d...]`` per element, weighted, with ignored targets counting zero, then reduced."""
    if reduction not in _REDUCTIONS:
        raise _native.ParseError(f"reduction '{reduction}' is not one of {', '.join(_REDUCTIONS)}")
    ignored = None
    if ignore_index is not None:
        ignored = out(ops.equal(target, out(ops.convert_like(i64(ignore_index), target))))
        # An ignored target may lie outside [0, C): read class 0 there, its weight is zero anyway.
        target = out(ops.select(ignored, out(ops.convert_like(i64(0), target)), target))
    picked = out(ops.gather_elements(x, out(ops.unsqueeze(target, i64([1]))), 1))
    loss = out(ops.negative(out(ops.squeeze(picked, i64([1])))))
    w = out(ops.gather(weight, target, i64(0))) if weight is not None else None
    if ignored is not None:
        w = out(ops.select(ignored, const_like(0, x), w if w is not None else const_like(1, x)))
    if w is not None:
        loss = out(ops.multiply(loss, w))
    if reduction == "none":
        return loss
    total = out(ops.reduce_sum(loss, _all_axes(loss), False))
    if reduction == "sum":
        return total
    if w is None:
        return out(ops.reduce_mean(loss, _all_axes(loss), False))
    w_full = out(ops.broadcast(w, out(ops.shape_of(loss, "i64"))))
    return out(ops.divide(total, out(ops.reduce_sum(w_full, _all_axes(w_full), False))))


@op("NegativeLogLikelihoodLoss", since=12)
def _negative_log_likelihood_loss(ctx):
    weight = ctx.input(2) if ctx.has_input(2) else None
    return [nll_loss(ctx.input(0), ctx.input(1), weight, ctx.attr("reduction", "mean"), ctx.attr("ignore_index"))]


@op("SoftmaxCrossEntropyLoss", since=12)
def _softmax_cross_entropy_loss(ctx):
    log_prob = out(ops.log_softmax(ctx.input(0), 1))
    weight = ctx.input(2) if ctx.has_input(2) else None
    loss = nll_loss(log_prob, ctx.input(1), weight, ctx.attr("reduction", "mean"), ctx.attr("ignore_index"))
    return [loss, log_prob]
