"""``ferrovino.properties``: OpenVINO's property keys, usable wherever a configuration is (``import
ferrovino.properties as props``).

Each property is a ``str`` holding its key, and a function: ``props.cache_dir()`` is ``"CACHE_DIR"`` and
``props.cache_dir("/tmp/c")`` the ``("CACHE_DIR", OVAny("/tmp/c"))`` pair. Configuration dicts may mix property
objects, plain string keys, enum members (``props.hint.PerformanceMode.THROUGHPUT``) and plain values
(``"THROUGHPUT"``); ``Core.get_property`` returns enum members and ``Type`` objects where OpenVINO does.
"""

from __future__ import annotations

from typing import Any

from ferrovino._native import Type as _ElementType
from ferrovino.properties import device, hint, intel_auto, intel_cpu, intel_gpu, intel_npu, log, streams
from ferrovino.properties._properties import BOOL, INT, STR, TYPE, OVAny, Property, PropertyEnum, enum_of

__all__ = [
    "CacheMode", "CompatibilityCheck", "OVAny", "Property", "WorkloadType", "device", "hint", "intel_auto",
    "intel_cpu", "intel_gpu", "intel_npu", "log", "streams",
]


class CacheMode(PropertyEnum):
    """``CACHE_MODE`` values."""

    OPTIMIZE_SIZE = 0
    OPTIMIZE_SPEED = 1


class CompatibilityCheck(PropertyEnum):
    """``COMPATIBILITY_CHECK`` values."""

    NOT_APPLICABLE = 0
    SUPPORTED = 1
    UNSUPPORTED = 2


class WorkloadType(PropertyEnum):
    """``WORKLOAD_TYPE`` values."""

    DEFAULT = 0
    EFFICIENT = 1


supported_properties = Property("SUPPORTED_PROPERTIES", None, "supported_properties")
available_devices = Property("AVAILABLE_DEVICES", None, "available_devices")
model_name = Property("NETWORK_NAME", None, "model_name")
optimal_number_of_infer_requests = Property("OPTIMAL_NUMBER_OF_INFER_REQUESTS", None,
                                            "optimal_number_of_infer_requests")
range_for_streams = Property("RANGE_FOR_STREAMS", None, "range_for_streams")
range_for_async_infer_requests = Property("RANGE_FOR_ASYNC_INFER_REQUESTS", None, "range_for_async_infer_requests")
execution_devices = Property("EXECUTION_DEVICES", None, "execution_devices")
loaded_from_cache = Property("LOADED_FROM_CACHE", None, "loaded_from_cache")
optimal_batch_size = Property("OPTIMAL_BATCH_SIZE", None, "optimal_batch_size")
max_batch_size = Property("MAX_BATCH_SIZE", None, "max_batch_size")
compatibility_check = Property("COMPATIBILITY_CHECK", None, "compatibility_check")
runtime_requirements = Property("RUNTIME_REQUIREMENTS", None, "runtime_requirements")
cache_dir = Property("CACHE_DIR", STR, "cache_dir")
cache_mode = Property("CACHE_MODE", enum_of(CacheMode), "cache_mode")
weights_path = Property("WEIGHTS_PATH", STR, "weights_path")
enable_mmap = Property("ENABLE_MMAP", BOOL, "enable_mmap")
enable_profiling = Property("PERF_COUNT", BOOL, "enable_profiling")
enable_weightless = Property("ENABLE_WEIGHTLESS", BOOL, "enable_weightless")
inference_num_threads = Property("INFERENCE_NUM_THREADS", INT, "inference_num_threads")
compilation_num_threads = Property("COMPILATION_NUM_THREADS", INT, "compilation_num_threads")
num_streams = Property("NUM_STREAMS", streams.num._check, "num_streams")
auto_batch_timeout = Property("AUTO_BATCH_TIMEOUT", INT, "auto_batch_timeout")
force_tbb_terminate = Property("FORCE_TBB_TERMINATE", BOOL, "force_tbb_terminate")
key_cache_precision = Property("KEY_CACHE_PRECISION", TYPE, "key_cache_precision")
value_cache_precision = Property("VALUE_CACHE_PRECISION", TYPE, "value_cache_precision")
key_cache_group_size = Property("KEY_CACHE_GROUP_SIZE", INT, "key_cache_group_size")
value_cache_group_size = Property("VALUE_CACHE_GROUP_SIZE", INT, "value_cache_group_size")
workload_type = Property("WORKLOAD_TYPE", enum_of(WorkloadType), "workload_type")


