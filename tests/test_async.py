"""Asynchronous inference: InferRequest.start_async / wait / wait_for / set_callback / userdata, AsyncInferQueue,
CompiledModel.infer_new_request, and inferences on several threads at once.

Every test takes the runtime under test (`rt`), so `--runtime=openvino` runs the same checks on OpenVINO itself.
Results are checked by value; nothing asserts a duration.
"""

from __future__ import annotations

import importlib
import threading

import numpy as np
import pytest


def relu_model(rt, shape=(2, 3)):
    """x -> Relu -> Result."""
    ops = importlib.import_module(f"{rt.__name__}.opset13")
    p = ops.parameter(list(shape), np.float32, name="x")
    return rt.Model([ops.relu(p, name="relu")], [p], "relu_net")


def long_model(rt, n=256, depth=24):
    """x -> `depth` MatMuls with the identity scaled by 1: slow enough to be observed running, exact results."""
    ops = importlib.import_module(f"{rt.__name__}.opset13")
    p = ops.parameter([n, n], np.float32, name="x")
    x = p
    eye = np.eye(n, dtype=np.float32)
    for _ in range(depth):
        x = ops.matmul(x, ops.constant(eye), False, False)
    return rt.Model([x], [p], "long_net")


@pytest.fixture
def compiled(rt):
    return rt.Core().compile_model(relu_model(rt), "CPU")


def filled(value):
    return np.full((2, 3), value, np.float32)


# ---------------------------------------------------------------------------------------------------------------
# InferRequest


def test_callback_gets_userdata_after_the_inference(compiled):
    req = compiled.create_infer_request()
    seen = []
    req.set_callback(lambda userdata: seen.append((userdata, req.get_output_tensor().data.copy())), "first")
    assert req.userdata == "first"
    req.start_async({0: filled(-1.0)})
    req.wait()
    req.start_async({0: filled(2.0)}, userdata="second")  # replaces the callback's userdata
    req.wait()
    req.start_async({0: filled(3.0)})  # keeps it
    req.wait()
    assert [u for u, _ in seen] == ["first", "second", "second"]
    assert [float(out[0, 0]) for _, out in seen] == [0.0, 2.0, 3.0]
    assert req.userdata == "second"
    np.testing.assert_array_equal(req.results[0], filled(3.0))


def test_userdata_without_a_callback_warns_and_is_ignored(compiled):
    req = compiled.create_infer_request()
    with pytest.warns(RuntimeWarning, match="no callback"):
        req.start_async({0: filled(1.0)}, userdata=9)
    req.wait()
    assert req.userdata is None
    np.testing.assert_array_equal(req.get_output_tensor().data, filled(1.0))


def test_wait_for(compiled):
    req = compiled.create_infer_request()
    assert req.wait_for(0) is False  # never ran an inference, as in OpenVINO
    req.start_async({0: filled(-5.0)})
    assert req.wait_for(10_000) is True
    assert req.wait_for(0) is True
    np.testing.assert_array_equal(req.get_output_tensor().data, filled(0.0))
    sync = compiled.create_infer_request()
    sync.infer({0: filled(1.0)})
    assert sync.wait_for(0) is True


def test_callback_exception_reaches_wait(compiled):
    req = compiled.create_infer_request()

    def failing(userdata):
        raise KeyError(userdata)

    req.set_callback(failing, "the-key")
    req.start_async({0: filled(1.0)})
    with pytest.raises(RuntimeError, match="KeyError.*the-key"):
        req.wait()
    with pytest.raises(RuntimeError, match="KeyError.*the-key"):
        req.wait_for(0)  # raised until the next inference
    req.set_callback(lambda userdata: None, None)
    req.start_async({0: filled(4.0)})
    req.wait()
    np.testing.assert_array_equal(req.get_output_tensor().data, filled(4.0))


def test_request_is_busy_while_its_callback_runs(compiled):
    req = compiled.create_infer_request()
    entered, gate = threading.Event(), threading.Event()

    def blocking(userdata):
        entered.set()
        gate.wait(30)

    req.set_callback(blocking, None)
    req.start_async({0: filled(1.0)})
    assert entered.wait(30)
    assert req.wait_for(0) is False
    gate.set()
    req.wait()
    assert req.wait_for(0) is True


