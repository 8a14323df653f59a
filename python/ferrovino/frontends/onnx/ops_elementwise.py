"""Translators of ONNX elementwise ops, constants, casts and identity."""

from __future__ import annotations

from functools import reduce

import numpy as np

from ... import _native
from ... import opset16 as ops
from .registry import op
from .types import element_type

# ONNX op type → ferrovino builder of the same one-input op.
_UNARY = {
    "Abs": ops.abs,
    "Acos": ops.acos,
    "Acosh": ops.acosh,
    "Asin": ops.asin,
    "Asinh": ops.asinh,
    "Atan": ops.atan,
    "Atanh": ops.atanh,
    "Ceil": ops.ceiling,
    "Cos": ops.cos,
    "Cosh": ops.cosh,
    "Erf": ops.erf,
    "Exp": ops.exp,
    "Floor": ops.floor,
    "Log": ops.log,
    "Neg": ops.negative,
    "Not": ops.logical_not,
    "Relu": ops.relu,
    "Sigmoid": ops.sigmoid,
    "Sign": ops.sign,
    "Sin": ops.sin,
    "Sinh": ops.sinh,
    "Sqrt": ops.sqrt,
    "Tan": ops.tan,
    "Tanh": ops.tanh,
    "Softplus": ops.softplus,
    "Softsign": ops.softsign,
    "IsNaN": ops.is_nan,
    "BitwiseNot": ops.bitwise_not,
}

# ONNX op type → ferrovino builder of the same broadcasting two-input op.
_BINARY = {
    "Add": ops.add,
    "Sub": ops.subtract,
    "Mul": ops.multiply,
    "Div": ops.divide,
    "Pow": ops.power,
    "Equal": ops.equal,
    "Greater": ops.greater,
    "GreaterOrEqual": ops.greater_equal,
    "Less": ops.less,
    "LessOrEqual": ops.less_equal,
    "And": ops.logical_and,
    "Or": ops.logical_or,
    "Xor": ops.logical_xor,
    "BitwiseAnd": ops.bitwise_and,
    "BitwiseOr": ops.bitwise_or,
    "BitwiseXor": ops.bitwise_xor,
}

# ONNX variadic ops → the binary ferrovino op folded over the inputs.
_VARIADIC = {"Sum": ops.add, "Max": ops.maximum, "Min": ops.minimum}


def _register_unary(onnx_name: str, build) -> None:
    @op(onnx_name)
    def translate(ctx):
        return [build(ctx.input(0)).output(0)]


def _register_binary(onnx_name: str, build) -> None:
    @op(onnx_name)
    def translate(ctx):
        a, b = ctx.input(0), ctx.input(1)
        if onnx_name == "Div" and a.get_element_type().is_integral():
            # ONNX integer division truncates toward zero.
            return [_native.make_node("Divide", 1, [a, b], {"m_pythondiv": False}).output(0)]
        if onnx_name == "Pow" and a.get_element_type() != b.get_element_type():
            b = ops.convert_like(b, a).output(0)
        return [build(a, b).output(0)]


def _register_variadic(onnx_name: str, build) -> None:
    @op(onnx_name)
    def translate(ctx):
        inputs = [i for i in ctx.inputs if i is not None]
        return [reduce(lambda x, y: build(x, y).output(0), inputs)]


for _name, _build in _UNARY.items():
    _register_unary(_name, _build)
for _name, _build in _BINARY.items():
    _register_binary(_name, _build)
for _name, _build in _VARIADIC.items():
    _register_variadic(_name, _build)


@op("Mean")
def _mean(ctx):
    inputs = [i for i in ctx.inputs if i is not None]
    total = reduce(lambda x, y: ops.add(x, y).output(0), inputs)
    n = ops.convert_like(np.array(len(inputs), np.float32), total)
    return [ops.divide(total, n).output(0)]


@op("Mod")
def _mod(ctx):
    build = ops.mod if ctx.attr("fmod", 0) else ops.floor_mod
    return [build(ctx.input(0), ctx.input(1)).output(0)]


@op("Identity")
def _identity(ctx):
    return [ctx.input(0)]


@op("Constant")
def _constant(ctx):
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in ctx.attrs:
            v = ctx.attrs[key]
            dtype = np.float32 if "float" in key else (np.int64 if "int" in key else None)
            value = np.asarray(v, dtype=dtype)
            ctx.attrs["value"] = value
            return [_native.make_constant(value, None, ctx.name).output(0)]
    raise _native.UnsupportedError(f"Constant '{ctx.name}': only tensor and numeric values are supported")


@op("Cast")
def _cast(ctx):
    return [ops.convert(ctx.input(0), element_type(ctx.attr("to"))).output(0)]


@op("CastLike")
def _cast_like(ctx):
    return [ops.convert_like(ctx.input(0), ctx.input(1)).output(0)]


@op("LeakyRelu")
def _leaky_relu(ctx):
    x = ctx.input(0)
    slope = ops.convert_like(np.array([ctx.attr("alpha", 0.01)], np.float32), x)
    return [ops.prelu(x, slope).output(0)]


@op("Elu")
def _elu(ctx):
    return [ops.elu(ctx.input(0), ctx.attr("alpha", 1.0)).output(0)]


@op("Selu")
def _selu(ctx):
    x = ctx.input(0)
    alpha = ops.convert_like(np.array(ctx.attr("alpha", 1.67326319217681884765625), np.float32), x)
    gamma = ops.convert_like(np.array(ctx.attr("gamma", 1.05070102214813232421875), np.float32), x)
    return [ops.selu(x, alpha, gamma).output(0)]


@op("HardSigmoid")
def _hard_sigmoid(ctx):
    x = ctx.input(0)
    alpha = ops.convert_like(np.array(ctx.attr("alpha", 0.2), np.float32), x)
    beta = ops.convert_like(np.array(ctx.attr("beta", 0.5), np.float32), x)
    return [ops.hard_sigmoid(x, alpha, beta).output(0)]


@op("Clip", since=1)
def _clip_attrs(ctx):
    return [ops.clamp(ctx.input(0), ctx.attr("min", -3.4028234663852886e38), ctx.attr("max", 3.4028234663852886e38))
            .output(0)]


@op("Clip", since=11)
def _clip_inputs(ctx):
    x = ctx.input(0)
    if ctx.has_input(1):
        x = ops.maximum(x, ctx.input(1)).output(0)
    if ctx.has_input(2):
        x = ops.minimum(x, ctx.input(2)).output(0)
    return [x]


@op("Where")
def _where(ctx):
    return [ops.select(ctx.input(0), ctx.input(1), ctx.input(2)).output(0)]


@op("Reciprocal")
def _reciprocal(ctx):
    x = ctx.input(0)
    one = ops.convert_like(np.array(1, np.float32), x)
    return [ops.divide(one, x).output(0)]
