"""The builder functions of opset 4, with the names, parameters and defaults of ``openvino.opset4``."""

from ferrovino._builder import export_opset

export_opset(4, globals())
