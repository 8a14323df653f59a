"""`properties`: OpenVINO's property keys as callables and enums, string and object keys in configurations,
SUPPORTED_PROPERTIES of devices and compiled models, device properties, typed values and errors.

Every test takes the runtime under test (`rt`), so `--runtime=openvino` runs the same checks on OpenVINO itself;
the key and enum tables are compared with OpenVINO's directly.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

#: (module under `properties`, attribute) of the properties checked against OpenVINO's keys.
PROPERTY_NAMES = {
    "": ["supported_properties", "available_devices", "model_name", "optimal_number_of_infer_requests",
         "range_for_streams", "range_for_async_infer_requests", "execution_devices", "loaded_from_cache",
         "optimal_batch_size", "max_batch_size", "compatibility_check", "runtime_requirements", "cache_dir",
         "cache_mode", "weights_path", "enable_mmap", "enable_profiling", "enable_weightless",
         "inference_num_threads", "compilation_num_threads", "num_streams", "auto_batch_timeout",
         "force_tbb_terminate", "key_cache_precision", "value_cache_precision", "key_cache_group_size",
         "value_cache_group_size", "workload_type"],
    "hint": ["performance_mode", "num_requests", "inference_precision", "execution_mode", "model_priority",
             "scheduling_core_type", "model_distribution_policy", "enable_cpu_pinning", "enable_cpu_reservation",
             "enable_hyper_threading", "allow_auto_batching", "kv_cache_precision",
             "dynamic_quantization_group_size", "activations_scale_factor", "compiled_blob", "model"],
    "device": ["id", "priorities", "properties", "full_name", "architecture", "type", "capabilities", "gops",
               "thermal", "uuid", "luid", "pci_info"],
    "streams": ["num"],
    "log": ["level"],
    "intel_cpu": ["denormals_optimization", "sparse_weights_decompression_rate", "tbb_partitioner"],
    "intel_auto": ["device_bind_buffer", "enable_startup_fallback", "enable_runtime_fallback", "low_power_device",
                   "perf_curve_table", "schedule_policy"],
    "intel_gpu": ["device_total_mem_size", "execution_units_count", "disable_winograd_convolution"],
    "intel_gpu.hint": ["queue_priority", "host_task_priority", "available_device_mem"],
    "intel_npu": ["compiler_type", "platform", "turbo", "tiles"],
}

ENUMS = [("hint", "PerformanceMode"), ("hint", "ExecutionMode"), ("hint", "Priority"), ("hint", "SchedulingCoreType"),
         ("hint", "ModelDistributionPolicy"), ("log", "Level"), ("device", "Type"), ("", "CacheMode"),
         ("", "WorkloadType"), ("", "CompatibilityCheck"), ("intel_cpu", "TbbPartitioner"),
         ("intel_auto", "SchedulePolicy"), ("intel_npu", "CompilerType")]


def props_module(rt, sub=""):
    return importlib.import_module(f"{rt.__name__}.properties" + (f".{sub}" if sub else ""))


def relu_model(rt):
    ops = importlib.import_module(f"{rt.__name__}.opset13")
    p = ops.parameter([2, 3], np.float32, name="x")
    return rt.Model([ops.relu(p, name="relu")], [p], "relu_net")


@pytest.fixture
def props(rt):
    return props_module(rt)


# ---------------------------------------------------------------------------------------------------------------
# The properties module


@pytest.mark.parametrize("sub", sorted(PROPERTY_NAMES))
def test_property_keys_match_openvino(rt, ov, sub):
    ours, theirs = props_module(rt, sub), props_module(ov, sub)
    for name in PROPERTY_NAMES[sub]:
        mine, ref = getattr(ours, name), getattr(theirs, name)
        assert isinstance(mine, str) and mine == ref and str(mine) == str(ref), (sub, name)
        assert mine() == ref() and type(mine()) is str, (sub, name)


@pytest.mark.parametrize("sub,name", ENUMS)
def test_enums_match_openvino(rt, ov, sub, name):
    mine, ref = getattr(props_module(rt, sub), name), getattr(props_module(ov, sub), name)
    assert {k: int(v) for k, v in mine.__members__.items()} == {k: int(v) for k, v in ref.__members__.items()}
    for member in ref.__members__:
        m, r = getattr(mine, member), getattr(ref, member)
        assert (repr(m), str(m), m.name, m.value, int(m)) == (repr(r), str(r), r.name, r.value, int(r))
        assert m != m.name  # enum members are not their names


def test_calling_a_property_makes_a_config_pair(rt, props):
    key, value = props.hint.performance_mode(props.hint.PerformanceMode.THROUGHPUT)
    assert key == "PERFORMANCE_HINT" and value.value == props.hint.PerformanceMode.THROUGHPUT
    assert repr(value) == "<OVAny class>"
    assert props.cache_dir("/tmp/c")[1].value == "/tmp/c"
    assert props.enable_profiling(True)[1].value is True
    assert props.hint.num_requests(4)[1].value == 4
    assert props.streams.num(3)[1].value == 3
    assert props.streams.num(props.streams.Num.AUTO)[1].value == -1
    assert props.hint.inference_precision(rt.Type.f16)[1].value == rt.Type.f16
    assert props.device.priorities("CPU", "GPU")[1].value == "CPU,GPU,"
    both = props.device.properties({"CPU": {"NUM_STREAMS": 2}}, {"GPU": {}})[1].value
    assert both == {"CPU": {"NUM_STREAMS": 2}, "GPU": {}}


def test_property_argument_errors(props):
    for call in (lambda: props.supported_properties(1), lambda: props.cache_dir(3),
                 lambda: props.hint.performance_mode("THROUGHPUT"), lambda: props.hint.inference_precision("f16"),
                 lambda: props.hint.num_requests("4"), lambda: props.device.properties("CPU", {})):
        with pytest.raises(TypeError):
            call()


def test_ovany_is_exported(rt):
    a = rt.OVAny(3)
    assert a.value == 3 and a.get() == 3 and a == 3 and a == rt.OVAny(3)


# ---------------------------------------------------------------------------------------------------------------
# Core and CompiledModel


def test_set_and_get_with_objects_pairs_and_strings(rt, props):
    core = rt.Core()
    hint = props.hint
    core.set_property("CPU", hint.performance_mode(hint.PerformanceMode.THROUGHPUT))
    assert core.get_property("CPU", hint.performance_mode) == hint.PerformanceMode.THROUGHPUT
    core.set_property("CPU", {"PERFORMANCE_HINT": "LATENCY"})
    assert core.get_property("CPU", "PERFORMANCE_HINT") == hint.PerformanceMode.LATENCY
    core.set_property({props.enable_profiling: True})
    assert core.get_property("CPU", props.enable_profiling) is True
    core.set_property("CPU", {"PERF_COUNT": "NO", props.inference_num_threads: 1})
    assert core.get_property("CPU", "PERF_COUNT") is False
    assert core.get_property("CPU", "INFERENCE_NUM_THREADS") == 1
    core.set_property("CPU", {props.log.level: props.log.Level.WARNING})
    assert core.get_property("CPU", props.log.level) == props.log.Level.WARNING
    core.set_property("CPU", {"LOG_LEVEL": "LOG_ERROR"})
    assert core.get_property("CPU", "LOG_LEVEL") == props.log.Level.ERR
    core.set_property("CPU", {props.hint.inference_precision: rt.Type.f32})
    assert core.get_property("CPU", "INFERENCE_PRECISION_HINT") == rt.Type.f32
    core.set_property("CPU", {props.streams.num: props.streams.Num(1)})
    assert core.get_property("CPU", props.streams.num) == 1


def test_cpu_supported_properties(rt, props):
    core = rt.Core()
    supported = core.get_property("CPU", props.supported_properties)
    assert isinstance(supported, dict) and set(supported.values()) <= {"RO", "RW", "WO"}
    for key in ("SUPPORTED_PROPERTIES", "AVAILABLE_DEVICES", "FULL_DEVICE_NAME", "OPTIMIZATION_CAPABILITIES",
                "DEVICE_ARCHITECTURE", "DEVICE_TYPE"):
        assert supported[key] == "RO", key
    for key in ("NUM_STREAMS", "INFERENCE_NUM_THREADS", "PERF_COUNT", "INFERENCE_PRECISION_HINT",
                "PERFORMANCE_HINT", "EXECUTION_MODE_HINT", "PERFORMANCE_HINT_NUM_REQUESTS", "LOG_LEVEL",
                "ENABLE_CPU_PINNING"):
        assert supported[key] == "RW", key
    for key, mode in supported.items():
        if mode != "WO" and key != "COMPATIBILITY_CHECK":  # OpenVINO's Python cannot convert that one
            core.get_property("CPU", key)


def test_cpu_device_properties(rt, props):
    core = rt.Core()
    name = core.get_property("CPU", props.device.full_name)
    assert isinstance(name, str) and name
    assert core.get_property("CPU", props.device.type) == props.device.Type.INTEGRATED
    capabilities = core.get_property("CPU", props.device.capabilities)
    assert "FP32" in capabilities and "EXPORT_IMPORT" in capabilities
    assert isinstance(core.get_property("CPU", props.device.architecture), str)
    assert core.get_property("CPU", props.hint.execution_mode) == props.hint.ExecutionMode.PERFORMANCE


def test_compiled_model_properties(rt, props):
    core = rt.Core()
    compiled = core.compile_model(relu_model(rt), "CPU", {
        props.hint.performance_mode: props.hint.PerformanceMode.THROUGHPUT,
        "INFERENCE_NUM_THREADS": 1,
    })
    supported = compiled.get_property(props.supported_properties)
    assert isinstance(supported, dict) and set(supported.values()) == {"RO"}
    for key in ("SUPPORTED_PROPERTIES", "NETWORK_NAME", "OPTIMAL_NUMBER_OF_INFER_REQUESTS", "EXECUTION_DEVICES",
                "PERFORMANCE_HINT", "INFERENCE_NUM_THREADS", "INFERENCE_PRECISION_HINT", "PERF_COUNT"):
        assert key in supported, key
    for key in supported:
        compiled.get_property(key)
    assert compiled.get_property(props.model_name) == "relu_net"
    assert compiled.get_property(props.execution_devices) == ["CPU"]
    assert compiled.get_property("INFERENCE_NUM_THREADS") == 1
    assert str(compiled.get_property(props.hint.performance_mode)).endswith("THROUGHPUT")
    optimal = compiled.get_property(props.optimal_number_of_infer_requests)
    assert isinstance(optimal, int) and optimal >= 1
    assert compiled.get_property(props.hint.execution_mode) == props.hint.ExecutionMode.PERFORMANCE
    with pytest.raises(RuntimeError, match="already compiled"):
        compiled.set_property({"PERF_COUNT": True})


@pytest.mark.parametrize("pinning", [True, False])
def test_cpu_pinning_property(rt, props, pinning):
    core = rt.Core()
    assert core.get_property("CPU", props.hint.enable_cpu_pinning) is True
    compiled = core.compile_model(relu_model(rt), "CPU", {props.hint.enable_cpu_pinning: pinning})
    assert compiled.get_property("ENABLE_CPU_PINNING") is pinning
    out = compiled.create_infer_request().infer({0: np.array([[-1, 2, -3], [4, -5, 6]], np.float32)})
    np.testing.assert_array_equal(out[0], [[0, 2, 0], [4, 0, 6]])


def test_device_properties_and_priorities_in_compile_config(rt, props):
    core = rt.Core()
    compiled = core.compile_model(relu_model(rt), "CPU", dict([props.device.properties(
        {"CPU": {props.inference_num_threads: 1}})]))
    assert compiled.get_property("INFERENCE_NUM_THREADS") == 1
    auto = core.compile_model(relu_model(rt), "AUTO", dict([props.device.priorities("CPU")]))
    assert auto.get_property(props.execution_devices) == ["CPU"]
    out = auto.create_infer_request().infer({0: np.array([[-1, 2, -3], [4, -5, 6]], np.float32)})
    np.testing.assert_array_equal(out[0], [[0, 2, 0], [4, 0, 6]])


def test_unknown_keys_and_bad_values_are_errors(rt):
    model = relu_model(rt)
    with pytest.raises(RuntimeError, match="FOO_BAR"):
        rt.Core().compile_model(model, "CPU", {"FOO_BAR": 1})
    with pytest.raises(RuntimeError, match="FOO_BAR"):
        rt.Core().get_property("CPU", "FOO_BAR")
    compiled = rt.Core().compile_model(model, "CPU")
    with pytest.raises(RuntimeError, match="FOO_BAR"):
        compiled.get_property("FOO_BAR")
    for key, value in (("PERFORMANCE_HINT", "FAST"), ("PERF_COUNT", "maybe"), ("NUM_STREAMS", "many"),
                       ("INFERENCE_NUM_THREADS", -3)):
        with pytest.raises(RuntimeError, match=str(value)):
            rt.Core().compile_model(model, "CPU", {key: value})


def test_set_property_rejects_unknown_keys(rt):
    core = rt.Core()
    with pytest.raises(RuntimeError, match="FOO_BAR"):
        core.set_property("CPU", {"FOO_BAR": 1})  # ferrovino refuses here
        core.compile_model(relu_model(rt), "CPU")  # OpenVINO, when the plugin is loaded