def test_calls_on_a_running_request_are_refused(rt):
    if rt.__name__ != "ferrovino":
        pytest.skip("OpenVINO accepts a second start_async in some states")
    req = rt.Core().compile_model(long_model(rt), "CPU").create_infer_request()
    x = np.arange(256 * 256, dtype=np.float32).reshape(256, 256) % 7
    entered, gate = threading.Event(), threading.Event()
    req.set_callback(lambda userdata: (entered.set(), gate.wait(30)), None)
    req.start_async({0: x})
    assert entered.wait(30)
    for call in (lambda: req.start_async({0: x}), lambda: req.infer({0: x})):
        with pytest.raises(RuntimeError, match="Infer Request is busy"):
            call()
    gate.set()
    req.wait()
    np.testing.assert_array_equal(req.get_output_tensor().data, x)


def test_the_interpreter_runs_while_a_request_infers(rt):
    """While the worker thread infers, this thread keeps running Python: it counts loop turns until the request is
    done, and many turns happen while it is still running (none could if the inference held the interpreter)."""
    req = rt.Core().compile_model(long_model(rt, 384, 32), "CPU").create_infer_request()
    x = np.ones((384, 384), np.float32)
    turns_while_running = 0
    req.start_async({0: x})
    while not req.wait_for(0):
        turns_while_running += 1
    req.wait()
    assert turns_while_running > 100
    np.testing.assert_array_equal(req.get_output_tensor().data, x)


def test_requests_on_several_threads_give_their_own_results(rt):
    compiled = rt.Core().compile_model(relu_model(rt, (16, 16)), "CPU")
    errors = []

    def work(k):
        try:
            req = compiled.create_infer_request()
            for i in range(40):
                x = np.full((16, 16), float(k * 100 + i), np.float32)
                x[0, 0] = -1.0
                out = req.infer({0: x})[0]
                expected = x.copy()
                expected[0, 0] = 0.0
                np.testing.assert_array_equal(out, expected)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_callbacks_of_different_requests_run_at_the_same_time(rt):
    """Each request has its own worker: two callbacks meet at a barrier, which a single shared worker never reaches."""
    if rt.__name__ != "ferrovino":
        pytest.skip("OpenVINO's callback threads depend on its streams")
    compiled = rt.Core().compile_model(relu_model(rt), "CPU")
    barrier = threading.Barrier(2, timeout=30)
    met = []
    requests = [compiled.create_infer_request() for _ in range(2)]
    for r in requests:
        r.set_callback(lambda userdata: met.append((barrier.wait(), userdata)), None)
    for k, r in enumerate(requests):
        r.start_async({0: filled(float(k))}, userdata=k)
    for r in requests:
        r.wait()
    assert sorted(u for _, u in met) == [0, 1]


def test_infer_new_request(compiled):
    out = compiled.infer_new_request({0: filled(-2.0)})
    np.testing.assert_array_equal(out[0], filled(0.0))
    out = compiled.infer_new_request([filled(7.0)])
    np.testing.assert_array_equal(out[compiled.output(0)], filled(7.0))


# ---------------------------------------------------------------------------------------------------------------
# AsyncInferQueue


def test_queue_basics(rt, compiled, ov):
    q = rt.AsyncInferQueue(compiled, 3)
    assert len(q) == 3 and repr(q) == "<AsyncInferQueue: 3 jobs>"
    theirs = ov.AsyncInferQueue(ov.Core().compile_model(relu_model(ov), "CPU"), 3)
    assert repr(q) == repr(theirs)
    assert q.userdata == [None, None, None]
    assert all(isinstance(r, rt.InferRequest) for r in q)
    assert repr(q[2]) == repr(list(q)[2])
    assert q.is_ready() and q.get_idle_request_id() in range(3)


def test_queue_jobs_default_to_the_optimal_number(rt, compiled):
    optimal = compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
    assert len(rt.AsyncInferQueue(compiled)) == optimal
    assert len(rt.AsyncInferQueue(compiled, 0)) == optimal


def test_queue_index_out_of_range(rt, compiled):
    if rt.__name__ != "ferrovino":
        pytest.skip("OpenVINO crashes on an index out of range")
    q = rt.AsyncInferQueue(compiled, 2)
    with pytest.raises(IndexError):
        q[2]
    with pytest.raises(ValueError):
        rt.AsyncInferQueue(compiled, -1)


