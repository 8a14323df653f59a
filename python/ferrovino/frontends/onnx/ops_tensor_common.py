"""Helpers shared by the ONNX tensor / data-movement translators (``ops_tensor_*``)."""

from __future__ import annotations

from typing import Optional, Union

import numpy as np

from ... import _native
from ... import opset16 as ops

INT64_MAX = np.iinfo(np.int64).max

IntsArg = Union[np.ndarray, _native.Output]


def out(node) -> _native.Output:
    """The first output of a builder node."""
    return node.output(0)


def i64(values) -> np.ndarray:
    """``values`` as an i64 array (a Constant once handed to a builder)."""
    return np.asarray(values, np.int64)


def as_i64(x: IntsArg) -> IntsArg:
    """An integer argument (a numpy array or a graph value) as i64."""
    if isinstance(x, np.ndarray):
        return i64(x)
    if str(x.get_element_type()) == "i64":
        return x
    return out(ops.convert(x, "i64"))


def const_like(value, like: _native.Output) -> _native.Output:
    """``value`` (a number or an array) as a constant of ``like``'s element type."""
    return out(ops.convert_like(np.asarray(value), like))


def scalar(x: _native.Output) -> _native.Output:
    """``x`` (one element) reshaped to a scalar."""
    return out(ops.reshape(x, i64([]), False))


def rank_of(x: _native.Output, what: str = "input 0") -> int:
    """The static rank of ``x``; a dynamic one is an error."""
    ps = x.get_partial_shape()
    if ps.rank.is_dynamic:
        raise _native.UnsupportedError(f"{what} needs a static rank, got a dynamic one")
    return ps.rank.get_length()


def static_dims(x: _native.Output) -> Optional[list[int]]:
    """The dimensions of ``x`` when its shape is fully static, else None."""
    ps = x.get_partial_shape()
    if ps.rank.is_dynamic or not ps.is_static:
        return None
    return [d.get_length() for d in ps]


def normalize_axis(axis: int, rank: int) -> int:
    """``axis`` in ``[0, rank)``; one outside ``[-rank, rank)`` is an error."""
    if not -rank <= axis < rank:
        raise _native.ParseError(f"axis {axis} is outside [-{rank}, {rank})")
    return axis + rank if axis < 0 else axis


def shape_of(x: _native.Output) -> _native.Output:
    """The i64 shape of ``x`` as a graph value."""
    return out(ops.shape_of(x, "i64"))


def dim(x: _native.Output, axis: int) -> _native.Output:
    """Dimension ``axis`` of ``x`` as an i64 scalar graph value."""
    return out(ops.gather(shape_of(x), i64(axis), i64(0)))


def ints_arg(ctx, i: int, attr: Optional[str] = None) -> Optional[IntsArg]:
    """An integer-list argument given as input ``i`` (its constant value when known, else the i64 graph value) or,
    when ``attr`` is named, as that attribute; None when absent."""
    if attr is not None:
        v = ctx.attr(attr)
        return None if v is None else i64(v)
    if not ctx.has_input(i):
        return None
    v = ctx.const(i)
    return i64(v) if v is not None else as_i64(ctx.input(i))


def ones_like_vector(v: IntsArg) -> IntsArg:
    """An i64 vector of ones as long as the 1-D ``v``."""
    if isinstance(v, np.ndarray):
        return np.ones_like(v, np.int64)
    return out(ops.broadcast(i64(1), shape_of(v)))


def arange(stop: _native.Output, start: Union[int, _native.Output] = 0) -> _native.Output:
    """The i64 values ``start..stop`` (a scalar graph value) as a 1-D graph value."""
    return out(ops.range(start if isinstance(start, _native.Output) else i64(start), stop, i64(1), "i64"))
