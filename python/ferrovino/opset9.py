"""The builder functions of opset 9, with the names, parameters and defaults of ``openvino.opset9``."""

from ferrovino._builder import export_opset

export_opset(9, globals())
