"""Networks built at run time with an opset builder module and random weights, for benchmarks and tests.

Every builder takes the runtime module (``ferrovino``, or ``openvino`` to compare) and uses only its ``opset16`` and
``Model``, so both runtimes build the same graph with the same numbers for the same seed.

- :func:`resnet50`: ResNet-50 v1.5 (7x7/2 stem, 3-4-6-3 bottleneck stages with residual adds, global average pool,
  FC 1000, Softmax), image ``[batch, 3, 224, 224]`` → probabilities ``[batch, 1000]``.
- :func:`transformer_block`: token embedding (Gather), self-attention (MVN, MatMul, Softmax, Reshape, Transpose)
  and a Gelu feed-forward block with residual adds, ids ``[batch, seq_len]`` (i64) → ``[batch, seq_len, d_model]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

RESNET50_STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))
"""(bottleneck width, blocks, stride of the first block) of each ResNet-50 stage."""

EXPANSION = 4
"""Output channels of a bottleneck block per unit of width."""


class Weights:
    """Seeded random weights, scaled (He initialisation) so that activations stay near unit size."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def he(self, *shape: int, fan_in: int) -> np.ndarray:
        """Normal weights with variance 2 / fan_in."""
        return (self.rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))).copy()

    def uniform(self, *shape: int, low: float, high: float) -> np.ndarray:
        """Uniform values in [low, high)."""
        return self.rng.uniform(low, high, shape).astype(np.float32)


def _conv_bn(
    ops: ModuleType,
    w: Weights,
    x: Any,
    c_in: int,
    c_out: int,
    kernel: int,
    stride: int,
    name: str,
    gamma: tuple = (0.8, 1.2),
) -> Any:
    """Convolution (same padding, no bias) followed by inference batch norm."""
    pad = kernel // 2
    filters = ops.constant(w.he(c_out, c_in, kernel, kernel, fan_in=c_in * kernel * kernel), name=f"{name}.weight")
    conv = ops.convolution(x, filters, [stride] * 2, [pad] * 2, [pad] * 2, [1, 1], name=f"{name}.conv")
    params = (
        w.uniform(c_out, low=gamma[0], high=gamma[1]),
        w.uniform(c_out, low=-0.1, high=0.1),
        w.uniform(c_out, low=-0.1, high=0.1),
        w.uniform(c_out, low=0.8, high=1.2),
    )
    return ops.batch_norm_inference(conv, *(ops.constant(p) for p in params), 1e-5, name=f"{name}.bn")


def _bottleneck(ops: ModuleType, w: Weights, x: Any, c_in: int, width: int, stride: int, name: str) -> Any:
    """1x1 reduce, 3x3 (strided), 1x1 expand; a projection shortcut when the shape changes; add and ReLU."""
    c_out = width * EXPANSION
    y = ops.relu(_conv_bn(ops, w, x, c_in, width, 1, 1, f"{name}.conv1"))
    y = ops.relu(_conv_bn(ops, w, y, width, width, 3, stride, f"{name}.conv2"))
    # A small last gamma keeps the residual stream from growing block after block (like zero-init residuals).
    y = _conv_bn(ops, w, y, width, c_out, 1, 1, f"{name}.conv3", gamma=(0.1, 0.3))
    shortcut = x if (c_in == c_out and stride == 1) else _conv_bn(ops, w, x, c_in, c_out, 1, stride, f"{name}.down")
    return ops.relu(ops.add(y, shortcut, name=f"{name}.add"), name=f"{name}.relu")


def resnet50(rt: ModuleType, batch: int = 1, seed: int = 0, image_size: int = 224, num_classes: int = 1000) -> Any:
    """ResNet-50 with random weights: ``image`` ``[batch, 3, image_size, image_size]`` → ``probs``."""
    ops, w = rt.opset16, Weights(seed)
    image = ops.parameter([batch, 3, image_size, image_size], np.float32, name="image")
    x = ops.relu(_conv_bn(ops, w, image, 3, 64, 7, 2, "stem"), name="stem.relu")
    x = ops.max_pool(x, [2, 2], [1, 1], [1, 1], [1, 1], [3, 3], name="stem.pool").output(0)
    c_in = 64
    for stage, (width, blocks, stride) in enumerate(RESNET50_STAGES, start=1):
        for block in range(blocks):
            x = _bottleneck(ops, w, x, c_in, width, stride if block == 0 else 1, f"layer{stage}.{block}")
            c_in = width * EXPANSION
    pooled = ops.reduce_mean(x, np.array([2, 3], np.int64), False, name="avgpool")
    fc_weight = w.he(num_classes, c_in, fan_in=c_in) * np.float32(0.2)  # keeps the softmax from saturating
    fc = ops.matmul(pooled, ops.constant(fc_weight), False, True, name="fc")
    logits = ops.add(fc, ops.constant(w.uniform(num_classes, low=-0.1, high=0.1)), name="fc.bias")
    probs = ops.softmax(logits, 1, name="probs")
    return rt.Model([ops.result(probs, name="probs.result")], [image], "resnet50")


