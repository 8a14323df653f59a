"""Translators of ONNX attention ops: Attention (opset 23+) and RotaryEmbedding (opset 23+), decomposed into MatMul, Softmax
and elementwise ferrovino ops."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ... import _native
from ... import opset16 as ops
from .ops_tensor_common import INT64_MAX, const_like, dim, i64, rank_of
from .registry import op
from .types import element_type

_NEG_INF = float("-inf")


def _staticdim(x, axis: int) -> Optional[int]:
    """Dimension ``axis`` of ``x`` when it is static, else None."""
    shape = x.get_partial_shape()
    if shape.rank.is_dynamic:
        return None
    d = shape[axis]
    return d.get_length() if d.is_static else None


def _split_heads(x, heads: int) -> _native.Output:
    """(batch, seq, heads * size) → (batch, heads, seq, size)."""
    x = ops.reshape(x, i64([0, 0, heads, -1]), True).output(0)
    return ops.transpose(x, i64([0, 2, 1, 3])).output(0)


def _merge_heads(x) -> _native.Output:
    """(batch, heads, seq, size) → (batch, seq, heads * size)."""
    x = ops.transpose(x, i64([0, 2, 1, 3])).output(0)
    return ops.reshape(x, i64([0, 0, -1]), True).output(0)


def _repeat_heads(x, q_heads) -> _native.Output:
    """Grouped-query attention: each of the kv heads of ``x`` (batch, kv_heads, seq, size) repeated so that there are
    ``q_heads`` (an i64 [1] tensor) in the order [h0, h0, h1, h1, ...]."""
    kv_heads = ops.gather(ops.shape_of(x), i64([1]), i64(0)).output(0)
    reps = ops.divide(q_heads, kv_heads).output(0)
    x = ops.unsqueeze(x, i64(2)).output(0)
    x = ops.tile(x, ops.concat([i64([1, 1]), reps, i64([1, 1])], 0)).output(0)
    tail = ops.slice(ops.shape_of(x), i64([3]), i64([5]), i64([1])).output(0)
    return ops.reshape(x, ops.concat([i64([0]), q_heads, tail], 0), True).output(0)


def _scale_factor(ctx, q) -> _native.Output:
    """sqrt(scale) in Q's type; scale defaults to 1/sqrt(head_size). Q and K are each multiplied by it."""
    scale = ctx.attr("scale")
    if scale is not None:
        return const_like(np.sqrt(scale), q)
    head_size = _staticdim(q, 3)
    if head_size is not None:
        return const_like(np.sqrt(1.0 / np.sqrt(head_size)), q)
    return ops.power(ops.convert_like(dim(q, 3), q), const_like(-0.25, q)).output(0)


@dataclass
class _AttentionInputs:
    """Q, K and V in (batch, heads, seq, size) form with the key/value cache already concatenated."""

    q: _native.Output
    k: _native.Output
    v: _native.Output
    q_heads: Optional[int]
    past_len: Optional[_native.Output]
    nonpad: Optional[_native.Output]


def _attention_inputs(ctx) -> _AttentionInputs:
    """Reads and validates Q, K, V, the cache and the head counts; 3-D inputs are split into heads."""
    q, k, v = ctx.input(0), ctx.input(1), ctx.input(2)
    ranks = {rank_of(x, name) for x, name in ((q, "Q"), (k, "K"), (v, "V"))}
    if len(ranks) != 1 or ranks.pop() not in (3, 4):
        raise _native.ShapeError("Q, K and V must all be 3-D or all 4-D")
    q_heads, kv_heads = ctx.attr("q_num_heads"), ctx.attr("kv_num_heads")
    if rank_of(q, "Q") == 3:
        if q_heads is None or kv_heads is None:
            raise _native.ParseError("3-D Q, K, V need the q_num_heads and kv_num_heads attributes")
        q, k, v = _split_heads(q, q_heads), _split_heads(k, kv_heads), _split_heads(v, kv_heads)
    elif ctx.opset >= 25 and (q_heads is not None or kv_heads is not None):
        raise _native.ParseError("q_num_heads and kv_num_heads must not be given for 4-D inputs")
    else:
        q_heads = _staticdim(q, 1)
    if ctx.has_input(4) != ctx.has_input(5):
        raise _native.ParseError("past_key and past_value must be given together")
    nonpad = ctx.input(6) if ctx.has_input(6) else None
    past_len = None
    if ctx.has_input(4):
        if nonpad is not None:
            raise _native.ParseError("nonpad_kv_seqlen cannot be combined with past_key/past_value")
        past_len = dim(ctx.input(4), 2)
        k = ops.concat([ctx.input(4), k], 2).output(0)
        v = ops.concat([ctx.input(5), v], 2).output(0)
    return _AttentionInputs(q, k, v, q_heads, past_len, nonpad)


