"""Translators of ONNX neural-network ops: softmax family, Gemm/MatMul/Einsum, Dropout and activations.

Convolutions live in ``ops_nn_conv``, pooling in ``ops_nn_pool``, normalizations in ``ops_nn_norm`` and resampling in
``ops_nn_resize``; this module imports them so that one import registers the whole family.
"""

from __future__ import annotations

import numpy as np

from ... import _native
from ... import opset16 as ops
from . import ops_nn_conv, ops_nn_grid, ops_nn_norm, ops_nn_pool, ops_nn_resize  # noqa: F401  (register their translators)
from .ops_nn_common import cast_back, const_like, flatten_2d, i64, normalize_axis, out, rank_of, shape_of
from .registry import op

# ---------------------------------------------------------------------------------------------------------------
# Softmax, LogSoftmax, Hardmax


def _hardmax(x: _native.Output, axis: int) -> _native.Output:
    """1 at the first maximum along ``axis``, 0 elsewhere."""
    top = ops.topk(x, i64(1), axis, "max", "none", "i64", True)
    index = out(ops.squeeze(top.output(1), i64([axis])))
    depth = out(ops.gather(shape_of(x), i64(axis), i64(0)))
    one_hot = ops.one_hot(index, depth, const_like(1, x), const_like(0, x), axis)
    return out(one_hot)


_SOFTMAX_FAMILY = {
    "Softmax": lambda x, axis: out(ops.softmax(x, axis)),
    "LogSoftmax": lambda x, axis: out(ops.log_softmax(x, axis)),
    "Hardmax": _hardmax,
}


def _register_softmax_family(onnx_name: str, build) -> None:
    @op(onnx_name, since=1)
    def coerced(ctx):
        # Before opset 13 the input is seen as 2-D: [prod(shape[:axis]), prod(shape[axis:])].
        x = ctx.input(0)
        axis = normalize_axis(ctx.attr("axis", 1), rank_of(x))
        y = build(flatten_2d(x, axis), 1)
        return [out(ops.reshape(y, shape_of(x), False))]

    @op(onnx_name, since=13)
    def per_axis(ctx):
        x = ctx.input(0)
        return [build(x, normalize_axis(ctx.attr("axis", -1), rank_of(x)))]


for _name, _build in _SOFTMAX_FAMILY.items():
    _register_softmax_family(_name, _build)

# ---------------------------------------------------------------------------------------------------------------
# Gemm, MatMul, Einsum


@op("Gemm")
def _gemm(ctx):
    a, b = ctx.input(0), ctx.input(1)
    y = out(ops.matmul(a, b, bool(ctx.attr("transA", 0)), bool(ctx.attr("transB", 0))))
    alpha = ctx.attr("alpha", 1.0)
    if alpha != 1.0:
        y = out(ops.multiply(y, const_like(alpha, y)))
    beta = ctx.attr("beta", 1.0)
    if ctx.has_input(2) and beta != 0.0:
        c = ctx.input(2)
        if beta != 1.0:
            c = out(ops.multiply(c, const_like(beta, c)))
        y = out(ops.add(y, c))
    return [y]


@op("MatMul")
def _matmul(ctx):
    return [out(ops.matmul(ctx.input(0), ctx.input(1), False, False))]


@op("Einsum")
def _einsum(ctx):
    inputs = [ctx.input(i) for i in range(len(ctx.inputs))]
    return [out(ops.einsum(inputs, ctx.attr("equation").replace(" ", "")))]


# ---------------------------------------------------------------------------------------------------------------
# Dropout (inference form)


def _all_true_mask(x: _native.Output, legacy: bool) -> _native.Output:
    """The mask of an inference Dropout: every element kept (of x's type before opset 10, boolean after)."""
    one = const_like(1, x) if legacy else np.array(True)
    return out(ops.broadcast(one, shape_of(x)))


def _inference_dropout(ctx) -> list:
    """Dropout at inference: the input unchanged and, when asked for, a mask keeping everything."""
    x = ctx.input(0)
    mask = _all_true_mask(x, ctx.opset < 10) if ctx.output_count() > 1 and ctx.node.output[1] else None
    return [x, mask]


@op("Dropout", since=1)
def _dropout_attr(ctx):
    # Before opset 12 training is a property of the run, not of the graph (is_test is advisory): inference it is.
    return _inference_dropout(ctx)


@op("Dropout", since=12)
def _dropout_training_input(ctx):
    if ctx.has_input(2):
        mode = ctx.const(2)
        if mode is None:
            raise _native.UnsupportedError(
                "training_mode is computed at run time; only a constant training_mode (false, or true with a "
                "constant ratio of 0) can be translated, as training draws random masks"
            )
        ratio = ctx.const(1) if ctx.has_input(1) else None
        if bool(mode) and not (ratio is not None and float(ratio) == 0.0):
            raise _native.UnsupportedError("training_mode=true draws random masks; only inference is supported")
    return _inference_dropout(ctx)


# ---------------------------------------------------------------------------------------------------------------
# Activations


@op("Gelu", since=20)
def _gelu(ctx):
    mode = {"none": "erf", "tanh": "tanh"}.get(ctx.attr("approximate", "none"))
    if mode is None:
        raise _native.ParseError(f"approximate must be 'none' or 'tanh', got '{ctx.attr('approximate')}'")
    return [out(ops.gelu(ctx.input(0), mode))]


@op("PRelu")
def _prelu(ctx):
    x, slope = ctx.input(0), ctx.input(1)
    return [out(ops.prelu(x, cast_back(slope, x)))]


@op("Celu", since=12)
def _celu(ctx):
    x = ctx.input(0)
    alpha = const_like(ctx.attr("alpha", 1.0), x)
    negative = ops.multiply(alpha, ops.subtract(ops.exp(ops.divide(x, alpha)), const_like(1, x)))
    zero = const_like(0, x)
    return [out(ops.add(ops.maximum(x, zero), ops.minimum(negative, zero)))]


@op("ThresholdedRelu", since=10)
def _thresholded_relu(ctx):
    x = ctx.input(0)
    keep = ops.greater(x, const_like(ctx.attr("alpha", 1.0), x))
    return [out(ops.select(keep, x, const_like(0, x)))]


@op("Shrink", since=9)
def _shrink(ctx):
    x = ctx.input(0)
    lambd = ctx.attr("lambd", 0.5)
    bias = const_like(ctx.attr("bias", 0.0), x)
    below = ops.less(x, const_like(-lambd, x))
    above = ops.greater(x, const_like(lambd, x))
    zero = const_like(0, x)
    y = ops.select(below, ops.add(x, bias), ops.select(above, ops.subtract(x, bias), zero))
    return [out(y)]


@op("HardSwish", since=14)
def _hard_swish(ctx):
    return [out(ops.hswish(ctx.input(0)))]


@op("Mish", since=18)
def _mish(ctx):
    return [out(ops.mish(ctx.input(0)))]


def _swish(x: _native.Output, alpha: float) -> _native.Output:
    """``x * sigmoid(alpha * x)``."""
    return out(ops.swish(x, const_like(alpha, x)))


@op("Swish", since=24)
def _swish_op(ctx):
    return [_swish(ctx.input(0), ctx.attr("alpha", 1.0))]


@op("SwiGLU", since=28)
def _swiglu(ctx):
    gate, value = ctx.input(0), ctx.input(1)
    return [out(ops.multiply(_swish(gate, ctx.attr("alpha", 1.0)), value))]
