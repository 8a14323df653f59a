"""The builder functions of opset 1, with the names, parameters and defaults of ``openvino.opset1``."""

from ferrovino._builder import export_opset

export_opset(1, globals())
