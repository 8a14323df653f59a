"""The opset builder modules `ferrovino.opset1` … `ferrovino.opset16`.

Three layers of checks:
- against OpenVINO's own `openvino.opsetN` modules without the native extension: a stand-in `_native` records what
  each builder function asks for, and the recorded graph must equal the one OpenVINO builds from the same call (op
  types, versions, IR attributes, Constant types and values), and every signature must equal OpenVINO's;
- the re-export rules (each opsetN has the newest variant up to N, and no name OpenVINO's opsetN lacks);
- with the native extension, models built with `ferrovino.opset16` give OpenVINO's results.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import itertools
import pathlib
import sys
import types
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from helpers.models import BUILT_MODELS
from helpers.runtime import assert_outputs_close, compile_f32, infer

ov = pytest.importorskip("openvino")

PACKAGE_DIR = pathlib.Path(__file__).resolve().parent.parent / "python" / "ferrovino"

# ---------------------------------------------------------------------------------------------------------------
# A stand-in for ferrovino._native that records the nodes the builder asks for.

_ids = itertools.count()


class FakeOutput:
    """One output port of a FakeNode."""

    def __init__(self, node: FakeNode, index: int) -> None:
        self.node, self.index = node, index

    def get_node(self) -> FakeNode:
        return self.node

    def get_index(self) -> int:
        return self.index


class FakeNode:
    """A node as make_node, make_constant or make_parameter was asked to build it."""

    def __init__(
        self, type_name: str, opset: int, inputs: list, attributes: dict, n_outputs: int = 1, name: str | None = None
    ) -> None:
        self.type_name, self.opset, self.inputs, self.attributes = type_name, opset, list(inputs), dict(attributes)
        self.friendly_name = name if name is not None else f"{type_name}_{next(_ids)}"
        self._outputs = [FakeOutput(self, i) for i in range(n_outputs)]
        self.data: np.ndarray | None = None

    def outputs(self) -> list:
        return list(self._outputs)

    def output(self, index: int) -> FakeOutput:
        return self._outputs[index]


def _output_count(type_name: str, attributes: dict) -> int:
    if type_name == "Split":
        return int(attributes["num_splits"])
    return 2 if type_name in ("TopK", "AdaptiveMaxPool", "MaxPool") else 1


def _fake_make_node(type_name, opset, inputs, attributes, name=None):
    assert all(isinstance(i, FakeOutput) for i in inputs), inputs
    assert isinstance(opset, int) and isinstance(attributes, dict)
    return FakeNode(type_name, opset, inputs, attributes, _output_count(type_name, attributes), name)


def _fake_make_constant(array, element_type=None, name=None):
    assert isinstance(array, np.ndarray)
    node = FakeNode("Constant", 1, [], {} if element_type is None else {"element_type": element_type}, name=name)
    node.data = array
    return node


def _fake_make_parameter(element_type, shape, name=None):
    return FakeNode("Parameter", 1, [], {"element_type": element_type, "shape": list(shape)}, name=name)


def _fake_native() -> types.ModuleType:
    module = types.ModuleType("ferrovino._native")
    module.make_node = _fake_make_node
    module.make_constant = _fake_make_constant
    module.make_parameter = _fake_make_parameter
    return module


@contextlib.contextmanager
def _fake_ferrovino() -> Iterator[types.SimpleNamespace]:
    """The builder modules of the source tree loaded over the fake native module; sys.modules is restored after."""
    def is_ours(key):
        return key == "ferrovino" or key.startswith("ferrovino.")
    saved = {k: v for k, v in sys.modules.items() if is_ours(k)}
    for key in saved:
        del sys.modules[key]
    package = types.ModuleType("ferrovino")
    package.__path__ = [str(PACKAGE_DIR)]  # type: ignore[attr-defined]
    sys.modules["ferrovino"] = package
    sys.modules["ferrovino._native"] = _fake_native()
    try:
        modules = {f"opset{n}": importlib.import_module(f"ferrovino.opset{n}") for n in range(1, 17)}
        yield types.SimpleNamespace(builder=importlib.import_module("ferrovino._builder"), **modules)
    finally:
        for key in [k for k in sys.modules if is_ours(k)]:
            del sys.modules[key]
        sys.modules.update(saved)


@pytest.fixture
def fv():
    with _fake_ferrovino() as namespace:
        yield namespace


# ---------------------------------------------------------------------------------------------------------------
# Graph descriptions, comparable between OpenVINO nodes and fake nodes.


def _norm(value: Any) -> Any:
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_norm(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(np.float32(value))  # OpenVINO keeps most float attributes as f32
    if isinstance(value, np.integer):
        return int(value)
    return value


def describe_ov(output) -> tuple:
    node = output.get_node()
    kind = node.get_type_name()
    if kind == "Constant":
        shape = [int(d) for d in node.get_output_shape(0)]
        return ("Constant", node.get_output_element_type(0).get_type_name(), shape, node.get_data().tolist())
    if kind == "Parameter":
        return ("Parameter", node.get_output_element_type(0).get_type_name(), str(node.get_output_partial_shape(0)))
    attrs = {k: _norm(v) for k, v in node.get_attributes().items()}
    inputs = tuple(describe_ov(i.get_source_output()) for i in node.inputs())
    return (kind, node.type_info.version_id, output.get_index(), attrs, inputs)


_NP_TO_IR = {
    "float32": "f32",
    "float64": "f64",
    "float16": "f16",
    "int64": "i64",
    "int32": "i32",
    "bool": "boolean",
    "int8": "i8",
    "uint8": "u8",
}


def describe_fake(output: FakeOutput) -> tuple:
    node = output.node
    if node.type_name == "Constant":
        et = node.attributes.get("element_type") or _NP_TO_IR[node.data.dtype.name]
        return ("Constant", et, list(node.data.shape), node.data.tolist())
    if node.type_name == "Parameter":
        shape = "[" + ",".join(str(d) for d in node.attributes["shape"]) + "]"
        return ("Parameter", node.attributes["element_type"], shape)
    attrs = {k: _norm(v) for k, v in node.attributes.items()}
    inputs = tuple(describe_fake(i) for i in node.inputs)
    return (node.type_name, f"opset{node.opset}", output.index, attrs, inputs)


# Attributes every OpenVINO node of the type reports although its Python builder never sets them; ferrovino's op
# has the same default, so the builder leaves them out too. Missing keys are compared against these values.
OP_DEFAULTS = {
    ("Divide", "m_pythondiv"): True,
    ("TopK", "index_element_type"): "i32",
    ("AvgPool", "dilations"): [],
    ("ScatterNDUpdate", "reduction"): "none",
    ("Interpolate", "align_corners"): False,
    ("Interpolate", "antialias"): False,
    ("OneHot", "negative_indices_mode"): "ignore_negative",
    ("Broadcast", "mode"): "numpy",
}

# Attributes OpenVINO's shape inference rewrites (pads extended to the rank, axes derived from other attributes):
# ferrovino's ops do the same when they infer; the builder only passes what the user gave.
INFERRED = {("Interpolate", "pads_begin"), ("Interpolate", "pads_end"), ("MVN", "reduction_axes")}

# Optional inputs OpenVINO's C++ constructors fill in when the builder leaves them out (a u8 0 axes mapping of
# Broadcast-1, the default axes of Slice-8); ferrovino's ops take the input as optional.
FILLED_INPUTS = {("Broadcast", 2), ("Slice", 4)}

# openvino.opset1.normalize_l2 passes eps_mode under the wrong key ("mode"), so OpenVINO always uses "add";
# ferrovino honours the argument.
DIVERGENCES = {("NormalizeL2", "eps_mode")}


def _fold(value: Any, ignore_case: bool) -> Any:
    return value.lower() if ignore_case and isinstance(value, str) else value


def assert_same_graph(actual: tuple, expected: tuple, path: str = "", ignore_case: bool = False) -> None:
    """Compares two descriptions, allowing an attribute ferrovino leaves at an OP_DEFAULTS value; Constants compare
    with their data, and with ``ignore_case`` enum strings compare case-insensitively."""
    if actual[0] in ("Constant", "Parameter") or expected[0] in ("Constant", "Parameter"):
        assert actual == expected, f"{path}: {actual} != {expected}"
        return
    kind, version, index, attrs, inputs = actual
    assert (kind, version, index) == expected[:3], f"{path}: {actual[:3]} != {expected[:3]}"
    e_attrs = expected[3]
    keys = set(attrs) | set(e_attrs)
    keys -= {k for k in keys if (kind, k) in INFERRED | DIVERGENCES}
    if attrs.get("auto_pad", "explicit") != "explicit":
        keys -= {"pads_begin", "pads_end"}  # OpenVINO's shape inference rewrites them; the builder does not
    for key in keys:
        got = _fold(attrs.get(key, OP_DEFAULTS.get((kind, key), "<missing>")), ignore_case)
        want = _fold(e_attrs.get(key, "<missing>"), ignore_case)
        assert got == want, f"{path}{kind}.{key}: {got!r} != {want!r}"
    filled = len(expected[4]) == len(inputs) + 1 and (kind, len(inputs)) in FILLED_INPUTS
    n_expected = len(expected[4]) - filled
    assert len(inputs) == n_expected, f"{path}{kind}: {len(inputs)} inputs, expected {n_expected}"
    for i, (a, e) in enumerate(zip(inputs, expected[4])):
        assert_same_graph(a, e, f"{path}{kind}.in{i}/", ignore_case)


def _as_output(node):
    return node if hasattr(node, "get_index") else node.output(0)


# ---------------------------------------------------------------------------------------------------------------
# Cases: each is (opset, function name, call). `call(o)` builds a node with module `o` (openvino.opsetN or ours).


def X(o, shape=(1, 3, 8, 8), dtype=np.float32):
    return o.parameter(list(shape), dtype)


F32 = np.float32
I64 = np.int64
W = np.arange(4 * 3 * 3 * 3, dtype=F32).reshape(4, 3, 3, 3) / 100
IDX = np.array([[0, 2], [1, 0]], I64)

# fmt: off
CASES: list = [
    (1, "add", lambda o: o.add(X(o), F32(2), auto_broadcast="numpy")),
    (1, "divide", lambda o: o.divide(X(o), np.full((1, 3, 1, 1), 2, F32), name="div")),
    (1, "squared_difference", lambda o: o.squared_difference(X(o), X(o))),
    (1, "less_equal", lambda o: o.less_equal(X(o), F32(0))),
    (1, "logical_and", lambda o: o.logical_and(X(o, dtype=bool), True)),
    (13, "bitwise_xor", lambda o: o.bitwise_xor(X(o, dtype=np.int32), np.int32(3))),
    (15, "bitwise_left_shift", lambda o: o.bitwise_left_shift(X(o, dtype=np.int32), np.int32(1))),
    (1, "relu", lambda o: o.relu(X(o))),
    (1, "sigmoid", lambda o: o.sigmoid(X(o))),
    (1, "absolute", lambda o: o.absolute(X(o))),
    (1, "ceil", lambda o: o.ceil(X(o))),
    (1, "logical_not", lambda o: o.logical_not(X(o, dtype=bool))),
    (4, "softplus", lambda o: o.softplus(X(o))),
    (4, "hswish", lambda o: o.hswish(X(o))),
    (4, "mish", lambda o: o.mish(X(o))),
    (4, "atanh", lambda o: o.atanh(X(o))),
    (5, "hsigmoid", lambda o: o.hsigmoid(X(o))),
    (9, "softsign", lambda o: o.softsign(X(o))),
    (10, "is_nan", lambda o: o.is_nan(X(o))),
    (13, "bitwise_not", lambda o: o.bitwise_not(X(o, dtype=np.int32))),
    (16, "identity", lambda o: o.identity(X(o))),
    (1, "reduce_mean", lambda o: o.reduce_mean(X(o), [2, 3], True)),
    (1, "reduce_logical_or", lambda o: o.reduce_logical_or(X(o, dtype=bool), 1)),
    (4, "reduce_l2", lambda o: o.reduce_l2(X(o), np.array([-1], np.int32))),
    (3, "read_value", lambda o: o.read_value(X(o), "state")),
    (3, "assign", lambda o: o.assign(o.read_value(X(o), "state"), "state")),
    (1, "convert", lambda o: o.convert(X(o), np.int32)),
    (1, "convert", lambda o: o.convert(X(o), "f16")),
    (1, "convert_like", lambda o: o.convert_like(X(o), X(o, dtype=np.int64))),
    (1, "shape_of", lambda o: o.shape_of(X(o))),
    (3, "shape_of", lambda o: o.shape_of(X(o), "i32")),
    (1, "convolution", lambda o: o.convolution(X(o), W, [1, 1], [1, 1], [1, 1], [1, 1])),
    (1, "convolution", lambda o: o.convolution(X(o), W, [2, 2], [0, 0], [0, 0], [1, 1], "SAME_UPPER")),
    (1, "group_convolution",
     lambda o: o.group_convolution(X(o), np.ones((3, 1, 1, 3, 3), F32), [1, 1], [0, 0], [0, 0], [1, 1])),
    (1, "convolution_backprop_data",
     lambda o: o.convolution_backprop_data(X(o), np.ones((3, 2, 3, 3), F32), [2, 2])),
    (1, "convolution_backprop_data",
     lambda o: o.convolution_backprop_data(X(o), np.ones((3, 2, 3, 3), F32), [2, 2], np.array([16, 16], I64),
                                           auto_pad="same_upper")),
    (1, "group_convolution_backprop_data",
     lambda o: o.group_convolution_backprop_data(X(o), np.ones((3, 1, 1, 3, 3), F32), [1, 1])),
    (1, "group_convolution_backprop_data",
     lambda o: o.group_convolution_backprop_data(X(o), np.ones((3, 1, 1, 3, 3), F32), [1, 1],
                                                 np.array([8, 8], I64), auto_pad="SAME_UPPER")),
    (1, "max_pool", lambda o: o.max_pool(X(o), [2, 2], [0, 0], [0, 0], [2, 2])),
    (8, "max_pool", lambda o: o.max_pool(X(o), [2, 2], [1, 1], [0, 0], [1, 1], [3, 3], "ceil", "explicit", "i32", 0)),
    (14, "max_pool", lambda o: o.max_pool(X(o), [2, 2], [1, 1], [0, 0], [0, 0], [2, 2], "ceil_torch")),
    (1, "avg_pool", lambda o: o.avg_pool(X(o), [1, 1], [1, 1], [1, 1], [3, 3], True)),
    (14, "avg_pool", lambda o: o.avg_pool(X(o), [2, 2], [0, 0], [0, 0], [2, 2], False, "ceil_torch", "valid")),
    (16, "avg_pool", lambda o: o.avg_pool(X(o), [1, 1], [0, 0], [0, 0], [2, 2], False, dilations=[2, 2])),
    (16, "avg_pool", lambda o: o.avg_pool(X(o), [1, 1], [0, 0], [0, 0], [2, 2], False)),
    (8, "adaptive_avg_pool", lambda o: o.adaptive_avg_pool(X(o), np.array([2, 2], np.int32))),
    (8, "adaptive_max_pool", lambda o: o.adaptive_max_pool(X(o), np.array([2, 2], np.int32), "i32")),
    (1, "matmul", lambda o: o.matmul(X(o), X(o), False, True)),
    (7, "einsum", lambda o: o.einsum([X(o, (2, 3)), X(o, (3, 4))], "ij,jk->ik")),
    (13, "scaled_dot_product_attention",
     lambda o: o.scaled_dot_product_attention(X(o), X(o), X(o), causal=True)),
    (13, "scaled_dot_product_attention",
     lambda o: o.scaled_dot_product_attention(X(o), X(o), X(o), X(o, (1, 1, 8, 8)))),
    (13, "scaled_dot_product_attention",
     lambda o: o.scaled_dot_product_attention(X(o), X(o), X(o), scale=F32(0.5))),
    (1, "select", lambda o: o.select(X(o, dtype=bool), X(o), F32(0))),
    (1, "prelu", lambda o: o.prelu(X(o), np.full(3, 0.1, F32).reshape(3, 1, 1))),
    (1, "clamp", lambda o: o.clamp(X(o), 0, 6)),
    (1, "elu", lambda o: o.elu(X(o), 0.5)),
    (1, "selu", lambda o: o.selu(X(o), F32(1.67), F32(1.05))),
    (1, "hard_sigmoid", lambda o: o.hard_sigmoid(X(o), F32(0.2), F32(0.5))),
    (2, "gelu", lambda o: o.gelu(X(o))),
    (7, "gelu", lambda o: o.gelu(X(o), "tanh")),
    (4, "swish", lambda o: o.swish(X(o))),
    (4, "swish", lambda o: o.swish(X(o), F32(2))),
    (5, "round", lambda o: o.round(X(o), "HALF_AWAY_FROM_ZERO")),
    (1, "softmax", lambda o: o.softmax(X(o), 1)),
    (8, "softmax", lambda o: o.softmax(X(o), -1)),
    (5, "log_softmax", lambda o: o.log_softmax(X(o), 1)),
    (2, "mvn", lambda o: o.mvn(X(o), True, True, 1e-5)),
    (6, "mvn", lambda o: o.mvn(X(o), np.array([2, 3], I64), True, 1e-5, "inside_sqrt")),
    (6, "mvn", lambda o: o.mvn(X(o), [1], False, 1e-3, "OUTSIDE_SQRT")),
    (1, "normalize_l2", lambda o: o.normalize_l2(X(o), np.array([1], I64), 1e-6, "max")),
    (1, "batch_norm_inference", lambda o: o.batch_norm_inference(X(o), *(np.ones(3, F32),) * 4, 1e-5)),
    (5, "batch_norm_inference", lambda o: o.batch_norm_inference(X(o), *(np.ones(3, F32),) * 4, 1e-3)),
    (12, "group_normalization", lambda o: o.group_normalization(X(o), np.ones(3, F32), np.zeros(3, F32), 3, 1e-5)),
    (1, "lrn", lambda o: o.lrn(X(o), np.array([1], I64), 1e-4, 0.75, 2.0, 3)),
    (1, "topk", lambda o: o.topk(X(o), 3, 1, "max", "value")),
    (3, "topk", lambda o: o.topk(X(o), 3, 1, "MIN", "INDEX", "i64")),
    (11, "topk", lambda o: o.topk(X(o), 3, -1, "max", "value", stable=True)),
    (3, "cum_sum", lambda o: o.cum_sum(X(o), np.int64(1), True, True)),
    (3, "cumsum", lambda o: o.cumsum(X(o), np.int32(1))),
    (1, "reshape", lambda o: o.reshape(X(o), [0, -1], True)),
    (1, "squeeze", lambda o: o.squeeze(X(o), [0])),
    (15, "squeeze", lambda o: o.squeeze(X(o))),
    (15, "squeeze", lambda o: o.squeeze(X(o), 1, True)),
    (1, "unsqueeze", lambda o: o.unsqueeze(X(o), [0, 2])),
    (1, "transpose", lambda o: o.transpose(X(o), [0, 2, 3, 1])),
    (1, "concat", lambda o: o.concat([X(o), X(o), np.zeros((1, 3, 8, 8), F32)], 1)),
    (1, "split", lambda o: o.split(X(o), 1, 3).output(2)),
    (1, "variadic_split", lambda o: o.variadic_split(X(o), 2, np.array([3, 5], I64))),
    (1, "gather", lambda o: o.gather(X(o), IDX, np.int64(1))),
    (7, "gather", lambda o: o.gather(X(o), IDX, 3, 0)),
    (8, "gather", lambda o: o.gather(X(o), IDX, 1)),
    (5, "gather_nd", lambda o: o.gather_nd(X(o), np.array([[[0, 2], [1, 0]]], I64), 1)),
    (8, "gather_nd", lambda o: o.gather_nd(X(o), IDX)),
    (6, "gather_elements", lambda o: o.gather_elements(X(o), np.zeros((1, 3, 8, 8), I64), 2)),
    (3, "scatter_update", lambda o: o.scatter_update(X(o), np.array([0], I64), X(o), 0)),
    (4, "scatter_nd_update", lambda o: o.scatter_nd_update(X(o), np.array([[0]], I64), X(o))),
    (15, "scatter_nd_update", lambda o: o.scatter_nd_update(X(o), np.array([[0]], I64), X(o), "sum")),
    (15, "scatter_nd_update", lambda o: o.scatter_nd_update(X(o), np.array([[0]], I64), X(o))),
    (3, "scatter_elements_update",
     lambda o: o.scatter_elements_update(X(o), np.zeros((1, 3, 8, 8), I64), X(o), np.int64(0))),
    (12, "scatter_elements_update",
     lambda o: o.scatter_elements_update(X(o), np.zeros((1, 3, 8, 8), I64), X(o), 0, "mean", False)),
    (1, "broadcast", lambda o: o.broadcast(X(o), [2, 3, 8, 8])),
    (1, "broadcast", lambda o: o.broadcast(X(o, (3,)), [2, 3, 4], [1], "explicit")),
    (3, "broadcast", lambda o: o.broadcast(X(o, (3,)), [2, 3, 4], [1], "EXPLICIT")),
    (3, "broadcast", lambda o: o.broadcast(X(o), [2, 3, 8, 8], broadcast_spec="BIDIRECTIONAL")),
    (1, "tile", lambda o: o.tile(X(o), [1, 1, 2, 2])),
    (1, "strided_slice", lambda o: o.strided_slice(X(o), [0, 1], [1, 3], [1, 1], [1, 0], [1, 0])),
    (1, "strided_slice", lambda o: o.strided_slice(X(o), [0, 1], [1, 3], [1, 1], [0, 0], [0, 0], [0, 1], [1, 0])),
    (8, "slice", lambda o: o.slice(X(o), [1], [3], [1])),
    (8, "slice", lambda o: o.slice(X(o), [1], [3], [1], np.array([-1], np.int32))),
    (1, "pad", lambda o: o.pad(X(o), [0, 0, 1, 1], [0, 0, 1, 1], "constant", F32(1.5))),
    (12, "pad", lambda o: o.pad(X(o), [0, 0, -1, 1], [0, 0, 1, 1], "REFLECT")),
    (1, "range", lambda o: o.range(0, 10, 2)),
    (12, "range", lambda o: o.range(F32(0), F32(1), F32(0.25), "f32")),
    (1, "depth_to_space", lambda o: o.depth_to_space(X(o, (1, 8, 2, 2)), "blocks_first", 2)),
    (1, "space_to_depth", lambda o: o.space_to_depth(X(o), "DEPTH_FIRST", 2)),
    (3, "shuffle_channels", lambda o: o.shuffle_channels(X(o, (1, 4, 2, 2)), 1, 2)),
    (1, "interpolate", lambda o: o.interpolate(X(o), np.array([16, 16], I64),
                                               {"axes": [2, 3], "mode": "linear", "align_corners": False})),
    (10, "interpolate", lambda o: o.interpolate(X(o), np.array([16, 16], I64), np.array([2, 2], F32), "nearest",
                                                "sizes", axes=np.array([2, 3], I64))),
    (11, "interpolate", lambda o: o.interpolate(X(o), np.array([2, 2], F32), "linear_onnx", "scales",
                                                [0, 0, 0, 0], [0, 0, 0, 0], "asymmetric", "floor", False, -0.5,
                                                np.array([2, 3], I64))),
    (11, "interpolate", lambda o: o.interpolate(X(o), np.array([1, 3, 16, 16], I64), "cubic", "sizes")),
    (1, "fake_quantize", lambda o: o.fake_quantize(X(o), F32(0), F32(1), F32(0), F32(1), 256)),
    (13, "fake_quantize", lambda o: o.fake_quantize(X(o), F32(0), F32(1), F32(0), F32(1), 16, "numpy")),
    (13, "fake_convert", lambda o: o.fake_convert(X(o), np.ones((1,), F32), np.zeros((1,), F32), "f8e5m2")),
    (3, "non_zero", lambda o: o.non_zero(X(o), "i32")),
    (3, "bucketize", lambda o: o.bucketize(X(o), np.array([0.0, 1.0], F32), "i32", False)),
    (1, "one_hot", lambda o: o.one_hot(np.array([1, 2], I64), np.int64(4), F32(1), F32(0), 1)),
    (16, "one_hot", lambda o: o.one_hot(np.array([1, 2], I64), np.int64(4), F32(1), F32(0), 1, "normalize")),
    (16, "one_hot", lambda o: o.one_hot(np.array([1, 2], I64), np.int64(4), F32(1), F32(0), 0)),
    (9, "eye", lambda o: o.eye(np.int64(3), np.int64(4), np.int64(1), "f32", np.array([2], I64))),
    (9, "eye", lambda o: o.eye(np.int32(3), np.int32(3), np.int32(0), "i32")),
    (8, "random_uniform", lambda o: o.random_uniform([2, 3], F32(0), F32(1), "f32", 1, 2, "pytorch")),
    (1, "result", lambda o: o.result(X(o))),
    (13, "result", lambda o: o.result(o.topk(X(o), 3, 1, "max", "value"))),
    (1, "constant", lambda o: o.add(X(o, (3,)), o.constant([1, 2, 3], np.float32).output(0))),
    (13, "constant", lambda o: o.add(X(o, (3,), np.float16), o.constant(np.arange(3.0), np.float16))),
    (16, "constant", lambda o: o.add(X(o, (2,), np.int8), o.constant(np.array([1, 2]), np.int8))),
]
# fmt: on


def _case_id(case) -> str:
    return f"opset{case[0]}.{case[1]}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_builds_what_openvino_builds(fv, case):
    """The graph our builder asks the native side for equals the graph OpenVINO's builder makes."""
    opset, func, call = case
    ov_module = importlib.import_module(f"openvino.opset{opset}")
    assert hasattr(ov_module, func)
    expected = describe_ov(_as_output(call(ov_module)))
    actual = describe_fake(_as_output(call(getattr(fv, f"opset{opset}"))))
    assert_same_graph(actual, expected)