def test_queue_callbacks_see_each_result(rt, compiled):
    q = rt.AsyncInferQueue(compiled, 2)
    results = {}
    lock = threading.Lock()

    def collect(request, userdata):
        with lock:
            results[userdata] = request.get_output_tensor().data.copy()

    q.set_callback(collect)
    inputs = [filled(float(i - 6)) for i in range(12)]  # shared inputs must outlive their inference
    for i, x in enumerate(inputs):
        q.start_async({0: x}, userdata=i, share_inputs=i % 2 == 0)
    q.wait_all()
    assert sorted(results) == list(range(12))
    for i, out in results.items():
        np.testing.assert_array_equal(out, filled(max(0.0, float(i - 6))))
    assert set(q.userdata) <= set(range(12)) and len(q.userdata) == 2
    assert q.is_ready()


def test_queue_callback_exception_reaches_wait_all(rt, compiled):
    if rt.__name__ != "ferrovino":
        pytest.skip("OpenVINO 2026.4 aborts when pytest handles the re-raised exception")
    q = rt.AsyncInferQueue(compiled, 2)

    def failing(request, userdata):
        raise ValueError(f"boom {userdata}")

    q.set_callback(failing)
    q.start_async({0: filled(1.0)}, 7)
    with pytest.raises(ValueError, match="boom 7"):
        q.wait_all()
    assert q.is_ready()


def test_queue_start_async_waits_for_an_idle_request(rt, compiled):
    q = rt.AsyncInferQueue(compiled, 1)
    entered, gate, order = threading.Event(), threading.Event(), []

    def blocking(request, userdata):
        order.append(userdata)
        entered.set()
        gate.wait(30)

    q.set_callback(blocking)
    q.start_async({0: filled(1.0)}, "a")
    assert entered.wait(30)
    assert not q.is_ready()
    second = threading.Thread(target=lambda: q.start_async({0: filled(2.0)}, "b"))
    second.start()
    idle = []
    waiter = threading.Thread(target=lambda: idle.append(q.get_idle_request_id()))
    waiter.start()
    assert order == ["a"]  # "b" needs the only request, held until the gate opens
    gate.set()
    second.join(30)
    waiter.join(30)
    q.wait_all()
    assert order == ["a", "b"] and idle == [0]
    np.testing.assert_array_equal(q[0].get_output_tensor().data, filled(2.0))


def reshape_model(rt):
    """data[?] reshaped to a runtime `shape` input: a mismatch fails inside the inference, not when binding."""
    ops = importlib.import_module(f"{rt.__name__}.opset13")
    data = ops.parameter([-1], np.float32, name="data")
    shape = ops.parameter([2], np.int64, name="shape")
    return rt.Model([ops.reshape(data, shape, False)], [data, shape], "reshaper")


def test_inference_errors_reach_wait_and_wait_all(rt):
    compiled = rt.Core().compile_model(reshape_model(rt), "CPU")
    good = {"data": np.arange(6, dtype=np.float32), "shape": np.array([2, 3], np.int64)}
    bad = {"data": np.arange(5, dtype=np.float32), "shape": np.array([2, 3], np.int64)}
    req = compiled.create_infer_request()
    req.start_async(bad)
    with pytest.raises(RuntimeError):
        req.wait()
    req.start_async(good)
    req.wait()
    np.testing.assert_array_equal(req.get_output_tensor().data, good["data"].reshape(2, 3))
    q = rt.AsyncInferQueue(compiled, 2)
    done = []
    q.set_callback(lambda request, userdata: done.append(userdata))
    q.start_async(good, "good")
    q.wait_all()
    q.start_async(bad, "bad")
    with pytest.raises(RuntimeError):
        q.wait_all()
    assert "good" in done


def test_workers_end_with_their_requests(rt, compiled):
    if rt.__name__ != "ferrovino":
        pytest.skip("ferrovino's worker threads")
    import gc

    def workers():
        return {t for t in threading.enumerate() if t.name == "ferrovino-infer-request"}

    before = workers()
    requests = [compiled.create_infer_request() for _ in range(8)]
    for k, r in enumerate(requests):
        r.start_async({0: filled(float(k))})
    for k, r in enumerate(requests):
        r.wait()
        np.testing.assert_array_equal(r.get_output_tensor().data, filled(float(k)))
    started = workers() - before
    assert len(started) == 8
    del requests, r
    gc.collect()
    for t in started:
        t.join(30)
    assert not any(t.is_alive() for t in started)
