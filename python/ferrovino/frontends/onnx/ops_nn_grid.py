"""Translators of ONNX sampling grids: AffineGrid builds one, GridSample reads an input through one.

GridSample is decomposed: every output location gets, per interpolation tap, a flat input index and a weight
(products over the spatial axes), the taps are gathered from the flattened input and summed.
"""

from __future__ import annotations

import itertools
from typing import Callable

from ... import _native
from ... import opset16 as ops
from .ops_nn_common import concat_ints, const_like, dims, i64, out, rank_of, shape_of
from .registry import op

Value = _native.Output


# ---------------------------------------------------------------------------------------------------------------
# AffineGrid


def _base_coordinates(length: Value, like: Value, align_corners: bool) -> Value:
    """The normalized coordinates of ``length`` samples in [-1, 1]: the corners or the pixel centres."""
    n = out(ops.convert_like(length, like))
    idx = out(ops.convert_like(ops.range(i64(0), length, i64(1), "i64"), like))
    one, two = const_like(1, like), const_like(2, like)
    if align_corners:
        step = out(ops.divide(two, ops.maximum(ops.subtract(n, one), one)))
        return out(ops.subtract(ops.multiply(idx, step), one))
    return out(ops.subtract(ops.divide(ops.add(ops.multiply(idx, two), one), n), one))


@op("AffineGrid", since=20)
def _affine_grid(ctx):
    # grid[n, d..., :] = theta[n] @ (x, y[, z], 1) with x along the last spatial axis.
    theta, size = ctx.input(0), ctx.input(1)
    k = _affine_rank(ctx, theta)
    lengths = [out(ops.gather(size, i64(2 + a), i64(0))) for a in range(k)]
    grid_shape = concat_ints([out(ops.unsqueeze(n, i64([0]))) for n in lengths] + [[1]])
    columns = []
    for a in reversed(range(k)):
        coords = _base_coordinates(lengths[a], theta, bool(ctx.attr("align_corners", 0)))
        axes = [d for d in range(k + 1) if d != a]
        columns.append(out(ops.broadcast(ops.unsqueeze(coords, i64(axes)), grid_shape)))
    columns.append(out(ops.broadcast(const_like(1, theta), grid_shape)))
    homogeneous = out(ops.reshape(ops.concat(columns, k), i64([1, -1, k + 1]), False))
    points = out(ops.matmul(homogeneous, theta, False, True))
    target = concat_ints(
        [out(ops.slice(size, i64([0]), i64([1]), i64([1]))), *[out(ops.unsqueeze(n, i64([0]))) for n in lengths], [k]]
    )
    return [out(ops.reshape(points, target, False))]


def _affine_rank(ctx, theta: Value) -> int:
    """2 for a [N, 2, 3] theta, 3 for a [N, 3, 4] one (read from the static size input or theta's shape)."""
    ps = theta.get_partial_shape()
    if rank_of(theta, "theta") == 3 and ps[1].is_static:
        return ps[1].get_length()
    size = ctx.const(1)
    if size is not None:
        return len(size) - 2
    raise _native.UnsupportedError("needs a theta whose dimension 1 (2 or 3) is static, or a constant size")


# ---------------------------------------------------------------------------------------------------------------
# GridSample


def _trunc(v: Value) -> Value:
    """Rounds toward zero."""
    return out(ops.select(ops.less(v, const_like(0, v)), ops.ceiling(v), ops.floor(v)))


def _round_half_even(v: Value) -> Value:
    """Rounds to the nearest integer, halves to the even one (numpy's rint)."""
    f = out(ops.floor(v))
    frac = out(ops.subtract(v, f))
    half = const_like(0.5, v)
    one = const_like(1, v)
    at_half = out(ops.add(f, ops.floor_mod(f, const_like(2, v))))
    return out(ops.select(ops.greater(frac, half), ops.add(f, one), ops.select(ops.less(frac, half), f, at_half)))


def _reflect(v: Value, lo: Value, hi: Value) -> Value:
    """``v`` folded back into [lo, hi] by mirroring at the nearer border as often as needed."""
    span = out(ops.subtract(hi, lo))

    def fold(dx: Value, same: Value, other: Value, sign_same: float) -> Value:
        turns = out(ops.floor(ops.divide(dx, span)))
        r = out(ops.subtract(dx, ops.multiply(turns, span)))
        even = ops.equal(ops.floor_mod(turns, const_like(2, v)), const_like(0, v))
        toward_same = out(ops.add(same, ops.multiply(r, const_like(sign_same, v))))
        toward_other = out(ops.subtract(other, ops.multiply(r, const_like(sign_same, v))))
        return out(ops.select(even, toward_same, toward_other))

    below = fold(out(ops.subtract(lo, v)), lo, hi, 1.0)
    above = fold(out(ops.subtract(v, hi)), hi, lo, -1.0)
    return out(ops.select(ops.less(v, lo), below, ops.select(ops.greater(v, hi), above, v)))


