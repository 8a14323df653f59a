"""``ferrovino.properties.device``: device identity (``full_name``, ``type``, ...) and per-device settings."""

from ferrovino.properties._properties import STR, Property, PropertyEnum, dicts, strings


class Type(PropertyEnum):
    """``DEVICE_TYPE`` values."""

    INTEGRATED = 0
    DISCRETE = 1


id = Property("DEVICE_ID", STR, "id")  # noqa: A001 - OpenVINO's name
priorities = Property("MULTI_DEVICE_PRIORITIES", strings, "priorities")
properties = Property("DEVICE_PROPERTIES", dicts, "properties")
full_name = Property("FULL_DEVICE_NAME", None, "full_name")
architecture = Property("DEVICE_ARCHITECTURE", None, "architecture")
type = Property("DEVICE_TYPE", None, "type")  # noqa: A001 - OpenVINO's name
capabilities = Property("OPTIMIZATION_CAPABILITIES", None, "capabilities")
gops = Property("DEVICE_GOPS", None, "gops")
thermal = Property("DEVICE_THERMAL", None, "thermal")
uuid = Property("DEVICE_UUID", None, "uuid")
luid = Property("DEVICE_LUID", None, "luid")
pci_info = Property("DEVICE_PCI_INFO", None, "pci_info")
