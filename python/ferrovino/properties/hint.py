"""``ferrovino.properties.hint``: performance hints (``hint.performance_mode``, ``hint.num_requests``, ...)."""

from ferrovino.properties._properties import BOOL, FLOAT, INT, MODEL, TENSOR, TYPE, Property, PropertyEnum, enum_of, set_of


class PerformanceMode(PropertyEnum):
    """``PERFORMANCE_HINT`` values."""

    LATENCY = 1
    THROUGHPUT = 2
    CUMULATIVE_THROUGHPUT = 3


class ExecutionMode(PropertyEnum):
    """``EXECUTION_MODE_HINT`` values."""

    PERFORMANCE = 1
    ACCURACY = 2


class Priority(PropertyEnum):
    """``MODEL_PRIORITY`` values (``DEFAULT`` is ``MEDIUM``)."""

    LOW = 0
    MEDIUM = 1
    HIGH = 2
    DEFAULT = 1


class SchedulingCoreType(PropertyEnum):
    """``SCHEDULING_CORE_TYPE`` values."""

    ANY_CORE = 0
    PCORE_ONLY = 1
    ECORE_ONLY = 2


class ModelDistributionPolicy(PropertyEnum):
    """``MODEL_DISTRIBUTION_POLICY`` values."""

    TENSOR_PARALLEL = 0
    PIPELINE_PARALLEL = 1


performance_mode = Property("PERFORMANCE_HINT", enum_of(PerformanceMode), "performance_mode")
num_requests = Property("PERFORMANCE_HINT_NUM_REQUESTS", INT, "num_requests")
inference_precision = Property("INFERENCE_PRECISION_HINT", TYPE, "inference_precision")
execution_mode = Property("EXECUTION_MODE_HINT", enum_of(ExecutionMode), "execution_mode")
model_priority = Property("MODEL_PRIORITY", enum_of(Priority), "model_priority")
scheduling_core_type = Property("SCHEDULING_CORE_TYPE", enum_of(SchedulingCoreType), "scheduling_core_type")
model_distribution_policy = Property("MODEL_DISTRIBUTION_POLICY", set_of(ModelDistributionPolicy),
                                     "model_distribution_policy")
enable_cpu_pinning = Property("ENABLE_CPU_PINNING", BOOL, "enable_cpu_pinning")
enable_cpu_reservation = Property("ENABLE_CPU_RESERVATION", BOOL, "enable_cpu_reservation")
enable_hyper_threading = Property("ENABLE_HYPER_THREADING", BOOL, "enable_hyper_threading")
allow_auto_batching = Property("ALLOW_AUTO_BATCHING", BOOL, "allow_auto_batching")
kv_cache_precision = Property("KV_CACHE_PRECISION", TYPE, "kv_cache_precision")
dynamic_quantization_group_size = Property("DYNAMIC_QUANTIZATION_GROUP_SIZE", INT, "dynamic_quantization_group_size")
activations_scale_factor = Property("ACTIVATIONS_SCALE_FACTOR", FLOAT, "activations_scale_factor")
compiled_blob = Property("COMPILED_BLOB", TENSOR, "compiled_blob")
model = Property("MODEL_PTR", MODEL, "model")
