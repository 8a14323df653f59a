"""Stateful models: ReadValue/Assign (opset3 and opset6), InferRequest.query_state / reset_state, VariableState
name / state / reset, state kept per request, and the MakeStateful pass.

Every test takes the runtime under test (`rt`), so `--runtime=openvino` runs the same checks on OpenVINO itself;
the values across several inferences are also compared with OpenVINO (`ov`) running the same graph.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest


def opset(rt, n):
    return importlib.import_module(f"{rt.__name__}.opset{n}")


def passes(rt):
    return importlib.import_module(f"{rt.__name__}.passes")


def accumulator(rt, init=None):
    """v6: state = state + x, output the new state; the variable starts as `init(x)` (a callable on the input node),
    or as ones when `init` is None."""
    ops = opset(rt, 6)
    x = ops.parameter([2, 3], np.float32, name="x")
    start = ops.constant(np.ones((2, 3), np.float32)) if init is None else init(ops, x)
    rv = ops.read_value(start, "acc", np.float32, [2, 3])
    total = ops.add(rv, x, name="total")
    sink = ops.assign(total, "acc")
    return rt.Model([total.output(0)], [sink], [x], "accumulator")


def run(compiled_or_request, values):
    """Outputs of one inference per input value (all-equal (2, 3) inputs), as the first element of each."""
    request = compiled_or_request
    return [float(request.infer({0: np.full((2, 3), v, np.float32)})[0][0, 0]) for v in values]


def both(rt, ov, build):
    """Requests of the same model on the runtime under test and on OpenVINO."""
    return [r.Core().compile_model(build(r), "CPU").create_infer_request() for r in (rt, ov)]


def test_read_value_assign_v6_carries_state_like_openvino(rt, ov):
    ours, theirs = both(rt, ov, accumulator)
    values = [1, 2, 3, -4]
    got = run(ours, values)
    assert got == run(theirs, values)
    assert got == [2.0, 4.0, 7.0, 3.0]  # ones, then + 1, + 2, + 3, - 4


def test_initial_value_computed_from_the_input(rt, ov):
    def build(r):
        return accumulator(r, init=lambda ops, x: ops.multiply(x, ops.constant(np.float32(2))))

    ours, theirs = both(rt, ov, build)
    values = [1, 2, 3]
    assert run(ours, values) == run(theirs, values) == [3.0, 5.0, 8.0]
    ours.reset_state()
    theirs.reset_state()
    # After a reset the initial value is computed again from the new input: 2 * 5 + 5.
    assert run(ours, [5]) == run(theirs, [5]) == [15.0]


def test_read_value_v3(rt, ov):
    def build(r):
        ops = opset(r, 3)
        x = ops.parameter([2], np.float32, name="x")
        rv = ops.read_value(ops.constant(np.array([5, 6], np.float32)), "w")
        total = ops.add(rv, x)
        return r.Model([ops.result(total)], [ops.assign(total, "w")], [x], "v3")

    ours, theirs = both(rt, ov, build)
    for _ in range(3):
        a = ours.infer([np.array([1, 1], np.float32)])[0]
        b = theirs.infer([np.array([1, 1], np.float32)])[0]
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, [8, 9])
    assert [s.name for s in ours.query_state()] == ["w"]
    assert ours.get_compiled_model().get_runtime_model() is not None


def test_query_state_names_and_values(rt):
    request = rt.Core().compile_model(accumulator(rt), "CPU").create_infer_request()
    (state,) = request.query_state()
    assert type(state).__name__ == "VariableState"
    assert state.name == "acc"
    # A variable never written reads as zeros of its shape.
    np.testing.assert_array_equal(state.state.data, np.zeros((2, 3), np.float32))
    run(request, [1, 2])
    np.testing.assert_array_equal(request.query_state()[0].state.data, np.full((2, 3), 4, np.float32))


def test_set_state_is_read_by_the_next_inference_and_copied(rt, ov):
    ours, theirs = both(rt, ov, accumulator)
    for request in (ours, theirs):
        run(request, [1])
        value = np.full((2, 3), 10, np.float32)
        request.query_state()[0].state = rt.Tensor(value) if request is ours else ov.Tensor(value)
        value[:] = 100  # the state holds a copy
        np.testing.assert_array_equal(request.query_state()[0].state.data, np.full((2, 3), 10, np.float32))
    assert run(ours, [0, 1]) == run(theirs, [0, 1]) == [10.0, 11.0]


def test_set_state_with_a_wrong_shape_fails(rt):
    request = rt.Core().compile_model(accumulator(rt), "CPU").create_infer_request()
    with pytest.raises(RuntimeError):
        request.query_state()[0].state = rt.Tensor(np.ones((4, 5), np.float32))


def test_variable_reset_and_reset_state(rt, ov):
    ours, theirs = both(rt, ov, accumulator)
    for request in (ours, theirs):
        run(request, [1, 1, 1])
        request.query_state()[0].reset()
    # The initial value (ones) again.
    assert run(ours, [1]) == run(theirs, [1]) == [2.0]
    for request in (ours, theirs):
        request.reset_state()
        np.testing.assert_array_equal(request.query_state()[0].state.data, np.zeros((2, 3), np.float32))
    assert run(ours, [2]) == run(theirs, [2]) == [3.0]


def test_state_is_kept_per_request(rt):
    compiled = rt.Core().compile_model(accumulator(rt), "CPU")
    first, second = compiled.create_infer_request(), compiled.create_infer_request()
    assert run(first, [1, 1, 1]) == [2.0, 3.0, 4.0]
    assert run(second, [5]) == [6.0]
    assert run(first, [1]) == [5.0]


def test_compiled_model_call_keeps_state(rt):
    compiled = rt.Core().compile_model(accumulator(rt), "CPU")
    assert [float(compiled({0: np.ones((2, 3), np.float32)})[0][0, 0]) for _ in range(3)] == [2.0, 3.0, 4.0]
    assert compiled.query_state()[0].name == "acc"
    compiled.reset_state()
    assert float(compiled({0: np.ones((2, 3), np.float32)})[0][0, 0]) == 2.0


def test_dynamic_variable_shape(rt, ov):
    def build(r):
        ops = opset(r, 6)
        x = ops.parameter([-1, 3], np.float32, name="x")
        rv = ops.read_value(x, "v", np.float32, [-1, 3])
        total = ops.add(rv, x)
        return r.Model([total.output(0)], [ops.assign(total, "v")], [x], "dyn")

    ours, theirs = both(rt, ov, build)
    assert list(ours.query_state()[0].state.shape) == list(theirs.query_state()[0].state.shape) == [0, 3]
    for request in (ours, theirs):
        for _ in range(2):
            out = request.infer([np.ones((2, 3), np.float32)])[0]
        np.testing.assert_array_equal(out, np.full((2, 3), 3, np.float32))


def recurrent(rt):
    """out = 0.5 * (x + h); h_out = x + h."""
    ops = opset(rt, 13)
    x = ops.parameter([2, 3], np.float32, name="x")
    h = ops.parameter([2, 3], np.float32, name="h")
    total = ops.add(x, h, name="sum")
    out = ops.result(ops.multiply(total, ops.constant(np.float32(0.5))), name="out")
    h_out = ops.result(total, name="h_out")
    return rt.Model([out, h_out], [x, h], "rnn")


def test_make_stateful_by_names(rt, ov):
    results = []
    for r in (rt, ov):
        model = recurrent(r)
        name = next(iter(model.output(1).get_names()))
        manager = passes(r).Manager()
        manager.register_pass(passes(r).MakeStateful({"h": name}))
        manager.run_passes(model)
        assert [p.get_friendly_name() for p in model.get_parameters()] == ["x"]
        assert len(model.outputs) == 1 and len(model.sinks) == 1
        request = r.Core().compile_model(model, "CPU").create_infer_request()
        results.append(run(request, [1, 2, 3]))
        assert [s.name for s in request.query_state()] == ["h" + name]
    assert results[0] == results[1] == [0.5, 1.5, 3.0]


def test_make_stateful_by_node_pairs(rt, ov):
    results = []
    for r in (rt, ov):
        model = recurrent(r)
        h = model.get_parameters()[1]
        h_out = model.get_results()[1]
        manager = passes(r).Manager()
        manager.register_pass(passes(r).MakeStateful([(h, h_out)]))
        manager.run_passes(model)
        request = r.Core().compile_model(model, "CPU").create_infer_request()
        results.append(run(request, [2, 2]))
        assert [s.name for s in request.query_state()] == ["hh_out"]
    assert results[0] == results[1] == [1.0, 2.0]


def test_make_stateful_unknown_name(rt):
    model = recurrent(rt)
    manager = passes(rt).Manager()
    manager.register_pass(passes(rt).MakeStateful({"nope": "h_out"}))
    with pytest.raises(RuntimeError, match="nope is not associated with any of Parameters"):
        manager.run_passes(model)
