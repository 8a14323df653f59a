"""``ferrovino.properties.intel_npu``: NPU-specific keys (named for compatibility; no NPU device is built in)."""

from ferrovino.properties._properties import BOOL, INT, STR, Property, PropertyEnum, enum_of


class CompilerType(PropertyEnum):
    """``NPU_COMPILER_TYPE`` values."""

    PLUGIN = 0
    DRIVER = 1
    PREFER_PLUGIN = 2


compiler_type = Property("NPU_COMPILER_TYPE", enum_of(CompilerType), "compiler_type")
compiler_version = Property("NPU_COMPILER_VERSION", None, "compiler_version")
driver_version = Property("NPU_DRIVER_VERSION", None, "driver_version")
device_alloc_mem_size = Property("NPU_DEVICE_ALLOC_MEM_SIZE", None, "device_alloc_mem_size")
device_total_mem_size = Property("NPU_DEVICE_TOTAL_MEM_SIZE", None, "device_total_mem_size")
max_tiles = Property("NPU_MAX_TILES", None, "max_tiles")
tiles = Property("NPU_TILES", INT, "tiles")
platform = Property("NPU_PLATFORM", STR, "platform")
turbo = Property("NPU_TURBO", BOOL, "turbo")
bypass_umd_caching = Property("NPU_BYPASS_UMD_CACHING", BOOL, "bypass_umd_caching")
compilation_mode_params = Property("NPU_COMPILATION_MODE_PARAMS", STR, "compilation_mode_params")
compiler_dynamic_quantization = Property("NPU_COMPILER_DYNAMIC_QUANTIZATION", BOOL, "compiler_dynamic_quantization")
defer_weights_load = Property("NPU_DEFER_WEIGHTS_LOAD", BOOL, "defer_weights_load")
disable_idle_memory_prunning = Property("NPU_DISABLE_IDLE_MEMORY_PRUNING", BOOL, "disable_idle_memory_prunning")
enable_strides_for = Property("NPU_ENABLE_STRIDES_FOR", STR, "enable_strides_for")
qdq_optimization = Property("NPU_QDQ_OPTIMIZATION", BOOL, "qdq_optimization")
qdq_optimization_aggressive = Property("NPU_QDQ_OPTIMIZATION_AGGRESSIVE", BOOL, "qdq_optimization_aggressive")
run_inferences_sequentially = Property("NPU_RUN_INFERENCES_SEQUENTIALLY", BOOL, "run_inferences_sequentially")
