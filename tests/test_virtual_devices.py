"""Virtual devices: AUTO (device selection, EXECUTION_DEVICES), HETERO (split by query_model; one part when the CPU
runs everything), MULTI (requests spread over its devices) and BATCH:CPU(N) (independent requests batched into one
inference, partial batches after AUTO_BATCH_TIMEOUT).

Tests that take ``rt`` also run on OpenVINO (``--runtime=openvino``). The split among several devices, startup
fallback and batch formation are checked with test devices in the Rust unit tests
(``src/runtime/virtual_devices/``), as only the CPU exists here.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

X = np.array([[-1.0, 0.5, 2.0]], np.float32)


def model(rt, batch=1):
    """``exp(relu(x)) * 2`` on a ``batch`` x 3 input."""
    ops = rt.opset13
    x = ops.parameter([batch, 3], np.float32, name="x")
    y = ops.multiply(ops.exp(ops.relu(x)), ops.constant(np.float32(2)))
    return rt.Model([y], [x], "virtual")


def expected(x):
    return np.exp(np.maximum(x, 0)) * 2


@pytest.mark.parametrize("device", [None, "AUTO", "AUTO:CPU", "HETERO:CPU", "MULTI:CPU", "BATCH:CPU(2)"])
def test_every_virtual_device_computes_on_the_cpu(rt, device):
    core = rt.Core()
    compiled = core.compile_model(model(rt), device) if device else core.compile_model(model(rt))
    assert compiled.get_property("EXECUTION_DEVICES") == ["CPU"]
    out = compiled.create_infer_request().infer({"x": X})[0]
    np.testing.assert_allclose(out, expected(X), rtol=1e-6)


def test_auto_takes_the_first_available_candidate(rt):
    core = rt.Core()
    compiled = core.compile_model(model(rt), "AUTO", {"MULTI_DEVICE_PRIORITIES": "CPU"})
    assert compiled.get_property("EXECUTION_DEVICES") == ["CPU"]
    assert core.get_property("AUTO", "FULL_DEVICE_NAME") == "AUTO"


def test_hetero_reports_its_parts_and_the_devices_of_the_nodes(rt):
    core = rt.Core()
    m = model(rt)
    compiled = core.compile_model(m, "HETERO:CPU")
    assert compiled.get_property("HETERO_NUMBER_OF_SUBMODELS") == 1
    assert compiled.get_property("MULTI_DEVICE_PRIORITIES") == "CPU"
    supported = core.query_model(m, "HETERO:CPU")
    ops = {op.get_friendly_name() for op in m.get_ordered_ops()}
    assert set(supported) == ops
    assert set(supported.values()) == {"CPU"}
    assert core.get_property("HETERO", "FULL_DEVICE_NAME") == "HETERO"


def test_hetero_needs_a_device_list(rt):
    with pytest.raises(RuntimeError):
        rt.Core().compile_model(model(rt), "HETERO")


def test_multi_serves_many_requests(rt):
    compiled = rt.Core().compile_model(model(rt), "MULTI:CPU")
    assert compiled.get_property("MULTI_DEVICE_PRIORITIES") == "CPU"
    assert compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS") >= 1
    queue = rt.AsyncInferQueue(compiled, 4)
    results = {}
    queue.set_callback(lambda request, i: results.__setitem__(i, request.get_output_tensor(0).data.copy()))
    inputs = [X * (i + 1) for i in range(8)]
    for i, x in enumerate(inputs):
        queue.start_async({"x": x}, i)
    queue.wait_all()
    for i, x in enumerate(inputs):
        np.testing.assert_allclose(results[i], expected(x), rtol=1e-6)


def test_batch_properties(rt):
    compiled = rt.Core().compile_model(model(rt), "BATCH:CPU(4)")
    assert compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS") == 4
    assert compiled.get_property("AUTO_BATCH_TIMEOUT") == 1000
    assert compiled.get_property("MULTI_DEVICE_PRIORITIES") == "CPU(4)"
    assert rt.Core().get_property("BATCH", "AUTO_BATCH_TIMEOUT") == 1000


def test_batch_fills_whole_batches_from_independent_requests(rt, rt_name):
    """Eight requests in flight, four at a time: two full batches, so nobody waits for the 10 s timeout (OpenVINO
    2026.4's BATCH:CPU does wait for it once here, so the timing is checked on ferrovino only)."""
    compiled = rt.Core().compile_model(model(rt), "BATCH:CPU(4)", {"AUTO_BATCH_TIMEOUT": 10000})
    queue = rt.AsyncInferQueue(compiled)
    assert len(queue) == 4
    results = {}
    queue.set_callback(lambda request, i: results.__setitem__(i, request.get_output_tensor(0).data.copy()))
    inputs = [X * (i - 3) for i in range(8)]
    started = time.perf_counter()
    for i, x in enumerate(inputs):
        queue.start_async({"x": x}, i)
    queue.wait_all()
    if rt_name == "ferrovino":
        assert time.perf_counter() - started < 5
    for i, x in enumerate(inputs):
        np.testing.assert_allclose(results[i], expected(x), rtol=1e-6)


def test_a_partial_batch_runs_after_the_timeout(rt):
    compiled = rt.Core().compile_model(model(rt), "BATCH:CPU(4)", {"AUTO_BATCH_TIMEOUT": 100})
    started = time.perf_counter()
    out = compiled.create_infer_request().infer({"x": X})[0]
    np.testing.assert_allclose(out, expected(X), rtol=1e-6)
    assert time.perf_counter() - started < 5
    # Two requests from two threads: a partial batch of two, each answered with its own result.
    outs = {}

    def run(i):
        outs[i] = compiled.create_infer_request().infer({"x": X * i})[0].copy()

    threads = [threading.Thread(target=run, args=(i,)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in (1, 2):
        np.testing.assert_allclose(outs[i], expected(X * i), rtol=1e-6)


def test_batch_runs_a_model_without_a_batch_of_one_as_is(rt):
    compiled = rt.Core().compile_model(model(rt, batch=2), "BATCH:CPU(4)")
    x = np.concatenate([X, -X])
    np.testing.assert_allclose(compiled.create_infer_request().infer({"x": x})[0], expected(x), rtol=1e-6)
