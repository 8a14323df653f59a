"""Profiling: PERF_COUNT → InferRequest.get_profiling_info() (ProfilingInfo per node with status and timedelta
times), and CompiledModel.get_runtime_model() (the executed graph, fused nodes named in originalLayersNames).

Every test takes the runtime under test (`rt`), so `--runtime=openvino` runs the same checks on OpenVINO itself;
where the two runtimes can be compared node by node, the test runs both.
"""

from __future__ import annotations

import datetime
import importlib

import numpy as np
import pytest


def conv_net(rt):
    """x → Convolution → bias Add → Relu (fused into the convolution by both runtimes) → Softmax."""
    ops = importlib.import_module(f"{rt.__name__}.opset13")
    x = ops.parameter([1, 3, 8, 8], np.float32, name="x")
    w = ops.constant(np.linspace(-1, 1, 4 * 3 * 3 * 3, dtype=np.float32).reshape(4, 3, 3, 3))
    conv = ops.convolution(x, w, [1, 1], [1, 1], [1, 1], [1, 1], name="conv")
    bias = ops.add(conv, ops.constant(np.arange(4, dtype=np.float32).reshape(1, 4, 1, 1)), name="bias")
    relu = ops.relu(bias, name="relu")
    return rt.Model([ops.softmax(relu, 1, name="sm")], [x], "conv_net")


def compile_net(rt, perf_count=True):
    return rt.Core().compile_model(conv_net(rt), "CPU", {"PERF_COUNT": perf_count})


def infer_once(request):
    request.infer([np.linspace(0, 1, 192, dtype=np.float32).reshape(1, 3, 8, 8)])
    return {p.node_name: p for p in request.get_profiling_info()}


def rt_text(value):
    """An rt_info value as text (OpenVINO wraps them in OVAny)."""
    return value.astype(str) if hasattr(value, "astype") else str(value)


def test_status_enum(rt):
    status = rt.ProfilingInfo.Status
    assert [int(status.NOT_RUN), int(status.OPTIMIZED_OUT), int(status.EXECUTED)] == [0, 1, 2]
    info = rt.ProfilingInfo()
    assert info.status == status.NOT_RUN
    assert info.real_time == datetime.timedelta(0)


def test_executed_nodes_with_times(rt, ov):
    for r in (rt, ov):
        report = infer_once(compile_net(r).create_infer_request())
        executed = r.ProfilingInfo.Status.EXECUTED
        for name, node_type in (("conv", "Convolution"), ("sm", "Softmax")):
            info = report[name]
            assert info.node_type == node_type
            assert info.status == executed
            assert isinstance(info.real_time, datetime.timedelta)
            assert isinstance(info.cpu_time, datetime.timedelta)
            assert info.exec_type
        assert report["conv"].real_time > datetime.timedelta(0)


def test_inputs_outputs_and_fused_nodes_are_not_run(rt, ov):
    for r in (rt, ov):
        report = infer_once(compile_net(r).create_infer_request())
        not_run = r.ProfilingInfo.Status.NOT_RUN
        x = report["x"]
        assert (x.node_type, x.exec_type, x.status) == ("Parameter", "unknown_f32", not_run)
        results = [p for p in report.values() if p.node_type == "Result"]
        assert len(results) == 1 and results[0].status == not_run
        # The Relu runs inside the convolution: listed, not run, no kernel of its own.
        relu = report["relu"]
        assert (relu.node_type, relu.exec_type, relu.status) == ("Relu", "undef", not_run)
        assert relu.real_time == datetime.timedelta(0)


def test_report_follows_execution_order(rt, ov):
    for r in (rt, ov):
        request = compile_net(r).create_infer_request()
        names = [p.node_name for p in request.get_profiling_info()]
        assert [p.node_name for p in request.profiling_info] == names
        known = [n for n in names if n in ("x", "conv", "relu", "sm")]
        assert known == ["x", "conv", "relu", "sm"]
        assert names[-1].startswith("Result")


@pytest.mark.parametrize("perf_count", [False, True])
def test_nothing_runs_before_an_inference_or_without_perf_count(rt, perf_count):
    request = compile_net(rt, perf_count).create_infer_request()
    if not perf_count:
        request.infer([np.ones((1, 3, 8, 8), np.float32)])
    report = request.get_profiling_info()
    assert {p.node_name for p in report} >= {"x", "conv", "sm"}
    assert all(p.status == rt.ProfilingInfo.Status.NOT_RUN for p in report)
    assert all(p.real_time == datetime.timedelta(0) for p in report)


def test_profiling_does_not_change_results(rt):
    x = np.linspace(-1, 1, 192, dtype=np.float32).reshape(1, 3, 8, 8)
    plain = compile_net(rt, False)({0: x})[0]
    profiled = compile_net(rt, True)({0: x})[0]
    np.testing.assert_array_equal(plain, profiled)


def runtime_nodes(r):
    model = compile_net(r).get_runtime_model()
    return {n.get_friendly_name(): n for n in model.get_ordered_ops()}, model


def test_runtime_model_shows_fused_layers(rt, ov):
    for r in (rt, ov):
        nodes, model = runtime_nodes(r)
        info = {name: {k: rt_text(v) for k, v in n.get_rt_info().items()} for name, n in nodes.items()}
        assert info["conv"]["layerType"] == "Convolution"
        assert info["conv"]["originalLayersNames"] == "conv,bias,relu"
        assert info["sm"]["layerType"] == "Softmax"
        assert info["x"]["layerType"] == "Input"
        assert nodes["conv"].get_type_name() == "ExecutionNode"
        assert nodes["x"].get_type_name() == "Parameter"
        # The fused Add and Relu have no node of their own.
        assert "bias" not in nodes and "relu" not in nodes
        outputs = [n for n in nodes.values() if n.get_type_name() == "Result"]
        assert len(outputs) == 1 and rt_text(outputs[0].get_rt_info()["layerType"]) == "Output"
        for n in nodes.values():
            keys = set(n.get_rt_info().keys())
            assert {"execOrder", "layerType", "originalLayersNames", "primitiveType", "outputPrecisions"} <= keys
        orders = [int(rt_text(n.get_rt_info()["execOrder"])) for n in model.get_ordered_ops()]
        assert len(set(orders)) == len(orders)
        assert model.output(0).get_partial_shape() == r.PartialShape([1, 4, 8, 8])


def test_runtime_model_of_a_stateful_model(rt):
    ops = importlib.import_module(f"{rt.__name__}.opset6")
    x = ops.parameter([2], np.float32, name="x")
    rv = ops.read_value(ops.constant(np.zeros(2, np.float32)), "v", np.float32, [2])
    total = ops.add(rv, x, name="total")
    model = rt.Model([total.output(0)], [ops.assign(total, "v")], [x], "state")
    runtime = rt.Core().compile_model(model, "CPU").get_runtime_model()
    types = {rt_text(n.get_rt_info()["layerType"]) for n in runtime.get_ordered_ops()}
    # OpenVINO's names for the state ops.
    assert {"Input", "MemoryInput", "MemoryOutput", "Output"} <= types
