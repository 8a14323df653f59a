"""Translates an ONNX graph into a ferrovino Model through the opset builder and the generic node factory."""

from __future__ import annotations

import os
from typing import Any, Optional

import numpy as np
import onnx
from google.protobuf.message import DecodeError

from ... import _native
from . import registry
from .context import NodeContext, decode_attribute
from .types import UnsupportedType, element_type, tensor_to_array, value_info_shape


def _opsets(model: onnx.ModelProto) -> dict[str, int]:
    """Domain → imported opset version (the default domain under '')."""
    return {registry.normalize_domain(o.domain): o.version for o in model.opset_import}


def _subgraphs(node: onnx.NodeProto) -> list[onnx.GraphProto]:
    """The graphs held by a node's attributes (If branches, Loop and Scan bodies)."""
    out = []
    for a in node.attribute:
        if a.type == onnx.AttributeProto.GRAPH:
            out.append(a.g)
        elif a.type == onnx.AttributeProto.GRAPHS:
            out.extend(a.graphs)
    return out


def unsupported_nodes(graph: onnx.GraphProto, opsets: dict[str, int],
                      extensions: Optional[dict] = None) -> list[tuple[str, str, int, str]]:
    """Every (op_type, domain, opset version, node name) with no translator (nor extension), sub-graphs included."""
    missing = []
    for node in graph.node:
        domain = registry.normalize_domain(node.domain)
        version = opsets.get(domain, 1)
        if registry.find(domain, node.op_type, version, extensions) is None:
            missing.append((node.op_type, domain or "ai.onnx", version, node.name or node.output[0]))
        for g in _subgraphs(node):
            missing.extend(unsupported_nodes(g, opsets, extensions))
    return missing


class GraphConverter:
    """Translates one graph; sub-graph translators reuse it with the outer values in scope.

    A sub-graph (``outer`` given) reads an enclosing graph's known constants as its own Constants and any other
    outer value through a new body Parameter, recorded in ``captured`` as (outer value, body Parameter).
    """

    def __init__(self, opsets: dict[str, int], base_dir: str = "", outer: Optional[GraphConverter] = None,
                 ir_version: int = 0, extensions: Optional[dict] = None):
        self.opsets = opsets
        self.extensions = outer.extensions if outer is not None else extensions
        self.ir_version = outer.ir_version if outer is not None else ir_version
        self.base_dir = base_dir
        self.outer = outer
        self.values: dict[str, _native.Output] = {}
        self.constants: dict[str, np.ndarray] = {}
        self.captured: list[tuple[_native.Output, _native.Node]] = []

    def lookup(self, name: str) -> Optional[_native.Output]:
        """The ferrovino output named ``name`` here, or a body-local stand-in for a value of an enclosing graph."""
        if name in self.values:
            return self.values[name]
        if self.outer is None:
            return None
        value = self.outer.constant_of(name)
        if value is not None:
            return self.add_constant(name, value)
        outer = self.outer.lookup(name)
        return None if outer is None else self._capture(name, outer)

    def _capture(self, name: str, outer: _native.Output) -> _native.Output:
        """A body Parameter standing for the enclosing graph's value ``outer``."""
        param = _native.make_parameter(outer.get_element_type(), outer.get_partial_shape(), name)
        param.output(0).add_names({name})
        self.values[name] = param.output(0)
        self.captured.append((outer, param))
        return param.output(0)

    def constant_of(self, name: str) -> Optional[np.ndarray]:
        """The known value of ``name`` (initializer or Constant) here or in an enclosing graph."""
        if name in self.constants:
            return self.constants[name]
        return self.outer.constant_of(name) if self.outer else None

    def add_constant(self, name: str, value: np.ndarray) -> _native.Output:
        """Makes ``value`` a Constant output named ``name`` (a memory map as it is: the Constant then reads the
        file region itself)."""
        array = np.asarray(value)
        out = _native.make_constant(value if isinstance(value, np.memmap) else array, None, name).output(0)
        out.add_names({name})
        self.values[name] = out
        self.constants[name] = array
        return out

    def add_parameter(self, vi: onnx.ValueInfoProto, default: Optional[np.ndarray] = None) -> _native.Node:
        """Makes a graph input a Parameter; its name becomes the tensor name. With ``default``, infer requests use
        that value until the input is set."""
        t = vi.type.tensor_type
        shape = value_info_shape(vi)
        ptype = element_type(t.elem_type) if t.elem_type else "dynamic"
        shape = _native.PartialShape.dynamic() if shape is None else shape
        param = _native.make_parameter(ptype, shape, vi.name, default)
        param.output(0).add_names({vi.name})
        self.values[vi.name] = param.output(0)
        return param

    def convert_node(self, node: onnx.NodeProto) -> None:
        """Translates one node and records its outputs under their ONNX names."""
        domain = registry.normalize_domain(node.domain)
        version = self.opsets.get(domain, 1)
        handler = registry.find(domain, node.op_type, version, self.extensions)
        if handler is None:
            raise _native.UnsupportedError(f"ONNX op {node.op_type} (opset {version}) has no translator")
        inputs = [self.lookup(n) if n else None for n in node.input]
        for n, v in zip(node.input, inputs):
            if n and v is None:
                raise _native.ParseError(f"ONNX node '{node.name or node.output[0]}' reads '{n}', which no node produces")
        ctx = NodeContext(
            node=node,
            inputs=inputs,
            opset=version,
            constants=[self.constant_of(n) if n else None for n in node.input],
            attrs={a.name: decode_attribute(a, self.base_dir) for a in node.attribute},
            converter=self,
        )
        try:
            outs = handler(ctx)
        except (_native.FerrovinoError, TypeError, ValueError) as e:
            raise type(e)(f"ONNX node '{ctx.name}' ({node.op_type}): {e}") from e
        for name, out in zip(node.output, outs):
            if name and out is not None:
                out.add_names({name})
                self.values[name] = out
        if node.op_type == "Constant" and node.output:
            value = ctx.attrs.get("value")
            if value is not None:
                self.constants[node.output[0]] = np.asarray(value)

    def convert_graph(
        self, graph: onnx.GraphProto, bound: Optional[dict[str, _native.Output]] = None
    ) -> tuple[list[_native.Node], list[_native.Output]]:
        """Translates a graph: (parameters, output values); graph inputs named in ``bound`` take those values
        instead of becoming Parameters."""
        bound = bound or {}
        input_names = {vi.name for vi in graph.input}
        # From IR version 4 on, an initializer that is also a graph input is an input with a default value (as ONNX
        # Runtime treats it); before, every initializer had to be listed as an input and is a constant.
        overridable = self.ir_version >= 4
        defaults = {}
        for t in graph.initializer:
            if overridable and t.name in input_names:
                defaults[t.name] = tensor_to_array(t, self.base_dir)
            else:
                self.add_constant(t.name, tensor_to_array(t, self.base_dir))
        self.values.update(bound)
        skip = (set(self.constants) & input_names) | set(bound)
        params = [self.add_parameter(vi, defaults.get(vi.name)) for vi in graph.input if vi.name not in skip]
        for node in graph.node:
            self.convert_node(node)
        outputs = []
        for vi in graph.output:
            out = self.lookup(vi.name)
            if out is None:
                raise _native.ParseError(f"ONNX graph output '{vi.name}' is produced by no node")
            outputs.append(out)
        return params, outputs


