"""Translators of ONNX normalizations: Batch, Instance, Layer, Group, RMS, LRN, MeanVariance and Lp."""

from __future__ import annotations

import numpy as np

from ... import _native
from ... import opset16 as ops
from .ops_nn_common import axes_range, cast_back, concat_ints, const_like, dims, i64, normalize_axis, out, rank_of, stash
from .ops_nn_conv import add_channel_bias
from .registry import op


def _channel_axes(x: _native.Output, ctx) -> np.ndarray:
    """Every axis of ``x`` but the channel axis 1."""
    return i64([0, *range(2, rank_of(x))])


def _along_channels(v: _native.Output, rank: int) -> _native.Output:
    """A 1-D per-channel value shaped ``[1, C, 1, ...]`` for a rank-``rank`` tensor."""
    return out(ops.unsqueeze(v, i64([0, *range(2, rank)])))


def _batch_norm_training(ctx):
    """BatchNormalization with training_mode=1: batch statistics normalize, running statistics are updated."""
    x, scale, bias, mean, var = (ctx.input(i) for i in range(5))
    rank = rank_of(x)
    axes = _channel_axes(x, ctx)
    batch_mean = out(ops.reduce_mean(x, axes, False))
    centered = out(ops.subtract(x, _along_channels(batch_mean, rank)))
    batch_var = out(ops.reduce_mean(ops.multiply(centered, centered), axes, False))
    y = ops.batch_norm_inference(x, scale, bias, batch_mean, batch_var, ctx.attr("epsilon", 1e-5))
    momentum = ctx.attr("momentum", 0.9)

    def running(old, new):
        return out(ops.add(ops.multiply(old, const_like(momentum, old)), ops.multiply(new, const_like(1 - momentum, new))))

    return [out(y), running(mean, batch_mean), running(var, batch_var)]


@op("BatchNormalization")
def _batch_norm(ctx):
    if ctx.attr("training_mode", 0):
        return _batch_norm_training(ctx)
    x, scale, bias, mean, var = (ctx.input(i) for i in range(5))
    return [out(ops.batch_norm_inference(x, scale, bias, mean, var, ctx.attr("epsilon", 1e-5)))]


@op("InstanceNormalization")
def _instance_norm(ctx):
    x = ctx.input(0)
    rank = rank_of(x)
    normalized = out(ops.mvn(x, axes_range(2, rank), True, ctx.attr("epsilon", 1e-5), "inside_sqrt"))
    scaled = out(ops.multiply(normalized, _along_channels(ctx.input(1), rank)))
    return [add_channel_bias(scaled, ctx.input(2), rank)]


def _standardize(x: _native.Output, axes: np.ndarray, epsilon: float, center: bool):
    """(x - mean) · invstd over ``axes`` (or x · inv-rms when not ``center``), with the mean and invstd kept."""
    mean = out(ops.reduce_mean(x, axes, True)) if center else None
    d = out(ops.subtract(x, mean)) if center else x
    var = out(ops.reduce_mean(ops.multiply(d, d), axes, True))
    inv_std = out(ops.divide(const_like(1, var), ops.sqrt(ops.add(var, const_like(epsilon, var)))))
    return out(ops.multiply(d, inv_std)), mean, inv_std


def _affine(y: _native.Output, ctx, scale_input: int, bias_input: int) -> _native.Output:
    """``y · scale + bias`` with the node's scale and optional bias inputs in ``y``'s precision."""
    y = out(ops.multiply(y, cast_back(ctx.input(scale_input), y)))
    if ctx.has_input(bias_input):
        y = out(ops.add(y, cast_back(ctx.input(bias_input), y)))
    return y


def _trailing_axes(ctx, x: _native.Output) -> np.ndarray:
    rank = rank_of(x)
    return axes_range(normalize_axis(ctx.attr("axis", -1), rank), rank)


@op("LayerNormalization", since=17)
def _layer_norm(ctx):
    x = ctx.input(0)
    computed = stash(x, ctx)
    axes, epsilon = _trailing_axes(ctx, x), ctx.attr("epsilon", 1e-5)
    if not any(ctx.node.output[1:]):
        # Only Y is used: one MVN (a single pass per row on the CPU) instead of the spelled-out statistics.
        y = out(ops.mvn(computed, axes, True, epsilon, "inside_sqrt"))
        return [cast_back(_affine(y, ctx, 1, 2), x)]
    y, mean, inv_std = _standardize(computed, axes, epsilon, True)
    return [cast_back(_affine(y, ctx, 1, 2), x), mean, inv_std]


@op("RMSNormalization", since=23)
def _rms_norm(ctx):
    x = ctx.input(0)
    computed = stash(x, ctx)
    y, _, _ = _standardize(computed, _trailing_axes(ctx, x), ctx.attr("epsilon", 1e-5), False)
    return [cast_back(_affine(y, ctx, 1, 2), x)]


def _per_channel(v: _native.Output, x: _native.Output, groups: int) -> _native.Output:
    """A per-group ``[groups]`` value repeated to ``[C]`` (C = x's dimension 1): group g covers C/groups channels."""
    channels = dims(x, 1, 2)
    per_group = out(ops.divide(channels, i64([groups])))
    column = out(ops.reshape(v, i64([groups, 1]), False))
    repeated = out(ops.broadcast(column, concat_ints([[groups], per_group])))
    return out(ops.reshape(repeated, i64([-1]), False))


def _group_norm(ctx, scale: _native.Output, bias: _native.Output) -> list:
    x = ctx.input(0)
    computed = stash(x, ctx)
    y = ops.group_normalization(
        computed,
        cast_back(scale, computed),
        cast_back(bias, computed),
        ctx.attr("num_groups"),
        ctx.attr("epsilon", 1e-5),
    )
    return [cast_back(out(y), x)]


@op("GroupNormalization", since=18)
def _group_norm_per_group(ctx):
    x, groups = ctx.input(0), ctx.attr("num_groups")
    return _group_norm(ctx, _per_channel(ctx.input(1), x, groups), _per_channel(ctx.input(2), x, groups))


@op("GroupNormalization", since=21)
def _group_norm_per_channel(ctx):
    return _group_norm(ctx, ctx.input(1), ctx.input(2))


@op("LRN")
def _lrn(ctx):
    x = ctx.input(0)
    node = ops.lrn(x, i64([1]), ctx.attr("alpha", 1e-4), ctx.attr("beta", 0.75), ctx.attr("bias", 1.0), ctx.attr("size"))
    return [out(node)]


@op("MeanVarianceNormalization", since=9)
def _mean_variance_norm(ctx):
    x = ctx.input(0)
    axes = i64(ctx.attr("axes", [0, 2, 3]))
    return [out(ops.mvn(x, axes, True, 1e-9, "outside_sqrt"))]


@op("LpNormalization")
def _lp_norm(ctx):
    x = ctx.input(0)
    axis = i64([normalize_axis(ctx.attr("axis", -1), rank_of(x))])
    p = ctx.attr("p", 2)
    if p == 1:
        norm = out(ops.reduce_l1(x, axis, True))
    elif p == 2:
        norm = out(ops.reduce_l2(x, axis, True))
    else:
        raise _native.ParseError(f"p must be 1 or 2, got {p}")
    # A zero norm means a zero slice, which stays zero.
    safe = out(ops.select(ops.equal(norm, const_like(0, norm)), const_like(1, norm), norm))
    return [out(ops.divide(x, safe))]
