"""The builder functions of opset 5, with the names, parameters and defaults of ``openvino.opset5``."""

from ferrovino._builder import export_opset

export_opset(5, globals())
