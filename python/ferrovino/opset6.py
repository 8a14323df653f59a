"""The builder functions of opset 6, with the names, parameters and defaults of ``openvino.opset6``."""

from ferrovino._builder import export_opset

export_opset(6, globals())