def test_every_generic_builder_is_covered_by_a_case(fv):
    """Each variant in the spec table is exercised by at least one case (at the opset that introduced it)."""
    covered = {(opset, func) for opset, func, _ in CASES}
    missing = {(s.since, s.func) for s in fv.builder.SPECS} - covered
    # Plain unary, binary and reduction rows share one code path; one case of each family stands for the rest.
    families = {"node", "left_node", "x1", "arg0", "data"}
    missing = {m for m in missing if not _is_plain_family_row(fv.builder, *m, families)}
    assert not missing, sorted(missing)


def _is_plain_family_row(builder, since, func, families) -> bool:
    spec = next(s for s in builder.SPECS if (s.since, s.func) == (since, func))
    first = spec.params[0].name
    plain = all(isinstance(p, builder.In) for p in spec.params[:2])
    return first in families and plain and spec.prepare is None and len(spec.params) <= 3


# ---------------------------------------------------------------------------------------------------------------
# Signatures and re-export rules.


def _ov_functions(opset: int) -> dict:
    module = importlib.import_module(f"openvino.opset{opset}")
    return {k: v for k, v in vars(module).items() if callable(v) and not k.startswith("_") and not inspect.isclass(v)}


def _params(function) -> list:
    return [(p.name, p.default, p.kind) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize("opset", range(1, 17))
def test_signatures_match_openvino(fv, opset):
    """Every function has OpenVINO's parameter names, order and defaults, and no name is invented."""
    ours = {k: getattr(getattr(fv, f"opset{opset}"), k) for k in getattr(fv, f"opset{opset}").__all__}
    theirs = _ov_functions(opset)
    assert not set(ours) - set(theirs), f"names openvino.opset{opset} lacks: {sorted(set(ours) - set(theirs))}"
    for name, function in ours.items():
        if name == "constant" and opset >= 13:
            # OpenVINO's opset13+ constant is an overload set; ours is its array overload.
            assert _params(function) == _params(inspect.unwrap(theirs[name].typemap[next(iter(theirs[name].typemap))]))
            continue
        assert _params(function) == _params(theirs[name]), name


def test_reexports_follow_openvino(fv):
    """Two opsets share one function object exactly when OpenVINO's two modules do."""
    for a, b in itertools.combinations(range(1, 17), 2):
        ours_a, ours_b = getattr(fv, f"opset{a}"), getattr(fv, f"opset{b}")
        theirs_a, theirs_b = _ov_functions(a), _ov_functions(b)
        for name in set(ours_a.__all__) & set(ours_b.__all__) - {"constant", "result"}:
            same_ours = getattr(ours_a, name) is getattr(ours_b, name)
            same_theirs = inspect.unwrap(theirs_a[name]) is inspect.unwrap(theirs_b[name])
            assert same_ours == same_theirs, f"{name} in opset{a} and opset{b}"


def test_newest_version_up_to_n(fv):
    """opset13.softmax is Softmax-8, opset7.softmax is Softmax-1, opset16.gather is Gather-8."""
    x = fv.opset13.parameter([2, 3])
    assert fv.opset13.softmax(x, 1).opset == 8
    assert fv.opset7.softmax(x, 1).opset == 1
    assert fv.opset16.gather(x, [0], 0).opset == 8
    assert fv.opset11.range(0, 3, 1).opset == 1 and fv.opset12.range(0, 3, 1, "i32").opset == 4
    assert "softmax" in fv.opset1.__all__ and "scaled_dot_product_attention" not in fv.opset12.__all__


def test_constant_dtypes_follow_numpy(fv):
    """Python floats become f64 and ints i64, as OpenVINO's builder makes them; a name prefixes the constant."""
    x = fv.opset16.parameter([2], np.float64)
    node = fv.opset16.add(x, 1.5, name="sum")
    const = node.inputs[1].node
    assert const.data.dtype == np.float64 and const.friendly_name.startswith("sum/")
    assert fv.opset16.multiply(x, 2).inputs[1].node.data.dtype == np.int64
    assert node.friendly_name == "sum"


def test_type_names(fv):
    type_name = fv.builder.type_name
    assert [type_name(t) for t in (np.float32, np.dtype("int8"), bool, int, float, "F16", np.bool_)] == [
        "f32",
        "i8",
        "boolean",
        "i32",
        "f32",
        "f16",
        "boolean",
    ]
    for bad in (np.complex64, None, object()):
        with pytest.raises(TypeError):
            type_name(bad)


def test_bad_arguments_raise_type_error(fv):
    x = fv.opset16.parameter([2])
    with pytest.raises(TypeError):
        fv.opset16.relu(x, x, x)
    with pytest.raises(TypeError):
        fv.opset16.softmax(x)
    with pytest.raises(TypeError):
        fv.opset16.add(x, x, bogus=1)
    with pytest.raises(RuntimeError, match="global_seed"):
        fv.opset16.random_uniform([2], 0.0, 1.0, "f32", -1)


# ---------------------------------------------------------------------------------------------------------------
# With the native extension: models built by ferrovino.opset16 compute what OpenVINO's compute.


def _native_ferrovino():
    """The real package; like the rest of the suite, a broken build fails rather than skips."""
    return importlib.import_module("ferrovino")


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_native_nodes_match_openvino(case):
    """With the real extension, each case builds OpenVINO's graph: op types, versions, attributes (enum spelling
    aside), Constant types and shapes."""
    fvn = _native_ferrovino()
    opset, _, call = case
    expected = describe_ov(_as_output(call(importlib.import_module(f"openvino.opset{opset}"))))
    actual = describe_ov(_as_output(call(getattr(fvn, f"opset{opset}"))))
    assert_same_graph(actual, expected, ignore_case=True)


@pytest.mark.parametrize("name", sorted(BUILT_MODELS))
def test_builder_models_match_openvino(name):
    """helpers.models built with ferrovino.opset16 and with openvino.opset16 give the same outputs."""
    fvn = _native_ferrovino()
    build, make_inputs = BUILT_MODELS[name]
    inputs = make_inputs()
    expected = infer(compile_f32(ov, build(ov)), inputs)
    actual = infer(compile_f32(fvn, build(fvn)), inputs)
    assert_outputs_close(actual, expected)


@pytest.mark.parametrize("name", ["resnet50", "transformer"])
def test_tools_models_match_openvino(name):
    """ferrovino.tools.models builds the same network with either runtime, and ferrovino computes OpenVINO's
    outputs (ResNet-50 at 64x64 to keep the test short)."""
    fvn = _native_ferrovino()
    from ferrovino.tools import models

    kwargs = {"image_size": 64} if name == "resnet50" else {}
    expected_model = models.BUILDERS[name](ov, seed=3, **kwargs)
    inputs = models.random_inputs(list(expected_model.inputs), seed=0)
    expected = infer(compile_f32(ov, expected_model), inputs)
    actual = infer(compile_f32(fvn, models.BUILDERS[name](fvn, seed=3, **kwargs)), inputs)
    assert_outputs_close(actual, expected)
