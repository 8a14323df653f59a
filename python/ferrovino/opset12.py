"""The builder functions of opset 12, with the names, parameters and defaults of ``openvino.opset12``."""

from ferrovino._builder import export_opset

export_opset(12, globals())
