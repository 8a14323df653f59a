"""The builder functions of opset 16, with the names, parameters and defaults of ``openvino.opset16``."""

from ferrovino._builder import export_opset

export_opset(16, globals())
