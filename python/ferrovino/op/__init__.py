"""OpenVINO's ``openvino.op`` namespace: ``util`` holds ``Variable`` and ``VariableInfo``."""

from ferrovino.op import util

__all__ = ["util"]
