"""The builder functions of opset 3, with the names, parameters and defaults of ``openvino.opset3``."""

from ferrovino._builder import export_opset

export_opset(3, globals())
