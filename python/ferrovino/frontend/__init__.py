"""Frontend extensions (``openvino.frontend``): ``ConversionExtension`` and ``OpExtension`` for ``Core.add_extension``;
``ferrovino.frontend.onnx`` holds the ONNX ones."""

from ferrovino._custom_op import ConversionExtension
from ferrovino._custom_op import FrontendOpExtension as OpExtension
from ferrovino.frontend import onnx

__all__ = ["ConversionExtension", "OpExtension", "onnx"]
