"""``ferrovino.properties.intel_auto``: keys of the AUTO device."""

from ferrovino.properties._properties import BOOL, STR, Property, PropertyEnum, enum_of


class SchedulePolicy(PropertyEnum):
    """``SCHEDULE_POLICY`` values (``DEFAULT`` is ``DEVICE_PRIORITY``)."""

    ROUND_ROBIN = 0
    DEVICE_PRIORITY = 1
    DEFAULT = 1


device_bind_buffer = Property("DEVICE_BIND_BUFFER", BOOL, "device_bind_buffer")
enable_startup_fallback = Property("ENABLE_STARTUP_FALLBACK", BOOL, "enable_startup_fallback")
enable_runtime_fallback = Property("ENABLE_RUNTIME_FALLBACK", BOOL, "enable_runtime_fallback")
low_power_device = Property("LOW_POWER_DEVICE", STR, "low_power_device")
perf_curve_table = Property("PERF_CURVE_TABLE", STR, "perf_curve_table")
schedule_policy = Property("SCHEDULE_POLICY", enum_of(SchedulePolicy), "schedule_policy")
