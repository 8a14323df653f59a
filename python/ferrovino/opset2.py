"""The builder functions of opset 2, with the names, parameters and defaults of ``openvino.opset2``."""

from ferrovino._builder import export_opset

export_opset(2, globals())
