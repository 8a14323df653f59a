"""ferrovino: a deep-learning inference runtime with OpenVINO's Python API.

``import ferrovino as ov`` works as ``import openvino as ov`` does: ``ov.Core``, ``ov.compile_model``,
``ov.Tensor``, ``ov.Type``, ``ov.opset13`` and so on.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ferrovino._batch import get_batch, set_batch
from ferrovino._custom_op import Extension, Op, OpExtension
from ferrovino._native import (
    ConstOutput,
    DeviceError,
    Dimension,
    DiscreteTypeInfo,
    FerrovinoError,
    Input,
    InternalError,
    InvalidArgumentError,
    IoError,
    Layout,
    Model,
    Node,
    NotFoundError,
    Output,
    ParseError,
    PartialShape,
    Shape,
    ShapeError,
    Tensor,
    Type,
    UnsupportedError,
    VariableState,
    get_version,
)
from ferrovino._ov_api import (
    AsyncInferQueue,
    CompiledModel,
    Core,
    InferRequest,
    ProfilingInfo,
    Version,
    compile_model,
    read_model,
    save_model,
    serialize,
)
from ferrovino._ovdict import OVDict
from ferrovino.properties import OVAny

__version__ = get_version()

__all__ = [
    "AsyncInferQueue",
    "CompiledModel",
    "ConstOutput",
    "Core",
    "DeviceError",
    "Dimension",
    "DiscreteTypeInfo",
    "Extension",
    "FerrovinoError",
    "InferRequest",
    "Input",
    "InternalError",
    "InvalidArgumentError",
    "IoError",
    "Layout",
    "Model",
    "Node",
    "NotFoundError",
    "OVAny",
    "OVDict",
    "Op",
    "OpExtension",
    "Output",
    "ParseError",
    "PartialShape",
    "ProfilingInfo",
    "Shape",
    "ShapeError",
    "Tensor",
    "Type",
    "UnsupportedError",
    "VariableState",
    "Version",
    "compile_model",
    "get_batch",
    "get_version",
    "read_model",
    "save_model",
    "serialize",
    "set_batch",
    "tensor_from_file",
]


def tensor_from_file(path: str) -> Tensor:
    """A u8 tensor holding the bytes of a file."""
    import numpy as np

    return Tensor(np.fromfile(path, dtype=np.uint8))


def __getattr__(name: str) -> ModuleType:
    """Imports the ``opsetN`` builders and ``preprocess``, ``passes``, ``frontend``, ``op`` on first use (``ov.op``)."""
    if (name.startswith("opset") and name[5:].isdigit()) or name in ("preprocess", "passes", "frontend", "op"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
