"""What a translator sees of one ONNX node: its inputs as ferrovino outputs, its attributes and its opset."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import onnx
from onnx import helper

from ... import _native


def decode_attribute(a: onnx.AttributeProto, base_dir: str = "") -> Any:
    """An attribute's Python value: bytes become str, tensors become numpy arrays, graphs stay GraphProtos."""
    if a.type == onnx.AttributeProto.TENSOR:
        from .types import tensor_to_array

        return tensor_to_array(a.t, base_dir)
    v = helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, list) and v and isinstance(v[0], bytes):
        return [x.decode("utf-8") for x in v]
    return v


@dataclass
class NodeContext:
    """One ONNX node being translated."""

    node: onnx.NodeProto
    inputs: list[Optional[_native.Output]]
    opset: int
    constants: list[Optional[np.ndarray]]
    attrs: dict[str, Any] = field(default_factory=dict)
    converter: Any = None

    @property
    def name(self) -> str:
        """The node's name, or its first output's name when it has none."""
        return self.node.name or (self.node.output[0] if self.node.output else self.node.op_type)

    def has_input(self, i: int) -> bool:
        """True when input ``i`` is given (optional inputs may be absent or named '')."""
        return i < len(self.inputs) and self.inputs[i] is not None

    def input(self, i: int) -> _native.Output:
        """Input ``i``; a missing required input is an error naming the node."""
        if not self.has_input(i):
            raise _native.ParseError(f"ONNX node '{self.name}' ({self.node.op_type}): input {i} is required")
        return self.inputs[i]

    def attr(self, name: str, default: Any = None) -> Any:
        """Attribute ``name`` or ``default``."""
        return self.attrs.get(name, default)

    def const(self, i: int) -> Optional[np.ndarray]:
        """The value of input ``i`` when it is an initializer or a Constant, else None."""
        return self.constants[i] if i < len(self.constants) else None

    def output_count(self) -> int:
        """How many outputs the ONNX node declares."""
        return len(self.node.output)
