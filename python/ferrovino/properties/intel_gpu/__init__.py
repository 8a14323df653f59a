"""``ferrovino.properties.intel_gpu``: GPU-specific keys (named for compatibility; no GPU device is built in)."""

from ferrovino.properties._properties import BOOL, Property
from ferrovino.properties.intel_gpu import hint

__all__ = ["hint"]

device_total_mem_size = Property("GPU_DEVICE_TOTAL_MEM_SIZE", None, "device_total_mem_size")
device_max_alloc_mem_size = Property("GPU_DEVICE_MAX_ALLOC_MEM_SIZE", None, "device_max_alloc_mem_size")
execution_units_count = Property("GPU_EXECUTION_UNITS_COUNT", None, "execution_units_count")
memory_statistics = Property("GPU_MEMORY_STATISTICS", None, "memory_statistics")
uarch_version = Property("GPU_UARCH_VERSION", None, "uarch_version")
disable_winograd_convolution = Property("GPU_DISABLE_WINOGRAD_CONVOLUTION", BOOL, "disable_winograd_convolution")
enable_loop_unrolling = Property("GPU_ENABLE_LOOP_UNROLLING", BOOL, "enable_loop_unrolling")
