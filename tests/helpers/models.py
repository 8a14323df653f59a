"""Test models built with an opset builder module (`openvino.opset16` or `ferrovino.opset16`).

Each builder takes the runtime module (`openvino` or `ferrovino`) and returns a `Model`; weights come from a
fixed seed, so both runtimes build the same numbers. `BUILT_MODELS` maps a model name to its builder and to
the function that makes its inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import numpy as np

CNN_INPUT_SHAPE = (1, 3, 32, 32)
SEQ_LEN, D_MODEL, HEADS, D_FF, VOCAB = 8, 32, 4, 64, 50


class _Weights:
    """Seeded random weights, scaled so that activations stay near unit size."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def normal(self, *shape: int, fan_in: int | None = None) -> np.ndarray:
        scale = 1.0 if fan_in is None else np.sqrt(2.0 / fan_in)
        return (self.rng.standard_normal(shape) * scale).astype(np.float32)

    def uniform(self, *shape: int, low: float, high: float) -> np.ndarray:
        return self.rng.uniform(low, high, shape).astype(np.float32)


def _conv_bn_relu(
    ops, w: _Weights, x, c_in: int, c_out: int, name: str, relu: bool = True
):
    """3x3 convolution (padding 1), batch norm, optional ReLU."""
    filters = ops.constant(
        w.normal(c_out, c_in, 3, 3, fan_in=c_in * 9), name=f"{name}.weight"
    )
    conv = ops.convolution(
        x, filters, [1, 1], [1, 1], [1, 1], [1, 1], name=f"{name}.conv"
    )
    bn = ops.batch_norm_inference(
        conv,
        ops.constant(w.uniform(c_out, low=0.5, high=1.5)),
        ops.constant(w.normal(c_out) * np.float32(0.1)),
        ops.constant(w.normal(c_out) * np.float32(0.1)),
        ops.constant(w.uniform(c_out, low=0.5, high=1.5)),
        1e-5,
        name=f"{name}.bn",
    )
    return ops.relu(bn, name=f"{name}.relu") if relu else bn


def build_cnn(rt: ModuleType, seed: int = 1) -> object:
    """Conv/BN/ReLU stem, max pool, a residual block, an avg-pool branch joined by Concat, 2x Interpolate,
    a 1x1 conv head and a channel Softmax: [1,3,32,32] -> [1,4,32,32]."""
    ops, w = rt.opset16, _Weights(seed)
    image = ops.parameter(list(CNN_INPUT_SHAPE), np.float32, name="image")
    stem = _conv_bn_relu(ops, w, image, 3, 8, "stem")
    pooled = ops.max_pool(stem, [2, 2], [1, 1], [0, 0], [0, 0], [2, 2], name="pool1")
    block = _conv_bn_relu(ops, w, pooled.output(0), 8, 8, "block.a")
    block = _conv_bn_relu(ops, w, block, 8, 8, "block.b", relu=False)
    residual = ops.relu(
        ops.add(block, pooled.output(0), name="block.add"), name="block.relu"
    )
    # AvgPool-14, not opset16's AvgPool-16: OpenVINO 2026.4's CPU plugin crashes compiling AvgPool-16.
    branch = rt.opset14.avg_pool(
        pooled.output(0), [1, 1], [1, 1], [1, 1], [3, 3], True, name="branch.avgpool"
    )
    joined = ops.concat([residual, branch], 1, name="concat")
    upsampled = ops.interpolate(
        joined,
        ops.constant(np.array([2.0, 2.0], np.float32)),
        "linear_onnx",
        "scales",
        coordinate_transformation_mode="half_pixel",
        axes=ops.constant(np.array([2, 3], np.int64)),
        name="upsample",
    )
    head = ops.convolution(
        upsampled,
        ops.constant(w.normal(4, 16, 1, 1, fan_in=16)),
        [1, 1],
        [0, 0],
        [0, 0],
        [1, 1],
        name="head",
    )
    probs = ops.softmax(head, 1, name="probs")
    return rt.Model([ops.result(probs, name="probs.result")], [image], "test_cnn")


