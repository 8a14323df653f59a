"""The ONNX frontend: ONNX graphs (read with the ``onnx`` package) translated into ferrovino ops.

Translators live in ``ops_*`` modules, one per family, registered with :func:`registry.op`.
"""

from . import ops_elementwise  # noqa: F401  (registers translators)
from . import ops_tensor_index, ops_tensor_layout, ops_tensor_shape  # noqa: F401
from . import ops_attention, ops_quant, ops_rnn  # noqa: F401
from . import ops_misc, ops_reduce  # noqa: F401
from . import ops_nn  # noqa: F401
from .converter import convert_model, read_onnx, unsupported_nodes

__all__ = ["convert_model", "read_onnx", "unsupported_nodes"]
