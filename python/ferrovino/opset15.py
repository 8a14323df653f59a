"""The builder functions of opset 15, with the names, parameters and defaults of ``openvino.opset15``."""

from ferrovino._builder import export_opset

export_opset(15, globals())
