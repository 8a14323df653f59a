"""The builder functions of opset 8, with the names, parameters and defaults of ``openvino.opset8``."""

from ferrovino._builder import export_opset

export_opset(8, globals())
