"""The ONNX frontend: ONNX graphs (read with the ``onnx`` package) translated into ferrovino ops.

Translators live in ``ops_*`` modules, one per family, registered with :func:`registry.op`.
"""

# Importing a family module registers its translators.
from . import (  # noqa: F401
    ops_attention,
    ops_control,
    ops_detection,
    ops_elementwise,
    ops_loss,
    ops_misc,
    ops_nn,
    ops_quant,
    ops_reduce,
    ops_rnn,
    ops_stateful,
    ops_tensor_index,
    ops_tensor_layout,
    ops_tensor_shape,
)
from .converter import convert_model, read_onnx, unsupported_nodes

__all__ = ["convert_model", "read_onnx", "unsupported_nodes"]