# -------------------------------------------------------------------------------------------------------------------
# Conversions between Python values and the runtime's configuration values

#: Keys whose string values read back as members of an enum.
_ENUM_OF_KEY: dict[str, type] = {
    "PERFORMANCE_HINT": hint.PerformanceMode,
    "EXECUTION_MODE_HINT": hint.ExecutionMode,
    "MODEL_PRIORITY": hint.Priority,
    "SCHEDULING_CORE_TYPE": hint.SchedulingCoreType,
    "CACHE_MODE": CacheMode,
    "WORKLOAD_TYPE": WorkloadType,
    "COMPATIBILITY_CHECK": CompatibilityCheck,
    "DEVICE_TYPE": device.Type,
    "TBB_PARTITIONER": intel_cpu.TbbPartitioner,
    "SCHEDULE_POLICY": intel_auto.SchedulePolicy,
    "NPU_COMPILER_TYPE": intel_npu.CompilerType,
}

#: Keys whose values read back as element types.
_TYPE_KEYS = {"INFERENCE_PRECISION_HINT", "KV_CACHE_PRECISION", "KEY_CACHE_PRECISION", "VALUE_CACHE_PRECISION"}

#: Keys whose values read back as tuples.
_TUPLE_KEYS = {"RANGE_FOR_STREAMS", "RANGE_FOR_ASYNC_INFER_REQUESTS"}

#: ``LOG_LEVEL`` strings → ``log.Level`` members.
_LOG_LEVELS = {"LOG_NONE": log.Level.NO, "LOG_ERROR": log.Level.ERR, "LOG_WARNING": log.Level.WARNING,
               "LOG_INFO": log.Level.INFO, "LOG_DEBUG": log.Level.DEBUG, "LOG_TRACE": log.Level.TRACE}


def _encode(value: Any) -> Any:
    """A property value as the runtime takes it: enum members by name, ``OVAny`` unwrapped, containers inside."""
    if isinstance(value, OVAny):
        value = value.value
    if isinstance(value, PropertyEnum):
        return value.name
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_encode(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    return value


def to_config(properties: Any) -> dict[str, Any]:
    """A configuration from a ``{key: value}`` dict or one ``(key, value)`` pair (``props.cache_dir("/tmp")``)."""
    if isinstance(properties, tuple) and len(properties) == 2 and isinstance(properties[0], str):
        properties = dict([properties])
    if not isinstance(properties, dict):
        raise TypeError(f"properties must be a dict {{key: value}} or a (key, value) pair, got {type(properties).__name__}")
    return {str(k): _encode(v) for k, v in properties.items()}


def from_value(key: str, value: Any) -> Any:
    """A property value as OpenVINO returns it: enum members, ``Type`` objects and tuples for the keys that use them."""
    if key == "LOG_LEVEL":
        return _LOG_LEVELS.get(str(value).upper(), value)
    if key in _ENUM_OF_KEY and isinstance(value, str):
        return _ENUM_OF_KEY[key].__members__.get(value.upper(), value)
    if key in _TYPE_KEYS and isinstance(value, str):
        try:
            return _ElementType(value)
        except RuntimeError:
            return value
    if key in _TUPLE_KEYS and isinstance(value, list):
        return tuple(value)
    return value
