"""Helpers shared by the ONNX neural-network translators (``ops_nn*``): typed constants, shape pieces, flattening."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ... import _native
from ... import opset16 as ops

# The helpers both families use live in ops_tensor_common; the nn modules import them from here.
from .ops_tensor_common import const_like, i64, normalize_axis, out, rank_of, shape_of, static_dims  # noqa: F401


def dims(x: _native.Output, start: int, stop: Optional[int] = None) -> _native.Output:
    """The i64 dimensions ``start:stop`` of ``x``'s shape as a 1-D graph value."""
    end = np.iinfo(np.int64).max if stop is None else stop
    return out(ops.slice(shape_of(x), i64([start]), i64([end]), i64([1])))


def product(v: _native.Output) -> _native.Output:
    """The product of a 1-D i64 value, as a 1-element vector."""
    return out(ops.reduce_prod(v, i64([0]), True))


def flatten_2d(x: _native.Output, axis: int) -> _native.Output:
    """``x`` reshaped to ``[prod(shape[:axis]), prod(shape[axis:])]`` (ONNX's coerce-to-2D)."""
    target = out(ops.concat([product(dims(x, 0, axis)), product(dims(x, axis))], 0))
    return out(ops.reshape(x, target, False))




def per_axis(ctx, name: str, n: int, default: int) -> list[int]:
    """Attribute ``name`` as ``n`` ints (``default`` each when absent); a wrong length is an error."""
    v = ctx.attr(name)
    if v is None:
        return [default] * n
    v = [int(e) for e in v]
    if len(v) != n:
        raise _native.ParseError(f"attribute {name} has {len(v)} values, expected {n}")
    return v


def axes_range(start: int, stop: int) -> np.ndarray:
    """The i64 axes ``start..stop`` (exclusive) as a constant array."""
    return i64(list(range(start, stop)))


def cast_back(y: _native.Output, like: _native.Output) -> _native.Output:
    """``y`` converted to ``like``'s element type (a no-op when they already agree)."""
    if y.get_element_type() == like.get_element_type():
        return y
    return out(ops.convert_like(y, like))


def stash(x: _native.Output, ctx, default: int = 1) -> _native.Output:
    """``x`` in the precision the ``stash_type`` attribute asks for (1 = f32); other types stay as they are."""
    from .types import element_type

    kind = ctx.attr("stash_type", default)
    target = element_type(kind)
    if str(x.get_element_type()) == _native.Type(target).to_string() or x.get_element_type().is_integral():
        return x
    return out(ops.convert(x, target))


def concat_ints(parts: Sequence) -> _native.Output:
    """Concatenates 1-D i64 values (graph values or Python lists) along axis 0."""
    return out(ops.concat([p if isinstance(p, _native.Output) else i64(p) for p in parts], 0))
