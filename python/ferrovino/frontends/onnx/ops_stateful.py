"""Translators of the ONNX ops that carry state across calls: CausalConvWithState and LinearAttention (opset 27).

Both are unrolled or decomposed into ordinary ops, so every device runs them.
"""

from __future__ import annotations

import numpy as np

from ... import _native
from ... import opset16 as ops
from .ops_tensor_common import const_like, i64, out, shape_of
from .registry import op


def _static(x: _native.Output, axis: int, what: str) -> int:
    """Dimension ``axis`` of ``x``, which must be static."""
    ps = x.get_partial_shape()
    if ps.rank.is_dynamic or not ps[axis].is_static:
        raise _native.UnsupportedError(f"{what} needs a static dimension {axis}, got shape {ps}")
    return ps[axis].get_length()


def _zeros(like: _native.Output, batch_of: _native.Output, tail: list[int]) -> _native.Output:
    """Zeros of ``like``'s element type shaped ``[batch_of.shape[0], *tail]``."""
    batch = out(ops.slice(shape_of(batch_of), i64([0]), i64([1]), i64([1])))
    shape = out(ops.concat([batch, i64(tail)], 0))
    return out(ops.broadcast(const_like(0, like), shape))


@op("CausalConvWithState", since=27)
def _causal_conv_with_state(ctx):
    x, w = ctx.input(0), ctx.input(1)
    activation = ctx.attr("activation", "none")
    if activation not in ("none", "silu", "swish"):
        raise _native.ParseError(f"activation '{activation}' is not one of none, silu, swish")
    channels, k = _static(w, 0, "weight"), _static(w, 2, "weight")
    past = ctx.input(3) if ctx.has_input(3) else _zeros(x, x, [channels, k - 1])
    padded = out(ops.concat([past, x], 2))
    filters = out(ops.unsqueeze(w, i64([1])))  # [C, 1, 1, k]: one group per channel
    y = out(ops.group_convolution(padded, filters, [1], [0], [0], [1]))
    if ctx.has_input(2):
        y = out(ops.add(y, out(ops.unsqueeze(ctx.input(2), i64([1])))))
    if activation != "none":
        y = out(ops.multiply(y, out(ops.sigmoid(y))))
    present = out(ops.slice(padded, i64([-(k - 1)]) if k > 1 else i64([np.iinfo(np.int64).max]),
                            i64([np.iinfo(np.int64).max]), i64([1]), i64([2])))
    return [y, present]


def _heads(x: _native.Output, heads: int) -> _native.Output:
    """``[B, T, H*D]`` → ``[B, H, T, D]`` in f32."""
    x = out(ops.reshape(x, i64([0, 0, heads, -1]), True))
    return out(ops.convert(out(ops.transpose(x, i64([0, 2, 1, 3]))), "f32"))


def _step(x: _native.Output, t: int) -> _native.Output:
    """Time step ``t`` of ``[B, H, T, D]`` as ``[B, H, D]``."""
    return out(ops.squeeze(out(ops.slice(x, i64([t]), i64([t + 1]), i64([1]), i64([2]))), i64([2])))


@op("LinearAttention", since=27)
def _linear_attention(ctx):
    rule = ctx.attr("update_rule", "gated_delta")
    if rule not in ("linear", "gated", "delta", "gated_delta"):
        raise _native.ParseError(f"update_rule '{rule}' is not one of linear, gated, delta, gated_delta")
    hq, hkv = ctx.attr("q_num_heads"), ctx.attr("kv_num_heads")
    if not hq or not hkv or hq % hkv:
        raise _native.ParseError(f"q_num_heads ({hq}) must be a positive multiple of kv_num_heads ({hkv})")
    gating, delta = rule in ("gated", "gated_delta"), rule in ("delta", "gated_delta")
    if gating != ctx.has_input(4) or delta != ctx.has_input(5):
        raise _native.ParseError(f"update_rule '{rule}' needs decay: {gating}, beta: {delta}")
    query, key, value = ctx.input(0), ctx.input(1), ctx.input(2)
    steps, d_k = _static(query, 1, "query"), _static(query, 2, "query") // hq
    d_v = _static(value, 2, "value") // hkv
    q, k, v = _heads(query, hq), _heads(key, hkv), _heads(value, hkv)
    decay = _decay(ctx.input(4), hkv, d_k) if gating else None
    beta = _heads(ctx.input(5), _static(ctx.input(5), 2, "beta")) if delta else None
    past = ctx.input(3) if ctx.has_input(3) else None
    state = out(ops.convert(past, "f32")) if past is not None else _zeros(q, query, [hkv, d_k, d_v])
    scale = ctx.attr("scale", 0.0) or 1.0 / np.sqrt(d_k)
    outputs = []
    for t in range(steps):
        k_t, v_t = _step(k, t), _step(v, t)
        if decay is not None:
            state = out(ops.multiply(state, out(ops.unsqueeze(out(ops.exp(_step(decay, t))), i64([-1])))))
        if beta is not None:
            retrieved = out(ops.squeeze(out(ops.matmul(out(ops.unsqueeze(k_t, i64([2]))), state, False, False)),
                                         i64([2])))
            v_t = out(ops.multiply(_step(beta, t), out(ops.subtract(v_t, retrieved))))
        update = out(ops.multiply(out(ops.unsqueeze(k_t, i64([-1]))), out(ops.unsqueeze(v_t, i64([2])))))
        state = out(ops.add(state, update))
        read = _repeat_heads(state, hq // hkv, query, [hq, d_k, d_v])
        o_t = out(ops.matmul(out(ops.unsqueeze(_step(q, t), i64([2]))), read, False, False))
        outputs.append(out(ops.multiply(o_t, np.float32(scale))))
    y = out(ops.concat(outputs, 2)) if len(outputs) > 1 else outputs[0]
    y = out(ops.reshape(out(ops.transpose(y, i64([0, 2, 1, 3]))), i64([0, 0, -1]), True))
    present_like = past if past is not None else query
    return [out(ops.convert_like(y, query)), out(ops.convert_like(state, present_like))]


def _decay(decay: _native.Output, hkv: int, d_k: int) -> _native.Output:
    """Decay ``[B, T, H]`` or ``[B, T, H*d_k]`` as ``[B, H, T, 1 or d_k]`` in f32."""
    last = _static(decay, 2, "decay")
    if last not in (hkv, hkv * d_k):
        raise _native.ParseError(f"decay last dimension {last} must be {hkv} or {hkv * d_k}")
    return _heads(decay, hkv)


def _repeat_heads(state: _native.Output, group: int, batch_of: _native.Output, shape: list[int]) -> _native.Output:
    """``[B, H_kv, d_k, d_v]`` with each head repeated ``group`` times consecutively (GQA), as ``[B, H_q, ...]``."""
    if group == 1:
        return state
    batch = out(ops.slice(shape_of(batch_of), i64([0]), i64([1]), i64([1])))
    expanded = out(ops.unsqueeze(state, i64([2])))
    target = out(ops.concat([batch, i64([shape[0] // group, group, shape[1], shape[2]])], 0))
    expanded = out(ops.broadcast(expanded, target))
    return out(ops.reshape(expanded, i64([0, shape[0], shape[1], shape[2]]), True))
