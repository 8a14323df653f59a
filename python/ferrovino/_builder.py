"""The generic node factory behind ``ferrovino.opset1`` … ``ferrovino.opset16``.

Every builder function of OpenVINO's ``openvino.opsetN`` modules that ferrovino provides is one :class:`OpSpec` row
in :data:`SPECS`: the Python parameters (names, defaults and whether each is an input port or an attribute), the op
type and version it creates, and the IR ``<data>`` name each attribute maps to. :func:`export_opset` turns the rows
into the functions of one ``opsetN`` module, picking for each name the newest variant that ``openvino.opsetN``
exports. All functions end in :func:`create`, the one call into the native ``make_node``.

Inputs accept ``Node | Output | int | float | list | numpy.ndarray``; numbers and arrays become Constants with the
element type numpy gives them (a Python ``float`` is ``f64`` and an ``int`` is ``i64``, exactly as in OpenVINO),
and a Node stands for all of its outputs.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Union

import numpy as np

REQUIRED = inspect.Parameter.empty
"""Marks a parameter without a default."""

OMIT = object()
"""Returned by an attribute converter to leave the attribute out (the op keeps its own default)."""

NodeInput = Any
"""``Node | Output | int | float | list | numpy.ndarray``."""

_NUMPY_TYPES = {
    "bool": "boolean",
    "float16": "f16",
    "float32": "f32",
    "float64": "f64",
    "int8": "i8",
    "int16": "i16",
    "int32": "i32",
    "int64": "i64",
    "uint8": "u8",
    "uint16": "u16",
    "uint32": "u32",
    "uint64": "u64",
}


def _native() -> Any:
    """The native extension module (imported when first needed, so a test can stand in for it)."""
    return importlib.import_module("ferrovino._native")


# ---------------------------------------------------------------------------------------------------------------
# Values: element types, inputs, constants.


def type_name(value: Any) -> str:
    """The IR element-type name (``"f32"``) of a numpy dtype or scalar type, a Python type, a Type or a string."""
    if value is None:
        raise TypeError("an element type is required, got None")
    if value is int:
        return "i32"  # OpenVINO maps the unsized Python types to 32 bits
    if value is float:
        return "f32"
    if value is bool:
        return "boolean"
    if isinstance(value, str):
        return value.lower()
    get_name = getattr(value, "get_type_name", None)
    if callable(get_name):
        return str(get_name())
    try:
        dtype = np.dtype(value)
    except TypeError as err:
        raise TypeError(f"cannot interpret {value!r} as an element type") from err
    if dtype.name not in _NUMPY_TYPES:
        raise TypeError(f"numpy type {dtype} has no matching element type")
    return _NUMPY_TYPES[dtype.name]


def _is_output(value: Any) -> bool:
    return callable(getattr(value, "get_node", None)) and callable(getattr(value, "get_index", None))


def _is_node(value: Any) -> bool:
    return callable(getattr(value, "outputs", None)) and callable(getattr(value, "output", None))


def make_constant(value: Any, dtype: Any = None, name: str | None = None) -> Any:
    """A Constant node holding ``value`` (converted to ``dtype`` when given, else with numpy's own dtype)."""
    array = value if isinstance(value, np.ndarray) else np.array(value)
    element_type = None
    if dtype is not None:
        target = type_name(dtype)
        numpy_name = next((k for k, v in _NUMPY_TYPES.items() if v == target), None)
        if numpy_name is None:
            element_type = target  # bf16, i4, … are converted by the native side
        else:
            array = array.astype(numpy_name)
    return _native().make_constant(array, element_type, name)


def _auto_constant(value: Any, name: str | None) -> Any:
    """An input given as data: a Constant named ``<name>/<default name>`` when the op is named, as OpenVINO does."""
    node = make_constant(value)
    if name:
        node.friendly_name = f"{name}/{node.friendly_name}"
    return node


def as_outputs(value: NodeInput, name: str | None = None) -> list:
    """The output ports ``value`` stands for: an Output itself, every output of a Node, or a new Constant's one."""
    if _is_output(value):
        return [value]
    if not _is_node(value):
        value = _auto_constant(value, name)
    return list(value.outputs())


def as_output(value: NodeInput, name: str | None = None) -> Any:
    """The single output port ``value`` stands for (the first output of a Node)."""
    if _is_output(value):
        return value
    if not _is_node(value):
        value = _auto_constant(value, name)
    return value.output(0)


def create(type_name: str, opset: int, inputs: list, attributes: dict, name: str | None = None) -> Any:
    """Creates the op ``type_name`` as opset ``opset`` defines it, with IR-named ``attributes``."""
    return _native().make_node(type_name, opset, inputs, attributes, name)


# ---------------------------------------------------------------------------------------------------------------
# Attribute converters: Python argument → IR attribute value (or OMIT).


def _int(v: Any) -> int:
    return int(v)


def _float(v: Any) -> float:
    return float(v)


def _bool(v: Any) -> bool:
    return bool(v)


def _str(v: Any) -> str:
    return str(v)


def _ints(v: Any) -> list:
    return [int(x) for x in np.atleast_1d(np.asarray(v, dtype=np.int64))] if v is not None else []


def _floats(v: Any) -> list:
    return [float(x) for x in np.atleast_1d(np.asarray(v, dtype=np.float64))] if v is not None else []


def _lower(v: Any) -> str:
    return str(v).lower()


def _upper(v: Any) -> str:
    return str(v).upper()


def _element_type(v: Any) -> str:
    return type_name(v)


def _or_omit(conv: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``conv``, except that ``None`` leaves the attribute out."""
    return lambda v: OMIT if v is None else conv(v)


def _broadcast_v1_mode(v: Any) -> str:
    """Broadcast-1 spells its explicit mode ``none`` in the IR."""
    mode = _lower(v)
    return "none" if mode == "explicit" else mode


def _or_explicit(v: Any) -> str:
    """An ``auto_pad`` value where ``None`` means explicit padding."""
    return "explicit" if v is None else _lower(v)


# ---------------------------------------------------------------------------------------------------------------
# Specs.


@dataclass(frozen=True)
class In:
    """An input port. With default ``None`` it is optional, and ``None`` leaves the port out."""

    name: str
    default: Any = REQUIRED


@dataclass(frozen=True)
class Ins:
    """A list of inputs (``concat``'s ``nodes``), each becoming one or more ports."""

    name: str


@dataclass(frozen=True)
class Attr:
    """An attribute: ``conv`` maps the Python value to the value of IR attribute ``ir`` (the name by default)."""

    name: str
    conv: Callable[[Any], Any]
    default: Any = REQUIRED
    ir: str | None = None


@dataclass(frozen=True)
class AttrDict:
    """A dict of IR attributes passed through as they are (``interpolate`` of opset1)."""

    name: str


Param = Union[In, Ins, Attr, AttrDict]
Prepare = Callable[[dict], dict]


@dataclass(frozen=True)
class OpSpec:
    """One builder-function variant: ``openvino.opset{since}`` … ``opset{until}`` export it; it creates
    ``type_name`` as ``opset`` defines it."""

    func: str
    since: int
    type_name: str
    opset: int
    params: tuple
    input_order: tuple | None = None
    prepare: Prepare | None = None
    until: int = 16

    def signature(self) -> inspect.Signature:
        """The Python signature: the params in order, then ``name=None``."""
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        params = [inspect.Parameter(p.name, kind, default=getattr(p, "default", REQUIRED)) for p in self.params]
        return inspect.Signature([*params, inspect.Parameter("name", kind, default=None)])

    def build(self, args: dict) -> Any:
        """Creates the node from bound arguments (every parameter present)."""
        if self.prepare is not None:
            args = self.prepare(dict(args))
        name = args.get("name")
        by_name = {p.name: p for p in self.params}
        order = self.input_order or tuple(p.name for p in self.params if isinstance(p, (In, Ins)))
        inputs: list = []
        for key in order:
            inputs.extend(_input_ports(by_name[key], args[key], name))
        attributes: dict = {}
        for p in self.params:
            if isinstance(p, Attr):
                value = args[p.name] if args[p.name] is OMIT else p.conv(args[p.name])
                if value is not OMIT:
                    attributes[p.ir or p.name] = value
            elif isinstance(p, AttrDict):
                attributes.update(args[p.name])
        return create(self.type_name, self.opset, inputs, attributes, name)


def _input_ports(param: Param, value: Any, name: str | None) -> list:
    if isinstance(param, Ins):
        return [port for item in value for port in as_outputs(item, name)]
    if value is None and param.default is None:
        return []
    return as_outputs(value, name)


_FUNCTIONS: dict = {}


def make_function(spec: OpSpec) -> Callable[..., Any]:
    """The builder function of ``spec`` (one object per spec), with its exact signature and a docstring."""
    if spec in _FUNCTIONS:
        return _FUNCTIONS[spec]
    signature = spec.signature()

    def builder(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return spec.build(bound.arguments)

    builder.__name__ = builder.__qualname__ = spec.func
    builder.__signature__ = signature  # type: ignore[attr-defined]
    builder.__doc__ = (
        f"Creates a {spec.type_name} node (version of opset{spec.opset}); the same function as "
        f"openvino.opset{spec.since}.{spec.func}.\n\n"
        "Inputs accept Node | Output | int | float | numpy.ndarray; data is wrapped as a Constant.\n"
        ":param name: friendly name of the new node."
    )
    _FUNCTIONS[spec] = builder
    return builder


# ---------------------------------------------------------------------------------------------------------------
# Hand-written builders (parameter, constant, result), which are not a single generic op.


def parameter(shape: Any, dtype: Any = np.float32, name: str | None = None) -> Any:
    """Creates a Parameter with shape ``shape`` (list, PartialShape or string) and element type ``dtype``."""
    return _native().make_parameter(type_name(dtype), shape, name)


def constant_v1(value: Any, dtype: Any = None, name: str | None = None) -> Any:
    """Creates a Constant holding ``value``, converted to ``dtype`` when given."""
    return make_constant(value, dtype, name)


def constant(value: Any, dtype: Any = None, name: str | None = None, *, shared_memory: bool = False) -> Any:
    """Creates a Constant holding ``value``, converted to ``dtype`` when given (``shared_memory`` is accepted and
    ignored: the data is always copied)."""
    del shared_memory
    return make_constant(value, dtype, name)


def result(data: NodeInput, name: str | None = None) -> Any:
    """Creates a Result of ``data`` (the first output of a Node)."""
    return create("Result", 1, [as_output(data, name)], {}, name)


def _is_variable(value: Any) -> bool:
    """True for an ``op.util.Variable``."""
    from ferrovino.op.util import Variable

    return isinstance(value, Variable)


def read_value(*args: Any, **kwargs: Any) -> Any:
    """ReadValue-6: ``read_value(init_value, variable_id, variable_type=None, variable_shape=None, name=None)``, or
    without an initial value (the variable then starts as zeros) ``read_value(variable_id, variable_type=None,
    variable_shape=None, name=None)``; an unset type or shape is dynamic. ``variable_id`` may be an
    ``op.util.Variable``, which gives the type and shape too."""
    with_init = "init_value" in kwargs or (bool(args) and not isinstance(args[0], str) and not _is_variable(args[0]))
    names = ["init_value"] * with_init + ["variable_id", "variable_type", "variable_shape", "name"]
    if len(args) > len(names):
        raise TypeError(f"read_value() takes at most {len(names)} arguments ({len(args)} given)")
    bound = dict(zip(names, args))
    for key, value in kwargs.items():
        if key not in names or key in bound:
            raise TypeError(f"read_value() got an unexpected or repeated argument {key!r}")
        bound[key] = value
    if "variable_id" not in bound:
        raise TypeError("read_value() needs a variable_id")
    name = bound.get("name")
    vtype, vshape = bound.get("variable_type"), bound.get("variable_shape")
    variable = bound["variable_id"]
    if _is_variable(variable):
        info = variable.get_info()
        bound["variable_id"], vtype, vshape = info.variable_id, info.data_type, info.data_shape
    attributes = {
        "variable_id": _str(bound["variable_id"]),
        "variable_type": "dynamic" if vtype is None else type_name(vtype),
        "variable_shape": _native().PartialShape.dynamic() if vshape is None else vshape,
    }
    inputs = [as_output(bound["init_value"], name)] if with_init else []
    node = create("ReadValue", 6, inputs, attributes, name)
    return variable._attach(node) if _is_variable(variable) else node


class assign:  # noqa: N801 - OpenVINO's opset6+ ``assign`` is a class of this name
    """Assign-6: ``assign(new_value, variable_id, name="")`` writes ``new_value`` to variable ``variable_id`` (an id
    or an ``op.util.Variable``) at the end of each inference (a sink of the model). Calling the class returns the
    new node."""

    def __new__(cls, new_value: NodeInput, variable_id: Any, name: str = "") -> Any:
        label = name or None
        variable = variable_id
        if _is_variable(variable):
            variable_id = variable.get_info().variable_id
        node = create("Assign", 6, [as_output(new_value, label)], {"variable_id": _str(variable_id)}, label)
        return variable._attach(node) if _is_variable(variable) else node


CUSTOM = {
    1: {"parameter": parameter, "constant": constant_v1, "result": result},
    6: {"read_value": read_value, "assign": assign},
    13: {"constant": constant},
}
"""Hand-written builders by the opset that introduced each variant."""


# ---------------------------------------------------------------------------------------------------------------
# Cross-argument rules of some OpenVINO builders.


def _spatial_defaults(*keys_and_fill: tuple) -> Prepare:
    """Fills ``None`` list arguments with ``[fill] * len(strides)``."""

    def prepare(args: dict) -> dict:
        rank = len(args["strides"])
        for key, fill in keys_and_fill:
            if args[key] is None:
                args[key] = [fill] * rank
        return args

    return prepare


_backprop_defaults = _spatial_defaults(("pads_begin", 0), ("pads_end", 0), ("dilations", 1), ("output_padding", 0))


def _group_backprop_defaults(args: dict) -> dict:
    """GroupConvolutionBackpropData: pads are attributes only when no output shape is given."""
    args = _spatial_defaults(("dilations", 1), ("output_padding", 0))(args)
    if args["output_shape"] is None:
        return _spatial_defaults(("pads_begin", 0), ("pads_end", 0))(args)
    return {**args, "pads_begin": OMIT, "pads_end": OMIT}


def _broadcast_axes(mode_key: str) -> Prepare:
    """Broadcast takes ``axes_mapping`` only in explicit mode."""

    def prepare(args: dict) -> dict:
        if str(args[mode_key]).upper() != "EXPLICIT":
            args["axes_mapping"] = None
        return args

    return prepare


def _swish_beta(args: dict) -> dict:
    """Swish gets an explicit f32 beta of 1 when none is given."""
    if args["beta"] is None:
        args["beta"] = make_constant(1.0, np.float32)
    return args


def _sdpa_mask(args: dict) -> dict:
    """A scale without a mask needs a zero mask in front of it (a ConvertLike of an i32 0 to the query type)."""
    if args["attention_mask"] is None and args["scale"] is not None:
        zero = make_constant(np.array(0, np.int32))
        like = as_output(args["query"], args.get("name"))
        args["attention_mask"] = create("ConvertLike", 1, [zero.output(0), like], {})
    return args


def _check_seeds(args: dict) -> dict:
    """RandomUniform seeds must not be negative."""
    for key in ("global_seed", "op_seed"):
        if args[key] < 0:
            raise RuntimeError(f"{key} should be positive or 0. Got: {args[key]}")
    return args


# ---------------------------------------------------------------------------------------------------------------
# The table.

_AUTO_BROADCAST = Attr("auto_broadcast", _lower, "NUMPY")
_KEEP_DIMS = Attr("keep_dims", _bool, False)
_CONV_ATTRS = (
    Attr("strides", _ints),
    Attr("pads_begin", _ints),
    Attr("pads_end", _ints),
    Attr("dilations", _ints),
    Attr("auto_pad", _lower, "EXPLICIT"),
)
_BACKPROP_ATTRS = (
    Attr("strides", _ints),
    In("output_shape", None),
    Attr("pads_begin", _or_omit(_ints), None),
    Attr("pads_end", _or_omit(_ints), None),
    Attr("dilations", _ints, None),
)


def _pool(data: str, *middle: Param, exclude_pad: bool = False, dilations: bool = False) -> tuple:
    """Pooling params: data, strides, [dilations], pads, kernel_shape, [exclude_pad], rounding_type, auto_pad."""
    head = (In(data), Attr("strides", _ints), *((Attr("dilations", _ints),) if dilations else ()))
    pads = (Attr("pads_begin", _ints), Attr("pads_end", _ints), Attr("kernel_shape", _ints, ir="kernel"))
    exclude = (Attr("exclude_pad", _bool, ir="exclude-pad"),) if exclude_pad else ()
    tail = (Attr("rounding_type", _lower, "floor"), Attr("auto_pad", _or_explicit, None))
    return (*head, *pads, *exclude, *tail, *middle)


_UNARY = {
    1: "abs:Abs absolute:Abs acos:Acos asin:Asin atan:Atan ceil:Ceiling ceiling:Ceiling cos:Cos cosh:Cosh erf:Erf "
    "exp:Exp floor:Floor log:Log logical_not:LogicalNot negative:Negative relu:Relu sigmoid/data:Sigmoid sign:Sign "
    "sin:Sin sinh:Sinh sqrt:Sqrt tan:Tan tanh:Tanh",
    4: "acosh:Acosh asinh:Asinh atanh:Atanh hswish/data:HSwish mish/data:Mish softplus/data:SoftPlus",
    5: "hsigmoid/data:HSigmoid",
    9: "softsign:SoftSign",
    10: "is_finite/data:IsFinite is_nan/data:IsNaN",
    13: "bitwise_not:BitwiseNot",
    16: "identity/data:Identity",
}

_BINARY = {
    1: "add:Add subtract:Subtract multiply:Multiply divide:Divide power:Power maximum:Maximum minimum:Minimum "
    "floor_mod:FloorMod mod:Mod equal:Equal not_equal:NotEqual greater:Greater greater_equal:GreaterEqual "
    "less:Less less_equal:LessEqual logical_and:LogicalAnd logical_or:LogicalOr logical_xor:LogicalXor@2 "
    "squared_difference/x1,x2:SquaredDifference",
    13: "bitwise_and:BitwiseAnd bitwise_or:BitwiseOr bitwise_xor:BitwiseXor",
    15: "bitwise_left_shift/arg0,arg1:BitwiseLeftShift bitwise_right_shift/arg0,arg1:BitwiseRightShift",
}

_REDUCE = {
    1: "reduce_logical_and:ReduceLogicalAnd reduce_logical_or:ReduceLogicalOr reduce_max:ReduceMax "
    "reduce_mean:ReduceMean reduce_min:ReduceMin reduce_prod:ReduceProd reduce_sum:ReduceSum",
    4: "reduce_l1:ReduceL1 reduce_l2:ReduceL2",
}


def _family(table: dict, default_params: str, tail: tuple) -> list:
    """Rows from ``func[/param,param]:Type[@opset]`` words: one input per param name, then the shared ``tail`` params.

    ``@opset`` names the op version when it differs from the module that first exports the function (opset1's
    logical_xor creates LogicalXor-2)."""
    rows = []
    for since, words in table.items():
        for word in words.split():
            head, type_spec = word.split(":")
            type_name, _, version = type_spec.partition("@")
            func, _, names = head.partition("/")
            inputs = tuple(In(n) for n in (names or default_params).split(","))
            rows.append(OpSpec(func, since, type_name, int(version) if version else since, inputs + tail))
    return rows


def _op(func: str, since: int, type_name: str, *params: Param, opset: int | None = None, **extra: Any) -> OpSpec:
    return OpSpec(func, since, type_name, since if opset is None else opset, params, **extra)


_CUM_SUM = (In("arg"), In("axis"), Attr("exclusive", _bool, False), Attr("reverse", _bool, False))
_INTERPOLATE_ATTRS = (
    Attr("mode", _lower),
    Attr("shape_calculation_mode", _lower),
    Attr("pads_begin", _ints, None),
    Attr("pads_end", _ints, None),
    Attr("coordinate_transformation_mode", _lower, "half_pixel"),
    Attr("nearest_mode", _lower, "round_prefer_floor"),
    Attr("antialias", _bool, False),
    Attr("cube_coeff", _float, -0.75),
    In("axes", None),
)

# fmt: off
SPECS: list = [
    *_family(_UNARY, "node", ()),
    *_family(_BINARY, "left_node,right_node", (_AUTO_BROADCAST,)),
    *_family(_REDUCE, "node,reduction_axes", (_KEEP_DIMS,)),
    # structure (opset6+ ReadValue/Assign take Variable objects, which the builder does not offer yet)
    _op("read_value", 3, "ReadValue", In("init_value"), Attr("variable_id", _str), until=5),
    _op("assign", 3, "Assign", In("new_value"), Attr("variable_id", _str), until=5),
    _op("convert", 1, "Convert", In("data"), Attr("destination_type", _element_type)),
    _op("convert_like", 1, "ConvertLike", In("data"), In("like")),
    _op("shape_of", 1, "ShapeOf", In("data")),
    _op("shape_of", 3, "ShapeOf", In("data"), Attr("output_type", _element_type, "i64")),
    # convolution and pooling
    _op("convolution", 1, "Convolution", In("data"), In("filters"), *_CONV_ATTRS),
    _op("group_convolution", 1, "GroupConvolution", In("data"), In("filters"), *_CONV_ATTRS),
    _op(
        "convolution_backprop_data", 1, "ConvolutionBackpropData", In("data"), In("filters"), *_BACKPROP_ATTRS,
        Attr("auto_pad", _or_explicit, None), Attr("output_padding", _ints, None), prepare=_backprop_defaults,
    ),
    _op(
        "group_convolution_backprop_data", 1, "GroupConvolutionBackpropData", In("data"), In("filters"),
        *_BACKPROP_ATTRS, Attr("auto_pad", _lower, "EXPLICIT"), Attr("output_padding", _ints, None),
        prepare=_group_backprop_defaults,
    ),
    _op("max_pool", 1, "MaxPool", *_pool("data")),
    _op(
        "max_pool", 8, "MaxPool",
        *_pool("data", Attr("index_element_type", _element_type, "i64"), Attr("axis", _int, 0), dilations=True),
    ),
    _op(
        "max_pool", 14, "MaxPool",
        *_pool("data", Attr("index_element_type", _element_type, "i64"), Attr("axis", _int, 0), dilations=True),
    ),
    _op("avg_pool", 1, "AvgPool", *_pool("data_batch", exclude_pad=True)),
    _op("avg_pool", 14, "AvgPool", *_pool("data_batch", exclude_pad=True)),
    _op("avg_pool", 16, "AvgPool", *_pool("data_batch", Attr("dilations", _or_omit(_ints), None), exclude_pad=True)),
    _op("adaptive_avg_pool", 8, "AdaptiveAvgPool", In("data"), In("output_shape")),
    _op(
        "adaptive_max_pool", 8, "AdaptiveMaxPool", In("data"), In("output_shape"),
        Attr("index_element_type", _element_type, "i64"),
    ),
    # linear algebra
    _op("matmul", 1, "MatMul", In("data_a"), In("data_b"), Attr("transpose_a", _bool), Attr("transpose_b", _bool)),
    _op("einsum", 7, "Einsum", Ins("inputs"), Attr("equation", _str)),
    _op(
        "scaled_dot_product_attention", 13, "ScaledDotProductAttention", In("query"), In("key"), In("value"),
        In("attention_mask", None), In("scale", None), Attr("causal", _bool, False), prepare=_sdpa_mask,
    ),
    # element-wise with attributes
    _op("select", 1, "Select", In("cond"), In("then_node"), In("else_node"), Attr("auto_broadcast", _lower, "numpy")),
    _op("prelu", 1, "PRelu", In("data"), In("slope")),
    _op("clamp", 1, "Clamp", In("data"), Attr("min_value", _float, ir="min"), Attr("max_value", _float, ir="max")),
    _op("elu", 1, "Elu", In("data"), Attr("alpha", _float)),
    _op("selu", 1, "Selu", In("data"), In("alpha"), In("lambda_value")),
    _op("hard_sigmoid", 1, "HardSigmoid", In("data"), In("alpha"), In("beta")),
    _op("gelu", 2, "Gelu", In("node")),
    _op("gelu", 7, "Gelu", In("data"), Attr("approximation_mode", _upper)),
    _op("swish", 4, "Swish", In("data"), In("beta", None), prepare=_swish_beta),
    _op("round", 5, "Round", In("data"), Attr("mode", _lower, "half_to_even")),
    # normalisation
    _op("softmax", 1, "Softmax", In("data"), Attr("axis", _int)),
    _op("softmax", 8, "Softmax", In("data"), Attr("axis", _int)),
    _op("log_softmax", 5, "LogSoftmax", In("data"), Attr("axis", _int)),
    _op(
        "mvn", 2, "MVN", In("data"), Attr("across_channels", _bool, False),
        Attr("normalize_variance", _bool, False), Attr("eps", _float, 1e-9),
    ),
    _op(
        "mvn", 6, "MVN", In("data"), In("axes"), Attr("normalize_variance", _bool), Attr("eps", _float),
        Attr("eps_mode", _upper),
    ),
    _op("normalize_l2", 1, "NormalizeL2", In("data"), In("axes"), Attr("eps", _float), Attr("eps_mode", _lower)),
    _op(
        "batch_norm_inference", 1, "BatchNormInference", In("data"), In("gamma"), In("beta"), In("mean"),
        In("variance"), Attr("epsilon", _float), input_order=("gamma", "beta", "data", "mean", "variance"),
    ),
    _op(
        "batch_norm_inference", 5, "BatchNormInference", In("data"), In("gamma"), In("beta"), In("mean"),
        In("variance"), Attr("epsilon", _float),
    ),
    _op(
        "group_normalization", 12, "GroupNormalization", In("data"), In("scale"), In("bias"),
        Attr("num_groups", _int), Attr("epsilon", _float),
    ),
    _op(
        "lrn", 1, "LRN", In("data"), In("axes"), Attr("alpha", _float, 1), Attr("beta", _float, 0.5),
        Attr("bias", _float, 1), Attr("size", _int, 5),
    ),
    # reductions and sorting
    _op("topk", 1, "TopK", In("data"), In("k"), Attr("axis", _int), Attr("mode", _lower), Attr("sort", _lower)),
    _op(
        "topk", 3, "TopK", In("data"), In("k"), Attr("axis", _int), Attr("mode", _lower), Attr("sort", _lower),
        Attr("index_element_type", _element_type, "i32"),
    ),
    _op(
        "topk", 11, "TopK", In("data"), In("k"), Attr("axis", _int), Attr("mode", _lower), Attr("sort", _lower),
        Attr("index_element_type", _element_type, "i32"), Attr("stable", _bool, False),
    ),
    _op("cum_sum", 3, "CumSum", *_CUM_SUM),
    _op("cumsum", 3, "CumSum", *_CUM_SUM),
    # data movement
    _op("reshape", 1, "Reshape", In("node"), In("output_shape"), Attr("special_zero", _bool)),
    _op("squeeze", 1, "Squeeze", In("data"), In("axes")),
    _op("squeeze", 15, "Squeeze", In("data"), In("axes", None), Attr("allow_axis_skip", _bool, False)),
    _op("unsqueeze", 1, "Unsqueeze", In("data"), In("axes")),
    _op("transpose", 1, "Transpose", In("data"), In("input_order")),
    _op("concat", 1, "Concat", Ins("nodes"), Attr("axis", _int)),
    _op("split", 1, "Split", In("data"), In("axis"), Attr("num_splits", _int)),
    _op("variadic_split", 1, "VariadicSplit", In("data"), In("axis"), In("split_lengths")),
    _op("gather", 1, "Gather", In("data"), In("indices"), In("axis")),
    _op("gather", 7, "Gather", In("data"), In("indices"), In("axis"), Attr("batch_dims", _int, 0)),
    _op("gather", 8, "Gather", In("data"), In("indices"), In("axis"), Attr("batch_dims", _int, 0)),
    _op("gather_nd", 5, "GatherND", In("data"), In("indices"), Attr("batch_dims", _int, 0)),
    _op("gather_nd", 8, "GatherND", In("data"), In("indices"), Attr("batch_dims", _int, 0)),
    _op("gather_elements", 6, "GatherElements", In("data"), In("indices"), Attr("axis", _int, 0)),
    _op("scatter_update", 3, "ScatterUpdate", In("data"), In("indices"), In("updates"), In("axis")),
    _op("scatter_nd_update", 4, "ScatterNDUpdate", In("data"), In("indices"), In("updates")),
    _op(
        "scatter_nd_update", 15, "ScatterNDUpdate", In("data"), In("indices"), In("updates"),
        Attr("reduction", _or_omit(_lower), None),
    ),
    _op("scatter_elements_update", 3, "ScatterElementsUpdate", In("data"), In("indices"), In("updates"), In("axis")),
    _op(
        "scatter_elements_update", 12, "ScatterElementsUpdate", In("data"), In("indices"), In("updates"), In("axis"),
        Attr("reduction", _lower, "None"), Attr("use_init_val", _bool, True),
    ),
    _op(
        "broadcast", 1, "Broadcast", In("data"), In("target_shape"), In("axes_mapping", None),
        Attr("mode", _broadcast_v1_mode, "NUMPY"), prepare=_broadcast_axes("mode"),
    ),
    _op(
        "broadcast", 3, "Broadcast", In("data"), In("target_shape"), In("axes_mapping", None),
        Attr("broadcast_spec", _lower, "NUMPY", ir="mode"), prepare=_broadcast_axes("broadcast_spec"),
    ),
    _op("tile", 1, "Tile", In("data"), In("repeats")),
    _op(
        "strided_slice", 1, "StridedSlice", In("data"), In("begin"), In("end"), In("strides"),
        Attr("begin_mask", _ints), Attr("end_mask", _ints), Attr("new_axis_mask", _ints, None),
        Attr("shrink_axis_mask", _ints, None), Attr("ellipsis_mask", _ints, None),
    ),
    _op("slice", 8, "Slice", In("data"), In("start"), In("stop"), In("step"), In("axes", None)),
    _op(
        "pad", 1, "Pad", In("arg"), In("pads_begin"), In("pads_end"), Attr("pad_mode", _lower),
        In("arg_pad_value", None),
    ),
    _op(
        "pad", 12, "Pad", In("arg"), In("pads_begin"), In("pads_end"), Attr("pad_mode", _lower),
        In("arg_pad_value", None),
    ),
    _op("range", 1, "Range", In("start"), In("stop"), In("step")),
    _op("range", 12, "Range", In("start"), In("stop"), In("step"), Attr("output_type", _element_type), opset=4),
    _op("depth_to_space", 1, "DepthToSpace", In("node"), Attr("mode", _lower), Attr("block_size", _int, 1)),
    _op("space_to_depth", 1, "SpaceToDepth", In("data"), Attr("mode", _lower), Attr("block_size", _int, 1)),
    _op("shuffle_channels", 3, "ShuffleChannels", In("data"), Attr("axis", _int), Attr("group", _int), opset=1),
    # resize and quantisation
    _op("interpolate", 1, "Interpolate", In("image"), In("output_shape"), AttrDict("attrs")),
    _op(
        "interpolate", 10, "Interpolate", In("image"), In("output_shape"), In("scales"), *_INTERPOLATE_ATTRS,
        opset=4,
    ),
    _op("interpolate", 11, "Interpolate", In("image"), In("scales_or_sizes"), *_INTERPOLATE_ATTRS),
    _op(
        "fake_quantize", 1, "FakeQuantize", In("data"), In("input_low"), In("input_high"), In("output_low"),
        In("output_high"), Attr("levels", _int), _AUTO_BROADCAST,
    ),
    _op(
        "fake_quantize", 13, "FakeQuantize", In("data"), In("input_low"), In("input_high"), In("output_low"),
        In("output_high"), Attr("levels", _int), _AUTO_BROADCAST, opset=1,
    ),
    _op(
        "fake_convert", 13, "FakeConvert", In("data"), In("scale"), In("shift", None),
        Attr("destination_type", _lower, "f8e4m3"),
    ),
    # misc
    _op("non_zero", 3, "NonZero", In("data"), Attr("output_type", _element_type, "i64")),
    _op(
        "bucketize", 3, "Bucketize", In("data"), In("buckets"), Attr("output_type", _element_type, "i64"),
        Attr("with_right_bound", _bool, True),
    ),
    _op(
        "one_hot", 1, "OneHot", In("indices"), In("depth"), In("on_value"), In("off_value"), Attr("axis", _int),
    ),
    _op(
        "one_hot", 16, "OneHot", In("indices"), In("depth"), In("on_value"), In("off_value"), Attr("axis", _int),
        Attr("negative_indices_mode", _or_omit(_lower), None),
    ),
    _op(
        "eye", 9, "Eye", In("num_rows"), In("num_columns"), In("diagonal_index"),
        Attr("output_type", _element_type), In("batch_shape", None),
    ),
    _op(
        "random_uniform", 8, "RandomUniform", In("output_shape"), In("min_val"), In("max_val"),
        Attr("output_type", _element_type), Attr("global_seed", _int, 0), Attr("op_seed", _int, 0),
        Attr("alignment", _lower, "tensorflow"), prepare=_check_seeds,
    ),
]
# fmt: on
"""Every generic builder-function variant."""


def functions_of(opset: int) -> dict:
    """Name → builder function of ``ferrovino.opset{opset}``: the newest variant each name has up to ``opset``."""
    if not 1 <= opset <= 16:
        raise ValueError(f"opset must be in 1..16, got {opset}")
    chosen: dict = {}
    for spec in SPECS:
        newer = spec.func not in chosen or chosen[spec.func].since < spec.since
        if spec.since <= opset <= spec.until and newer:
            chosen[spec.func] = spec
    functions = {name: make_function(spec) for name, spec in chosen.items()}
    for since, custom in sorted(CUSTOM.items()):
        if since <= opset:
            functions.update(custom)
    return dict(sorted(functions.items()))


def export_opset(opset: int, namespace: dict) -> None:
    """Fills the module ``namespace`` of ``ferrovino.opset{opset}`` with its functions and ``__all__`` (which, as in
    OpenVINO, leaves out the builders that are classes, such as opset6+ ``assign``)."""
    functions = functions_of(opset)
    namespace.update(functions)
    namespace["__all__"] = [name for name, value in functions.items() if not inspect.isclass(value)]
