"""The builder functions of opset 13, with the names, parameters and defaults of ``openvino.opset13``."""

from ferrovino._builder import export_opset

export_opset(13, globals())
