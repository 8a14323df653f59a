"""The builder functions of opset 10, with the names, parameters and defaults of ``openvino.opset10``."""

from ferrovino._builder import export_opset

export_opset(10, globals())
