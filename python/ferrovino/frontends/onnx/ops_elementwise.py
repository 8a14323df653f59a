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


# The largest finite values of the float8 types whose Convert (like OpenVINO's) turns overflow into NaN or
# infinity: ONNX Cast's default saturate=1 clamps to them first. f4e2m1 has neither, so Convert saturates it.
_SATURATION = {"f8e4m3": 448.0, "f8e4m3fnuz": 240.0, "f8e5m2": 57344.0, "f8e5m2fnuz": 57344.0}
_NARROW_FLOATS = {*_SATURATION, "f8e8m0", "f4e2m1"}


def _type_name(x) -> str:
    return x.get_element_type().get_type_name()


def _cast_to_e8m0(ctx, x):
    """Cast to f8e8m0 (ONNX: saturate=1, round_mode up/down/nearest). Convert rounds to the nearest power of two and
    saturates; rounding up (down) takes the next power of two when the nearest one lies below (above) x."""
    if not ctx.attr("saturate", 1):
        raise _native.UnsupportedError(f"Cast to FLOAT8E8M0 with saturate=0 is not supported (node {ctx.name})")
    mode = ctx.attr("round_mode", "up")
    if mode not in ("up", "down", "nearest"):
        raise _native.ParseError(f"Cast round_mode is {mode!r}; expected 'up', 'down' or 'nearest'")
    nearest = ops.convert(x, "f8e8m0").output(0)
    if mode == "nearest":
        return nearest
    back = ops.convert(nearest, "f32").output(0)
    factor, misses = (2.0, ops.less) if mode == "up" else (0.5, ops.greater)
    other = ops.multiply(back, np.array(factor, np.float32))
    return ops.convert(ops.select(misses(back, x), other, back), "f8e8m0").output(0)


def _cast_to(ctx, x, target: str):
    """Converts ``x`` to ``target``, honouring ONNX's ``saturate`` (default 1) and ``round_mode`` for the narrow
    float types; narrow float sources go through f32 (exactly) so they can be clamped and compared."""
    if target not in _NARROW_FLOATS or _type_name(x) == target:
        return ops.convert(x, target).output(0)
    if _type_name(x) in _NARROW_FLOATS or _type_name(x) == "boolean" or target == "f8e8m0":
        x = ops.convert(x, "f32").output(0)
    if target == "f8e8m0":
        return _cast_to_e8m0(ctx, x)
    return narrow_float_convert(x, target, bool(ctx.attr("saturate", 1)))


def narrow_float_convert(x, target: str, saturate: bool):
    """Converts real ``x`` to a float8/float4 ``target`` as ONNX does: with ``saturate``, out-of-range values clamp
    to the largest finite value (else they become NaN or infinity, as Convert makes them); f4e2m1 turns NaN to -0."""
    if target in _SATURATION and saturate:
        bound = _SATURATION[target]
        x = ops.clamp(x, -bound, bound).output(0)
    if target == "f4e2m1" and x.get_element_type().is_real():
        # Convert (like OpenVINO's) saturates NaN to ±6; ONNX (after ml_dtypes) makes it -0.
        x = ops.select(ops.is_nan(x), ops.convert_like(np.array(-0.0, np.float32), x), x).output(0)
    return ops.convert(x, target).output(0)


@op("Cast")
def _cast(ctx):
    return [_cast_to(ctx, ctx.input(0), element_type(ctx.attr("to")))]


@op("CastLike")
def _cast_like(ctx):
    return [_cast_to(ctx, ctx.input(0), _type_name(ctx.input(1)))]


@op("LeakyRelu")
def _leaky_relu(ctx):
    x = ctx.input(0)
    slope = ops.convert_like(np.array([ctx.attr("alpha", 0.01)], np.float32), x)
    return [ops.prelu(x, slope).output(0)]


@op("Elu")
def _elu(ctx):
    return [ops.elu(ctx.input(0), ctx.attr("alpha", 1.0)).output(0)]


def _like(ctx, x, name: str, default: float):
    """Attribute ``name`` (or ``default``) as a scalar constant of ``x``'s element type."""
    return ops.convert_like(np.array(ctx.attr(name, default), np.float32), x)


@op("Selu")
def _selu(ctx):
    x = ctx.input(0)
    alpha, gamma = _like(ctx, x, "alpha", 1.67326319217681884765625), _like(ctx, x, "gamma", 1.05070102214813232421875)
    return [ops.selu(x, alpha, gamma).output(0)]


@op("HardSigmoid")
def _hard_sigmoid(ctx):
    x = ctx.input(0)
    return [ops.hard_sigmoid(x, _like(ctx, x, "alpha", 0.2), _like(ctx, x, "beta", 0.5)).output(0)]


@op("Clip", since=1)
def _clip_attrs(ctx):
    return [ops.clamp(ctx.input(0), ctx.attr("min", -3.4028234663852886e38), ctx.attr("max", 3.4028234663852886e38))
            .output(0)]


@op("Clip", since=11)
def _clip_inputs(ctx):
    x = ctx.input(0)
    given = [i for i in (1, 2) if ctx.has_input(i)]
    bounds = {i: ctx.const(i) for i in given}
    scalar_bounds = given and all(b is not None and b.size == 1 for b in bounds.values())
    if scalar_bounds and x.get_element_type().is_real():
        # Constant scalar bounds: one Clamp, as OpenVINO's frontend makes (the CPU plan fuses it into convolutions).
        lo = float(bounds[1].reshape(())) if 1 in bounds else -np.inf
        hi = float(bounds[2].reshape(())) if 2 in bounds else np.inf
        return [ops.clamp(x, lo, hi).output(0)]
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