def cnn_inputs(seed: int = 0) -> list[np.ndarray]:
    """Random image for `build_cnn`."""
    return [
        np.random.default_rng(seed).standard_normal(CNN_INPUT_SHAPE).astype(np.float32)
    ]


def _layer_norm(ops, w: _Weights, x, name: str):
    axes = ops.constant(np.array([-1], np.int64))
    normed = ops.mvn(x, axes, True, 1e-5, "inside_sqrt", name=f"{name}.mvn")
    scaled = ops.multiply(
        normed,
        ops.constant(w.uniform(D_MODEL, low=0.8, high=1.2)),
        name=f"{name}.scale",
    )
    return ops.add(
        scaled, ops.constant(w.normal(D_MODEL) * np.float32(0.1)), name=f"{name}.shift"
    )


def _linear(ops, w: _Weights, x, d_in: int, d_out: int, name: str):
    y = ops.matmul(
        x,
        ops.constant(w.normal(d_in, d_out, fan_in=d_in) * np.float32(0.7)),
        False,
        False,
        name=f"{name}.matmul",
    )
    return ops.add(
        y, ops.constant(w.normal(d_out) * np.float32(0.1)), name=f"{name}.bias"
    )


def _heads(ops, x, name: str):
    """[1, seq, d_model] -> [1, heads, seq, d_head]."""
    split = ops.reshape(
        x,
        ops.constant(np.array([0, 0, HEADS, D_MODEL // HEADS], np.int64)),
        True,
        name=f"{name}.split",
    )
    return ops.transpose(
        split, ops.constant(np.array([0, 2, 1, 3], np.int64)), name=f"{name}.heads"
    )


def build_transformer(rt: ModuleType, seed: int = 2) -> object:
    """Token embedding (Gather), pre-norm self-attention (MVN, MatMul, Softmax, Reshape, Transpose) and a
    Gelu feed-forward block, both with residual adds: ids [1,8] (i64) -> [1,8,32]."""
    ops, w = rt.opset16, _Weights(seed)
    ids = ops.parameter([1, SEQ_LEN], np.int64, name="ids")
    table = ops.constant(w.normal(VOCAB, D_MODEL), name="embedding")
    x = ops.gather(table, ids, ops.constant(np.array(0, np.int64)), name="embed")
    ln1 = _layer_norm(ops, w, x, "ln1")
    q, k, v = (
        _heads(ops, _linear(ops, w, ln1, D_MODEL, D_MODEL, n), n)
        for n in ("q", "k", "v")
    )
    scores = ops.matmul(q, k, False, True, name="scores")
    scaled = ops.multiply(
        scores,
        ops.constant(np.array(1 / np.sqrt(D_MODEL // HEADS), np.float32)),
        name="scores.scale",
    )
    attn = ops.matmul(
        ops.softmax(scaled, -1, name="attn.softmax"), v, False, False, name="attn"
    )
    merged = ops.reshape(
        ops.transpose(
            attn, ops.constant(np.array([0, 2, 1, 3], np.int64)), name="attn.merge"
        ),
        ops.constant(np.array([1, SEQ_LEN, D_MODEL], np.int64)),
        False,
        name="attn.flatten",
    )
    x = ops.add(x, _linear(ops, w, merged, D_MODEL, D_MODEL, "proj"), name="residual1")
    hidden = ops.gelu(
        _linear(ops, w, _layer_norm(ops, w, x, "ln2"), D_MODEL, D_FF, "ff1"),
        "erf",
        name="ff.gelu",
    )
    x = ops.add(x, _linear(ops, w, hidden, D_FF, D_MODEL, "ff2"), name="residual2")
    return rt.Model([ops.result(x, name="hidden.result")], [ids], "test_transformer")


def transformer_inputs(seed: int = 0) -> list[np.ndarray]:
    """Random token ids for `build_transformer`."""
    return [
        np.random.default_rng(seed).integers(0, VOCAB, (1, SEQ_LEN), dtype=np.int64)
    ]


BUILT_MODELS: dict[
    str, tuple[Callable[[ModuleType], object], Callable[[], list[np.ndarray]]]
] = {
    "cnn": (build_cnn, cnn_inputs),
    "transformer": (build_transformer, transformer_inputs),
}