def _mask_bias(ctx, a: _AttentionInputs) -> Optional[_native.Output]:
    """attn_mask as an additive bias of Q's type (boolean False → -inf), padded with -inf up to the key length."""
    if not ctx.has_input(3):
        return None
    mask = ctx.input(3)
    if mask.get_element_type().get_type_name() == "boolean":
        mask = ops.select(mask, const_like(0.0, a.q), const_like(_NEG_INF, a.q)).output(0)
    rank = rank_of(mask, "attn_mask")
    mask_len, kv_len = _staticdim(mask, rank - 1), _staticdim(a.k, 2)
    if mask_len is not None and mask_len == kv_len:
        return mask
    missing = ops.subtract(dim(a.k, 2), dim(mask, rank - 1)).output(0)
    pads_end = ops.concat([i64([0] * (rank - 1)), ops.unsqueeze(missing, i64(0))], 0).output(0)
    return ops.pad(mask, i64([0] * rank), pads_end, "constant", const_like(_NEG_INF, a.q)).output(0)


def _allowed_keys(ctx, a: _AttentionInputs) -> Optional[_native.Output]:
    """The boolean (…, q, kv) set of keys each query may see under is_causal, the window sizes and
    nonpad_kv_seqlen, or None when all of them are off."""
    causal = bool(ctx.attr("is_causal", 0))
    left, right = ctx.attr("left_window_size", -1), ctx.attr("right_window_size", -1)
    conditions = []
    if causal or left >= 0 or right >= 0:
        q_len = dim(a.q, 2)
        queries = ops.unsqueeze(ops.range(i64(0), q_len, i64(1), "i64"), i64(1)).output(0)  # (q, 1)
        keys = ops.range(i64(0), dim(a.k, 2), i64(1), "i64").output(0)  # (kv,)
        if a.nonpad is not None:  # external cache: per-batch offset nonpad - q_len
            offset = ops.subtract(ops.convert(a.nonpad, "i64"), q_len).output(0)
            position = ops.add(queries, ops.reshape(offset, i64([-1, 1, 1, 1]), False)).output(0)
        else:
            position = queries if a.past_len is None else ops.add(queries, a.past_len).output(0)
        distance = ops.subtract(position, keys).output(0)  # query position minus key index
        if causal:
            conditions.append(ops.greater_equal(distance, i64(0)).output(0))
        if left >= 0:
            conditions.append(ops.less_equal(distance, i64(left)).output(0))
        if right >= 0:
            conditions.append(ops.greater_equal(distance, i64(-right)).output(0))
    if a.nonpad is not None:
        keys = ops.range(i64(0), dim(a.k, 2), i64(1), "i64").output(0)
        valid = ops.reshape(ops.convert(a.nonpad, "i64"), i64([-1, 1, 1, 1]), False).output(0)
        conditions.append(ops.less(keys, valid).output(0))
    if not conditions:
        return None
    allowed = conditions[0]
    for c in conditions[1:]:
        allowed = ops.logical_and(allowed, c).output(0)
    return allowed


def _attention_bias(ctx, a: _AttentionInputs) -> Optional[_native.Output]:
    """The additive bias of the scores: attn_mask plus -inf where the structural masks disallow a key."""
    bias = _mask_bias(ctx, a)
    allowed = _allowed_keys(ctx, a)
    if allowed is not None:
        structural = ops.select(allowed, const_like(0.0, a.q), const_like(_NEG_INF, a.q)).output(0)
        bias = structural if bias is None else ops.add(bias, structural).output(0)
    return bias


def _softmax(ctx, scores, like) -> _native.Output:
    """Softmax over the keys, in softmax_precision when given, returned in ``like``'s type."""
    precision = ctx.attr("softmax_precision")
    if precision is not None:
        scores = ops.convert(scores, element_type(precision)).output(0)
    probs = ops.softmax(scores, -1).output(0)
    return ops.convert_like(probs, like).output(0) if precision is not None else probs


