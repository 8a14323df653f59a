"""``ferrovino.properties.intel_gpu.hint``: GPU hints (named for compatibility)."""

from ferrovino.properties._properties import BOOL, INT, Property, enum_of
from ferrovino.properties.hint import Priority

available_device_mem = Property("AVAILABLE_DEVICE_MEM_SIZE", INT, "available_device_mem")
enable_large_allocations = Property("GPU_ENABLE_LARGE_ALLOCATIONS", BOOL, "enable_large_allocations")
enable_lora_operation = Property("GPU_ENABLE_LORA_OPERATION", BOOL, "enable_lora_operation")
host_task_priority = Property("GPU_HOST_TASK_PRIORITY", enum_of(Priority), "host_task_priority")
queue_priority = Property("GPU_QUEUE_PRIORITY", enum_of(Priority), "queue_priority")
queue_throttle = Property("GPU_QUEUE_THROTTLE", enum_of(Priority), "queue_throttle")
