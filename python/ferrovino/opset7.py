"""The builder functions of opset 7, with the names, parameters and defaults of ``openvino.opset7``."""

from ferrovino._builder import export_opset

export_opset(7, globals())
