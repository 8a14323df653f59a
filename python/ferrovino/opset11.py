"""The builder functions of opset 11, with the names, parameters and defaults of ``openvino.opset11``."""

from ferrovino._builder import export_opset

export_opset(11, globals())