class _Axis:
    """One spatial axis of a GridSample: its length and the borders its padding mode works with."""

    def __init__(self, length: Value, like: Value, align_corners: bool, padding: str):
        self.length = length
        self.n = out(ops.convert_like(length, like))
        self.last = out(ops.subtract(self.n, const_like(1, like)))
        self.align_corners = align_corners
        self.padding = padding
        if align_corners:
            self.lo, self.hi = const_like(0, like), self.last
        else:
            self.lo, self.hi = const_like(-0.5, like), out(ops.subtract(self.n, const_like(0.5, like)))

    def denormalize(self, g: Value) -> Value:
        """A normalized grid coordinate in pixel units."""
        one, half = const_like(1, g), const_like(0.5, g)
        if self.align_corners:
            return out(ops.multiply(ops.multiply(ops.add(g, one), half), self.last))
        return out(ops.multiply(ops.subtract(ops.multiply(ops.add(g, one), self.n), one), half))

    def clamp(self, v: Value) -> Value:
        """``v`` limited to [0, length - 1]."""
        return out(ops.minimum(ops.maximum(v, const_like(0, v)), self.last))

    def bring_inside(self, v: Value) -> Value:
        """The coordinate after the padding mode's treatment of points beyond the borders."""
        if self.padding == "border":
            return self.clamp(v)
        if self.padding == "reflection":
            return _reflect(v, self.lo, self.hi)
        return v

    def tap(self, i: Value):
        """(i64 index, validity) of the integer-valued position ``i`` under the padding mode."""
        if self.padding == "reflection":
            i = _trunc(_reflect(i, self.lo, self.hi))
        inside = out(ops.logical_and(ops.greater_equal(i, const_like(0, i)), ops.less_equal(i, self.last)))
        index = out(ops.convert(self.clamp(i), "i64"))
        return index, (inside if self.padding == "zeros" else None)


def _polynomial(d: Value, coefficients: list[float]) -> Value:
    """The polynomial with ``coefficients`` (highest power first) at ``d``, by Horner's rule."""
    result = const_like(coefficients[0], d)
    for c in coefficients[1:]:
        result = out(ops.add(ops.multiply(result, d), const_like(c, d)))
    return result


def _cubic_coefficients(t: Value, a: float = -0.75) -> list[Value]:
    """The four Keys cubic weights of the taps at -1, 0, 1, 2 for a fraction ``t`` in [0, 1)."""
    near = [a + 2, -(a + 3), 0.0, 1.0]  # |d| <= 1
    far = [a, -5 * a, 8 * a, -4 * a]  # 1 < |d| < 2
    one, two = const_like(1, t), const_like(2, t)
    return [
        _polynomial(out(ops.add(t, one)), far),
        _polynomial(t, near),
        _polynomial(out(ops.subtract(one, t)), near),
        _polynomial(out(ops.subtract(two, t)), far),
    ]


def _axis_taps(axis: _Axis, x: Value, mode: str) -> list[tuple[Value, Value, Value]]:
    """(index, validity or None, weight or None) of every tap of one axis at pixel coordinate ``x``."""
    if mode == "nearest":
        return [(*axis.tap(_trunc(x)), None)]
    base = out(ops.floor(x))
    t = out(ops.subtract(x, base))
    if mode == "linear":
        offsets, weights = [0, 1], [out(ops.subtract(const_like(1, t), t)), t]
    else:
        offsets, weights = [-1, 0, 1, 2], _cubic_coefficients(t)
    return [(*axis.tap(out(ops.add(base, const_like(o, base)))), w) for o, w in zip(offsets, weights)]


def _combine(parts: list, build: Callable) -> Value:
    """Folds the non-None values of ``parts`` with ``build``; None when all are None."""
    present = [p for p in parts if p is not None]
    if not present:
        return None
    result = present[0]
    for p in present[1:]:
        result = out(build(result, p))
    return result


_GRID_MODES = {"bilinear": "linear", "bicubic": "cubic", "linear": "linear", "cubic": "cubic", "nearest": "nearest"}


@op("GridSample", since=16)
def _grid_sample(ctx):
    x, grid = ctx.input(0), ctx.input(1)
    k = rank_of(x) - 2
    mode = _GRID_MODES.get(ctx.attr("mode", "linear" if ctx.opset >= 20 else "bilinear"))
    padding = ctx.attr("padding_mode", "zeros")
    if mode is None or padding not in ("zeros", "border", "reflection"):
        raise _native.ParseError(
            f"mode '{ctx.attr('mode')}' / padding_mode '{padding}' unknown: expected (bi)linear, (bi)cubic or "
            "nearest and zeros, border or reflection"
        )
    align = bool(ctx.attr("align_corners", 0))
    lengths = [out(ops.gather(shape_of(x), i64(2 + a), i64(0))) for a in range(k)]
    axes = [_Axis(n, grid, align, padding) for n in lengths]
    points = out(ops.reshape(grid, concat_ints([dims(grid, 0, 1), [-1, k]]), False))
    per_axis = []
    for a, axis in enumerate(axes):
        g = out(ops.gather(points, i64(k - 1 - a), i64(2)))
        coord = axis.denormalize(g)
        if mode == "nearest":
            coord = _round_half_even(coord)
        per_axis.append(_axis_taps(axis, axis.bring_inside(coord), mode))
    flat = out(ops.reshape(x, concat_ints([dims(x, 0, 2), [-1]]), False))
    strides = [_combine(lengths[a + 1 :], ops.multiply) for a in range(k)]
    total = None
    for taps in itertools.product(*per_axis):
        index = _combine([i if s is None else out(ops.multiply(i, s)) for (i, _, _), s in zip(taps, strides)], ops.add)
        valid = _combine([v for _, v, _ in taps], ops.logical_and)
        weight = _combine([w for _, _, w in taps], ops.multiply)
        value = out(ops.gather(flat, index, i64(2), 1))
        if valid is not None:
            value = out(ops.select(ops.unsqueeze(valid, i64([1])), value, const_like(0, value)))
        if weight is not None:
            value = out(ops.multiply(value, ops.unsqueeze(ops.convert_like(weight, value), i64([1]))))
        total = value if total is None else out(ops.add(total, value))
    return [out(ops.reshape(total, concat_ints([dims(x, 0, 2), dims(grid, 1, 1 + k)]), False))]
