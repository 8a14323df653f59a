"""The GPU device (wgpu): listed with its properties, runs a small MLP like numpy, lists the nodes it cannot run,
and HETERO:GPU,CPU runs those on the CPU.

Runs on any Vulkan/Metal/DX12 adapter, Mesa's lavapipe included. Without one the tests skip with the reason,
unless FERROVINO_REQUIRE_GPU=1 (set by CI), which turns the skip into a failure. ferrovino only: OpenVINO's GPU
plugin needs an Intel GPU.
"""

from __future__ import annotations

import ferrovino as fv
import numpy as np
import pytest

RNG = np.random.default_rng(5)
W1 = RNG.standard_normal((8, 16)).astype(np.float32)
B1 = RNG.standard_normal(16).astype(np.float32)
W2 = RNG.standard_normal((16, 4)).astype(np.float32)
B2 = RNG.standard_normal(4).astype(np.float32)


@pytest.fixture(scope="module")
def core(gpu_core):
    return gpu_core


def mlp(tail=None):
    """sigmoid(relu(x @ W1 + B1) @ W2 + B2) on x[6, 8], then `tail` (a function of the output) if given."""
    ops = fv.opset13
    x = ops.parameter([6, 8], np.float32, name="x")
    h = ops.relu(ops.add(ops.matmul(x, ops.constant(W1), False, False), ops.constant(B1)))
    y = ops.sigmoid(ops.add(ops.matmul(h, ops.constant(W2), False, False), ops.constant(B2)))
    if tail is not None:
        y = tail(ops, y)
    return fv.Model([y], [x], "mlp")


def expected(x):
    h = np.maximum(x @ W1 + B1, 0)
    return 1 / (1 + np.exp(-(h @ W2 + B2)))


def cumsum(ops, y):
    node = ops.cumsum(y, ops.constant(np.int64(1)))
    node.set_friendly_name("running_total")
    return node


def test_gpu_is_listed_with_its_name_and_type(core):
    name = core.get_property("GPU", "FULL_DEVICE_NAME")
    assert isinstance(name, str) and name
    assert "FP32" in core.get_property("GPU", "OPTIMIZATION_CAPABILITIES")
    assert str(core.get_property("GPU", "DEVICE_TYPE")).lower().endswith(("integrated", "discrete"))
    with pytest.raises(RuntimeError):
        core.get_property("GPU", "NO_SUCH_PROPERTY")


def test_mlp_on_gpu_matches_numpy(core):
    compiled = core.compile_model(mlp(), "GPU")
    assert compiled.get_property("EXECUTION_DEVICES") == ["GPU"]
    request = compiled.create_infer_request()
    for _ in range(2):
        x = RNG.standard_normal((6, 8)).astype(np.float32)
        out = request.infer({"x": x})[0]
        np.testing.assert_allclose(out, expected(x), rtol=1e-3, atol=1e-4)


def test_unsupported_node_is_listed_and_hetero_runs_it_on_cpu(core):
    m = mlp(cumsum)
    with pytest.raises(RuntimeError, match=r"running_total \(CumSum, f32\).*HETERO:GPU,CPU"):
        core.compile_model(m, "GPU")
    supported = core.query_model(m, "GPU")
    assert "running_total" not in supported
    x = RNG.standard_normal((6, 8)).astype(np.float32)
    out = core.compile_model(m, "HETERO:GPU,CPU").create_infer_request().infer({"x": x})[0]
    np.testing.assert_allclose(out, np.cumsum(expected(x), axis=1), rtol=1e-3, atol=1e-4)