def convert_model(model: onnx.ModelProto, base_dir: str = "", extensions: Optional[dict] = None) -> _native.Model:
    """Translates a whole ONNX model; every op without a translator is reported at once. ``extensions`` maps
    (domain, op_type) to the handlers a Core's extensions add (see ``registry.find``)."""
    opsets = _opsets(model)
    missing = unsupported_nodes(model.graph, opsets, extensions)
    if missing:
        lines = [f"  {op} (domain {dom}, opset {ver}): node '{name}'" for op, dom, ver, name in missing]
        raise _native.UnsupportedError(
            f"the ONNX model uses {len(missing)} node(s) ferrovino cannot run:\n" + "\n".join(lines)
        )
    conv = GraphConverter(opsets, base_dir, ir_version=model.ir_version, extensions=extensions)
    try:
        params, outputs = conv.convert_graph(model.graph)
    except UnsupportedType as e:
        raise _native.UnsupportedError(str(e)) from None
    except (OSError, onnx.onnx_cpp2py_export.checker.ValidationError) as e:
        raise _native.ParseError(f"cannot read the ONNX model's tensors: {e}") from None
    results = []
    for vi, out in zip(model.graph.output, outputs):
        res = _native.make_node("Result", 1, [out], {}, vi.name)
        results.append(res)
    return _native.Model(results, params, model.graph.name or "onnx_model")


def read_onnx(model: Any, extensions: Optional[dict] = None) -> _native.Model:
    """Reads an ONNX model from a path, bytes or an ``onnx.ModelProto`` (external data beside the file);
    ``extensions`` as for :func:`convert_model`."""
    if isinstance(model, onnx.ModelProto):
        return convert_model(model, extensions=extensions)
    if isinstance(model, (bytes, bytearray)):
        try:
            proto = onnx.load_from_string(bytes(model))
        except DecodeError as e:
            raise _native.ParseError(f"cannot read the ONNX model from {len(model)} bytes: {e}") from e
        return convert_model(proto, extensions=extensions)
    path = os.fspath(model)
    try:
        proto = _load_proto(path)
    except (OSError, DecodeError, onnx.onnx_cpp2py_export.checker.ValidationError) as e:
        raise _native.ParseError(f"cannot read ONNX model '{path}': {e}") from e
    return convert_model(proto, os.path.dirname(os.path.abspath(path)), extensions)


def _load_proto(path: str) -> onnx.ModelProto:
    """The model at ``path`` without its weights: external tensors, and the large initializers of the file itself
    (its skeleton, whose initializers refer to their bytes in the file), are read from the file when converted
    rather than parsed and copied by protobuf. A file the skeleton cannot be made of is left to onnx to read and
    report on."""
    try:
        skeleton = _native.onnx_skeleton(path)
    except (OSError, _native.FerrovinoError):
        skeleton = None
    if skeleton is not None:
        try:
            return onnx.load_from_string(skeleton)
        except DecodeError:
            pass  # onnx.load below reads the file itself and reports what is wrong with it
    return onnx.load(path, load_external_data=False)