def _layer_norm(ops: ModuleType, w: Weights, x: Any, d_model: int, name: str) -> Any:
    normed = ops.mvn(x, np.array([-1], np.int64), True, 1e-5, "inside_sqrt", name=f"{name}.mvn")
    scaled = ops.multiply(normed, ops.constant(w.uniform(d_model, low=0.8, high=1.2)), name=f"{name}.scale")
    return ops.add(scaled, ops.constant(w.uniform(d_model, low=-0.1, high=0.1)), name=f"{name}.shift")


def _linear(ops: ModuleType, w: Weights, x: Any, d_in: int, d_out: int, name: str) -> Any:
    y = ops.matmul(
        x, ops.constant(w.he(d_in, d_out, fan_in=d_in) * np.float32(0.7)), False, False, name=f"{name}.matmul"
    )
    return ops.add(y, ops.constant(w.uniform(d_out, low=-0.1, high=0.1)), name=f"{name}.bias")


@dataclass(frozen=True)
class TransformerConfig:
    """Sizes of :func:`transformer_block`."""

    batch: int = 1
    seq_len: int = 128
    d_model: int = 256
    heads: int = 4
    d_ff: int = 1024
    vocab: int = 1000


def _split_heads(ops: ModuleType, x: Any, cfg: TransformerConfig, name: str) -> Any:
    """``[batch, seq, d_model]`` → ``[batch, heads, seq, d_head]``."""
    shape = np.array([0, 0, cfg.heads, cfg.d_model // cfg.heads], np.int64)
    split = ops.reshape(x, shape, True, name=f"{name}.split")
    return ops.transpose(split, np.array([0, 2, 1, 3], np.int64), name=f"{name}.heads")


def transformer_block(rt: ModuleType, seed: int = 0, cfg: TransformerConfig | None = None) -> Any:
    """One pre-norm encoder block over a token embedding: ``ids`` (i64) → ``hidden``."""
    cfg = cfg or TransformerConfig()
    ops, w = rt.opset16, Weights(seed)
    ids = ops.parameter([cfg.batch, cfg.seq_len], np.int64, name="ids")
    table = ops.constant(w.uniform(cfg.vocab, cfg.d_model, low=-1.0, high=1.0), name="embedding")
    x = ops.gather(table, ids, np.int64(0), name="embed")
    ln1 = _layer_norm(ops, w, x, cfg.d_model, "ln1")
    q, k, v = (_split_heads(ops, _linear(ops, w, ln1, cfg.d_model, cfg.d_model, n), cfg, n) for n in "qkv")
    scores = ops.matmul(q, k, False, True, name="scores")
    scale = np.array(1 / np.sqrt(cfg.d_model // cfg.heads), np.float32)
    attn = ops.matmul(ops.softmax(ops.multiply(scores, scale), -1, name="attn.softmax"), v, False, False, name="attn")
    merged = ops.reshape(
        ops.transpose(attn, np.array([0, 2, 1, 3], np.int64), name="attn.merge"),
        np.array([0, 0, cfg.d_model], np.int64),
        True,
        name="attn.flatten",
    )
    x = ops.add(x, _linear(ops, w, merged, cfg.d_model, cfg.d_model, "proj"), name="residual1")
    hidden = ops.gelu(
        _linear(ops, w, _layer_norm(ops, w, x, cfg.d_model, "ln2"), cfg.d_model, cfg.d_ff, "ff1"), "erf", name="ff.gelu"
    )
    x = ops.add(x, _linear(ops, w, hidden, cfg.d_ff, cfg.d_model, "ff2"), name="residual2")
    return rt.Model([ops.result(x, name="hidden.result")], [ids], "transformer_block")


BUILDERS: dict = {"resnet50": resnet50, "transformer": transformer_block}
"""Name → builder ``(rt, seed=0) -> Model`` of every built-in network."""


def random_inputs(ports: list, seed: int = 0, int_high: int = 1000) -> list:
    """Random data for static input ports: standard normal floats, integers in [0, int_high), random booleans."""
    rng = np.random.default_rng(seed)
    arrays = []
    for port in ports:
        dtype = np.dtype(port.get_element_type().to_dtype())
        shape = [int(d) for d in port.get_shape()]
        arrays.append(_random_array(rng, dtype, shape, int_high))
    return arrays


def _random_array(rng: np.random.Generator, dtype: np.dtype, shape: list, int_high: int) -> np.ndarray:
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    if np.issubdtype(dtype, np.integer):
        high = min(int_high, int(np.iinfo(dtype).max))
        return rng.integers(0, high, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)
