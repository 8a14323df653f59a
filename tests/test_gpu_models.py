"""Whole models on the GPU device (wgpu; Mesa's lavapipe in CI): a small CNN built with the opset builder against
the CPU plugin, and the onnx package's ShuffleNet and ResNet-50 light models against the output shipped with it, with the
tolerance issue 5 sets (rtol 1e-3, atol 1e-4). Without an adapter the tests skip with the reason, unless
FERROVINO_REQUIRE_GPU=1 (set by CI). ferrovino only: OpenVINO's GPU plugin needs an Intel GPU.
"""

from __future__ import annotations

import ferrovino as fv
import numpy as np
import pytest
from helpers.light_models import light_case

RNG = np.random.default_rng(11)


def weights(*shape):
    return fv.opset16.constant((RNG.standard_normal(shape) * 0.3).astype(np.float32))


def small_cnn() -> fv.Model:
    """conv+bias+relu, depthwise conv+relu6, max pool with its indices, average pool, a strided conv, a concat
    of two branches, a classifier (reshape, matmul) and softmax: the op families of the GPU's CNN kernels."""
    ops = fv.opset16
    x = ops.parameter([2, 3, 20, 18], np.float32, name="image")
    h = ops.relu(ops.add(ops.convolution(x, weights(8, 3, 3, 3), [1, 1], [1, 1], [1, 1], [1, 1]), weights(1, 8, 1, 1)))
    h = ops.clamp(ops.group_convolution(h, weights(8, 1, 1, 3, 3), [1, 1], [1, 1], [1, 1], [1, 1]), 0.0, 6.0)
    pooled = ops.max_pool(h, [2, 2], [1, 1], [0, 0], [1, 1], [3, 3], rounding_type="ceil")
    averaged = ops.avg_pool(h, [2, 2], [0, 0], [0, 1], [2, 3], exclude_pad=False, rounding_type="ceil")
    strided = ops.convolution(h, weights(4, 8, 3, 3), [2, 2], [1, 1], [1, 1], [1, 1])
    joined = ops.concat([pooled.output(0), averaged, strided], 1)
    flat = ops.reshape(joined, ops.constant(np.array([2, -1], np.int64)), False)
    size = 20 * 10 * 9
    logits = ops.matmul(flat, weights(size, 5), False, False)
    indices = ops.convert(pooled.output(1), "f32")
    return fv.Model([ops.softmax(logits, 1), indices], [x], "small_cnn")


def test_small_cnn_on_gpu_matches_the_cpu_plugin(gpu_core):
    model = small_cnn()
    x = RNG.standard_normal((2, 3, 20, 18)).astype(np.float32)
    # Compiling on "GPU" itself fails when any node lacks a GPU kernel: every node here runs on the GPU.
    compiled = gpu_core.compile_model(model, "GPU")
    assert compiled.get_property("EXECUTION_DEVICES") == ["GPU"]
    got = compiled(x)
    want = gpu_core.compile_model(model, "CPU")(x)
    for g, w in zip(got.to_tuple(), want.to_tuple()):
        np.testing.assert_allclose(g, w, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name", ["light_shufflenet", "light_resnet50"])
def test_light_model_on_gpu_matches_its_shipped_output(gpu_core, name):
    """ShuffleNet (channel shuffles as Reshape/Transpose, concats) takes seconds on lavapipe, ResNet-50 about three
    minutes (the convolutions run one invocation per output element)."""
    path, x, expected = light_case(name)
    got = gpu_core.compile_model(str(path), "GPU")(x)[0]
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)
