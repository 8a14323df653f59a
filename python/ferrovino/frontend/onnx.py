"""ONNX frontend extensions (``openvino.frontend.onnx``): ``ConversionExtension(op_type, [domain,] fn)`` and
``OpExtension([op, ] op_type, [domain, ] attr_names_map, attr_values_map)``, registered with ``Core.add_extension``."""

from ferrovino._custom_op import ConversionExtension
from ferrovino._custom_op import FrontendOpExtension as OpExtension

__all__ = ["ConversionExtension", "OpExtension"]
