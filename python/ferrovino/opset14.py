"""The builder functions of opset 14, with the names, parameters and defaults of ``openvino.opset14``."""

from ferrovino._builder import export_opset

export_opset(14, globals())
