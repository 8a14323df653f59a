"""``Variable`` and ``VariableInfo`` (``openvino.op.util``): the variables of a stateful model's state, which
opset6+ ``read_value``/``assign`` take and ``Model(..., variables)``, ``Model.get_variables`` and
``Model.add_variables`` exchange."""

from __future__ import annotations

import copy
from typing import Any

from ferrovino import _native


class VariableInfo:
    """A variable's ``variable_id``, ``data_type`` and ``data_shape`` (dynamic until set)."""

    def __init__(self) -> None:
        self.data_shape: Any = _native.PartialShape([])
        self.data_type: Any = _native.Type.dynamic
        self.variable_id: str = ""

    def __repr__(self) -> str:
        return "<VariableInfo>"


class Variable:
    """A variable of a model's state, described by a copy of a :class:`VariableInfo`."""

    def __init__(self, info: VariableInfo) -> None:
        self._info = copy.copy(info)
        self._nodes: list = []

    @property
    def info(self) -> VariableInfo:
        """A copy of the description."""
        return copy.copy(self._info)

    def get_info(self) -> VariableInfo:
        """A copy of the description."""
        return self.info

    def update(self, info: VariableInfo) -> None:
        """Replaces the description; the ReadValue and Assign nodes built with this variable follow it."""
        self._info = copy.copy(info)
        for node in self._nodes:
            node.set_attribute("variable_id", info.variable_id)
            if node.get_type_name() == "ReadValue":
                node.set_attribute("variable_type", info.data_type)
                node.set_attribute("variable_shape", info.data_shape)

    def _attach(self, node: Any) -> Any:
        """Records a node built with this variable (for ``update``) and returns it."""
        self._nodes.append(node)
        return node

    def __repr__(self) -> str:
        return "<Variable>"


def _variable(variable_id: str, data_type: Any, data_shape: Any) -> Variable:
    """A variable with this id, type and shape (how models hand out their variables)."""
    info = VariableInfo()
    info.variable_id, info.data_type, info.data_shape = variable_id, data_type, data_shape
    return Variable(info)