@op("Attention", since=23)
def _attention(ctx):
    a = _attention_inputs(ctx)
    k, v = a.k, a.v
    if a.q_heads is None or a.q_heads != _staticdim(k, 1):
        q_heads = ops.gather(ops.shape_of(a.q), i64([1]), i64(0)).output(0)
        k, v = _repeat_heads(k, q_heads), _repeat_heads(v, q_heads)
    scale = _scale_factor(ctx, a.q)
    raw = ops.matmul(ops.multiply(a.q, scale), ops.multiply(k, scale), False, True).output(0)
    scores = raw
    softcap = ctx.attr("softcap", 0.0)
    if softcap > 0:
        capped = ops.tanh(ops.divide(scores, const_like(softcap, scores))).output(0)
        scores = ops.multiply(capped, const_like(softcap, scores)).output(0)
    softcapped = scores
    bias = _attention_bias(ctx, a)
    if bias is not None:
        scores = ops.add(scores, bias).output(0)
    probs = _softmax(ctx, scores, a.q)
    if bias is not None:  # a query row whose every key is masked gives zeros, not NaN
        masked = ops.equal(bias, const_like(_NEG_INF, a.q)).output(0)
        fully_masked = ops.reduce_logical_and(masked, i64([-1]), True).output(0)
        probs = ops.select(fully_masked, const_like(0.0, a.q), probs).output(0)
    y = ops.matmul(probs, v, False, False).output(0)
    if rank_of(ctx.input(0), "Q") == 3:
        y = _merge_heads(y)
    mode = ctx.attr("qk_matmul_output_mode", 0)
    qk_output = {0: raw, 1: softcapped, 2: scores, 3: probs}.get(mode)
    if qk_output is None:
        raise _native.ParseError(f"qk_matmul_output_mode {mode} is not 0..3")
    return [y, a.k, a.v, qk_output]


def _last_axis_slice(x, start: int, stop: int, step: int = 1) -> _native.Output:
    """``x[..., start:stop:step]``."""
    return ops.slice(x, i64([start]), i64([stop]), i64([step]), i64([-1])).output(0)


def _rotate(x, cos, sin, interleaved: bool) -> _native.Output:
    """The rotation of the pairs of ``x``'s last axis — (x[2i], x[2i+1]) when interleaved, else (x[i], x[i+half]) —
    by the angles whose cosines and sines are ``cos`` and ``sin``."""
    if interleaved:
        x1, x2 = _last_axis_slice(x, 0, INT64_MAX, 2), _last_axis_slice(x, 1, INT64_MAX, 2)
    else:
        halves = ops.split(x, i64(-1), 2)
        x1, x2 = halves.output(0), halves.output(1)
    real = ops.subtract(ops.multiply(cos, x1), ops.multiply(sin, x2)).output(0)
    imag = ops.add(ops.multiply(sin, x1), ops.multiply(cos, x2)).output(0)
    if not interleaved:
        return ops.concat([real, imag], -1).output(0)
    pairs = ops.concat([ops.unsqueeze(real, i64(-1)), ops.unsqueeze(imag, i64(-1))], -1).output(0)
    return ops.reshape(pairs, ops.shape_of(x), False).output(0)


def _rotary_cache(ctx, index: int) -> _native.Output:
    """The cos or sin cache as (batch, seq, 1, rotary_dim / 2), looked up at position_ids when given."""
    cache = ctx.input(index)
    if ctx.has_input(3):
        cache = ops.gather(cache, ctx.input(3), i64(0)).output(0)
    return ops.unsqueeze(cache, i64(2)).output(0)


@op("RotaryEmbedding", since=23)
def _rotary_embedding(ctx):
    x = ctx.input(0)
    rank = rank_of(x, "input")
    if rank == 4:
        x = ops.transpose(x, i64([0, 2, 1, 3])).output(0)
    elif rank == 3:
        heads = ctx.attr("num_heads", 0)
        if heads <= 0:
            raise _native.ParseError("a 3-D input needs num_heads > 0")
        x = ops.reshape(x, i64([0, 0, heads, -1]), True).output(0)
    else:
        raise _native.ShapeError(f"input must be 3-D or 4-D, got rank {rank}")
    rotary_dim = ctx.attr("rotary_embedding_dim", 0)
    cos, sin = _rotary_cache(ctx, 1), _rotary_cache(ctx, 2)
    interleaved = bool(ctx.attr("interleaved", 0))
    if rotary_dim > 0:
        rotated = _rotate(_last_axis_slice(x, 0, rotary_dim), cos, sin, interleaved)
        y = ops.concat([rotated, _last_axis_slice(x, rotary_dim, INT64_MAX)], -1).output(0)
    else:
        y = _rotate(x, cos, sin, interleaved)
    if rank == 4:
        return [ops.transpose(y, i64([0, 2, 1, 3])).output(0)]
    return [ops.reshape(y, ops.shape_of(ctx.input(0)), False).output(0)]
