"""Custom ops written in Python (``ferrovino.Op``) and the extensions ``Core.add_extension`` registers.

A custom op subclasses :class:`Op` as with ``openvino.Op``::

    class MySwish(ov.Op):
        def __init__(self, inputs=None, attrs=None):
            super().__init__(self, inputs)
            ...

It defines ``validate_and_infer_types`` (``self.set_output_type(i, type, shape)``), ``evaluate(outputs, inputs)``
on numpy-backed tensors, ``visit_attributes(visitor)`` (``visitor.on_attributes(dict)``) and
``clone_with_new_inputs``. Its IR ``type`` is the class name and its ``version`` is ``extension``.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional, Union

from ferrovino import _native

Handler = Callable[[Any], list]

# The opset whose ops a frontend OpExtension naming an op type (not a custom class) builds.
_BUILTIN_OPSET = 16


class Op(_native.Op):
    """The base of custom ops written in Python (``openvino.Op``)."""

    def __init__(self, py_obj: "Op", inputs: Optional[Union[list, tuple]] = None) -> None:
        self._bind(py_obj)
        if isinstance(inputs, tuple):
            inputs = None if len(inputs) == 0 else list(inputs)
            if inputs is not None and len(inputs) == 1 and isinstance(inputs[0], list):
                inputs = inputs[0]
        if inputs is not None:
            self.set_arguments(inputs)
            self.constructor_validate_and_infer_types()

    def validate_and_infer_types(self) -> None:
        """Sets each output's element type and partial shape from the inputs' (``set_output_type``)."""

    def visit_attributes(self, visitor: Any) -> bool:
        """Exposes the attributes: ``visitor.on_attributes(dict)`` (reading an IR updates the dict in place)."""
        return True

    def evaluate(self, outputs: list, inputs: list) -> bool:
        """Computes ``outputs`` (tensors to fill, or to reshape first) from ``inputs``; True on success."""
        return False

    def has_evaluate(self) -> bool:
        """True when the class defines ``evaluate``."""
        return type(self).evaluate is not Op.evaluate

    def clone_with_new_inputs(self, new_inputs: list) -> "Op":
        """A copy of this op on other inputs."""
        raise NotImplementedError(f"{type(self).__name__} does not define clone_with_new_inputs")


class Extension:
    """The base of the extensions ``Core.add_extension`` accepts."""


class OpExtension(Extension):
    """Registers a custom op class (``OpExtension(MyOp)``), as passing the class itself does."""

    def __init__(self, op_class: type) -> None:
        _check_op_class(op_class)
        self.op_class = op_class


def _check_op_class(cls: Any) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Op)):
        raise TypeError(f"expected a subclass of ferrovino.Op, got {cls!r}")


class ConversionContext:
    """What a frontend ``ConversionExtension`` sees of one ONNX node (``openvino``'s ``NodeContext``)."""

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    def get_input_size(self) -> int:
        """Number of inputs."""
        return len(self._ctx.inputs)

    def get_input(self, index: int) -> _native.Output:
        """Input ``index``."""
        return self._ctx.input(index)

    def has_attribute(self, name: str) -> bool:
        """True when the node has attribute ``name``."""
        return name in self._ctx.attrs

    def get_attribute(self, name: str, default: Any = None) -> Any:
        """Attribute ``name``; ``default`` when absent (absent without a default is an error)."""
        if name not in self._ctx.attrs and default is None:
            raise _native.ParseError(f"ONNX node '{self._ctx.name}' has no attribute '{name}'")
        return self._ctx.attrs.get(name, default)

    def get_values_from_const_input(self, index: int, default: Any = None) -> Any:
        """The value of constant input ``index`` as a list, or ``default``."""
        value = self._ctx.const(index) if index < len(self._ctx.inputs) else None
        return default if value is None else value.tolist()

    def get_op_type(self) -> str:
        """The ONNX op type."""
        return self._ctx.node.op_type


def _outputs_of(result: Any) -> list:
    """The outputs a translator returns: a node's outputs, or the list as given."""
    return result.outputs() if isinstance(result, _native.Node) else list(result)


class ConversionExtension(Extension):
    """``ConversionExtension(op_type, [domain,] fn)``: ``fn(context)`` converts an ONNX node of that type and returns
    its outputs (``openvino.frontend.onnx.ConversionExtension``)."""

    def __init__(self, op_type: str, *args: Any) -> None:
        if len(args) == 1:
            domain, fn = "", args[0]
        elif len(args) == 2:
            domain, fn = args
        else:
            raise TypeError("ConversionExtension(op_type, [domain,] converter)")
        if not callable(fn):
            raise TypeError(f"ConversionExtension's converter must be callable, got {fn!r}")
        self.op_type, self.domain, self.fn = op_type, domain, fn

    def handler(self, resolve: Callable[[str], Any]) -> Handler:
        """The ONNX frontend handler of this extension."""
        return lambda ctx: _outputs_of(self.fn(ConversionContext(ctx)))


class FrontendOpExtension(Extension):
    """``OpExtension([op, ] onnx_op_type, [domain, ] attr_names_map={}, attr_values_map={})``: an ONNX node of that
    type becomes ``op`` (a custom op class, or the name of a registered custom op or of an opset op; by default the
    ONNX type), with attributes renamed by ``attr_names_map`` (op name → ONNX name; all passed under their own names
    when it is empty, of which an opset op takes those it has) and fixed values from ``attr_values_map``
    (``openvino.frontend.onnx.OpExtension``)."""

    def __init__(self, *args: Any, attr_names_map: Optional[dict] = None,
                 attr_values_map: Optional[dict] = None) -> None:
        positional = [a for a in args if not isinstance(a, dict)]
        maps = [a for a in args if isinstance(a, dict)]
        if not 1 <= len(positional) <= 3 or len(maps) > 2:
            raise TypeError("OpExtension([op, ] onnx_op_type, [domain, ] attr_names_map={}, attr_values_map={})")
        if len(positional) == 1:
            positional = [positional[0], positional[0]]
        self.op, self.op_type = positional[0], positional[1]
        self.domain = positional[2] if len(positional) == 3 else ""
        self.attr_names_map = attr_names_map if attr_names_map is not None else (maps[0] if maps else {})
        self.attr_values_map = attr_values_map if attr_values_map is not None else (maps[1] if len(maps) > 1 else {})

    def _attributes(self, ctx: Any) -> dict:
        if self.attr_names_map:
            attrs = {op_name: ctx.attrs[onnx_name] for op_name, onnx_name in self.attr_names_map.items()
                     if onnx_name in ctx.attrs}
        else:
            attrs = dict(ctx.attrs)
        attrs.update(self.attr_values_map)
        return attrs

    def handler(self, resolve: Callable[[str], Any]) -> Handler:
        """The ONNX frontend handler of this extension (``resolve`` finds a registered class by name)."""

        def convert(ctx: Any) -> list:
            inputs = [ctx.input(i) for i in range(len(ctx.inputs))]
            op = self.op if isinstance(self.op, type) else resolve(self.op)
            if op is not None:
                return _outputs_of(op(inputs, self._attributes(ctx)))
            # An opset op takes the attributes it has (looked up by their own names unless mapped), as OpenVINO's.
            known = _native.make_node(self.op, _BUILTIN_OPSET, inputs, {}, ctx.name).get_attributes()
            attrs = {k: v for k, v in self._attributes(ctx).items() if k in known}
            return _native.make_node(self.op, _BUILTIN_OPSET, inputs, attrs, ctx.name).outputs()

        return convert


def _op_class_handler(cls: type) -> Handler:
    """Converts an ONNX node into ``cls(inputs, attributes)`` (a custom op class registered on a Core)."""
    return lambda ctx: _outputs_of(cls([ctx.input(i) for i in range(len(ctx.inputs))], dict(ctx.attrs)))


class Extensions:
    """The extensions one ``Core`` holds: custom op classes (for IR) and ONNX node handlers."""

    def __init__(self) -> None:
        self.classes: list[type] = []
        self.onnx: dict[tuple[str, str], Handler] = {}

    def add(self, extension: Any) -> None:
        """Registers an op class, an extension object, or a list of them; library paths are refused."""
        if isinstance(extension, (list, tuple)):
            for e in extension:
                self.add(e)
            return
        if isinstance(extension, (str, bytes, os.PathLike)):
            raise _native.UnsupportedError(
                f"cannot load extension library '{os.fsdecode(extension)}': native extension libraries are not "
                "supported; register custom ops written in Python (ferrovino.Op subclasses) instead"
            )
        if isinstance(extension, OpExtension):
            extension = extension.op_class
        if isinstance(extension, type):
            _check_op_class(extension)
            self.classes = [c for c in self.classes if c.__name__ != extension.__name__] + [extension]
            self.onnx[("*", extension.__name__)] = _op_class_handler(extension)
        elif isinstance(extension, (ConversionExtension, FrontendOpExtension)):
            domain = "" if extension.domain in ("", "ai.onnx") else extension.domain
            self.onnx[(domain, extension.op_type)] = extension.handler(self.find_class)
        else:
            raise TypeError(f"add_extension takes a ferrovino.Op subclass, an extension or a path, got {extension!r}")

    def find_class(self, name: str) -> Optional[type]:
        """The registered op class named ``name``, or None."""
        return next((c for c in reversed(self.classes) if c.__name__ == name), None)
