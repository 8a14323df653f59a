"""Translators of ONNX bit shifts, BitCast, IsInf, Round, Det, the signal ops (window functions, MelWeightMatrix, DFT, STFT).

The signal ops have no ferrovino counterpart; they are built from elementwise ops, Range and reductions. Their
lengths (window size, DFT length, axis) may be runtime tensors, so nothing here needs them at translation time.
"""

from __future__ import annotations

import itertools
import math
from typing import Optional

import numpy as np

from ... import _native
from ... import opset16 as ops
from .ops_reduce import as_scalar, i64, inner_axis, normalized_axis, scalar_like, spread_matrix, static_rank
from .registry import op
from .types import element_type


@op("BitShift", since=11)
def _bit_shift(ctx):
    direction = ctx.attr("direction", "")
    builds = {"LEFT": ops.bitwise_left_shift, "RIGHT": ops.bitwise_right_shift}
    if direction not in builds:
        raise _native.ParseError(f"BitShift direction must be LEFT or RIGHT, got {direction!r}")
    return [builds[direction](ctx.input(0), ctx.input(1)).output(0)]


@op("BitCast", since=26)
def _bit_cast(ctx):
    """Reinterprets the bits as another type of the same width: between integer (and boolean) types that is the
    wrapping Convert; a floating-point side would need a bitcast op the core does not have."""
    x = ctx.input(0)
    source, target = x.get_element_type(), _native.Type(element_type(ctx.attr("to")))
    if source.bitwidth != target.bitwidth:
        raise _native.ParseError(f"BitCast needs types of the same width, got {source.get_type_name()} and "
                                 f"{target.get_type_name()}")
    if source == target:
        return [x]
    if source.is_real() or target.is_real():
        raise _native.UnsupportedError(f"BitCast from {source.get_type_name()} to {target.get_type_name()}: "
                                       "reinterpreting floating-point bits is not supported (integer and boolean "
                                       "types only)")
    return [ops.convert(x, target.get_type_name()).output(0)]


@op("IsInf", since=10)
def _is_inf(ctx):
    attrs = {
        "detect_negative": bool(ctx.attr("detect_negative", 1)),
        "detect_positive": bool(ctx.attr("detect_positive", 1)),
    }
    return [_native.make_node("IsInf", 10, [ctx.input(0)], attrs).output(0)]


@op("Round", since=11)
def _round(ctx):
    return [ops.round(ctx.input(0), "half_to_even").output(0)]


# ---------------------------------------------------------------------------------------------------------------
# Det.

_MAX_DET_ORDER = 6


def _permutation_table(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every permutation p of 0..n-1 as the flat indices i*n + p[i] of the elements it picks, and its sign."""
    perms = list(itertools.permutations(range(n)))
    picks = np.array([[i * n + p[i] for i in range(n)] for p in perms], np.int64)
    inversions = [sum(p[i] > p[j] for i in range(n) for j in range(i + 1, n)) for p in perms]
    return picks, np.array([-1.0 if k % 2 else 1.0 for k in inversions])


@op("Det", since=11)
def _det(ctx):
    """The Leibniz formula: sum over permutations of the signed products of the picked elements (the matrices'
    order must be known and small)."""
    x = ctx.input(0)
    rank = static_rank(x)
    shape = x.get_partial_shape()
    if rank is None or rank < 2 or not shape[rank - 1].is_static or not shape[rank - 2].is_static:
        raise _native.UnsupportedError("Det needs an input of known rank >= 2 with static matrix dimensions")
    n = shape[rank - 1].get_length()
    if n != shape[rank - 2].get_length() or n > _MAX_DET_ORDER:
        raise _native.UnsupportedError(f"Det supports square matrices up to order {_MAX_DET_ORDER}, got {shape}")
    picks, signs = _permutation_table(n)
    flat = ops.reshape(x, i64([0] * (rank - 2) + [n * n]), True).output(0)
    terms = ops.reduce_prod(ops.gather(flat, picks, i64(-1)), i64([-1]), False).output(0)
    signed = ops.multiply(terms, ops.convert_like(signs, x)).output(0)
    return [ops.reduce_sum(signed, i64([-1]), False).output(0)]


# ---------------------------------------------------------------------------------------------------------------
# Window functions and MelWeightMatrix.


def _output_type(ctx) -> str:
    return element_type(ctx.attr("output_datatype", 1))


def _arange_f64(stop: _native.Output) -> _native.Output:
    """0, 1, …, stop-1 as f64 (``stop`` a 0-D integer tensor)."""
    return ops.convert(ops.range(i64(0), ops.convert(stop, "i64"), i64(1), "i64"), "f64").output(0)


def _cosine_sum_window(ctx, coefficients: tuple[float, ...]) -> list:
    """w[n] = sum_k (-1)^k a_k cos(2πkn/N), N the size (periodic) or the size - 1 (symmetric)."""
    size = ops.convert(as_scalar(ctx.input(0)), "i64").output(0)
    period = ops.convert(size, "f64").output(0)
    if not ctx.attr("periodic", 1):
        period = ops.subtract(period, np.float64(1)).output(0)
    phase = ops.divide(ops.multiply(_arange_f64(size), np.float64(2 * math.pi)), period).output(0)
    window = ops.constant(np.float64(coefficients[0])).output(0)
    for k, a in enumerate(coefficients[1:], start=1):
        term = ops.multiply(ops.cos(ops.multiply(phase, np.float64(k))), np.float64(a * (-1) ** k))
        window = ops.add(window, term).output(0)
    return [ops.convert(window, _output_type(ctx)).output(0)]


_WINDOWS = {
    "HannWindow": (0.5, 0.5),
    "HammingWindow": (25 / 46, 21 / 46),
    "BlackmanWindow": (0.42, 0.5, 0.08),
}


def _register_window(onnx_name: str, coefficients: tuple[float, ...]) -> None:
    @op(onnx_name, since=17)
    def translate(ctx):
        return _cosine_sum_window(ctx, coefficients)


for _name, _coefficients in _WINDOWS.items():
    _register_window(_name, _coefficients)


def _f64_input(ctx, i: int) -> _native.Output:
    return ops.convert(as_scalar(ctx.input(i)), "f64").output(0)


def _mel_band_edges(ctx, num_mel_bins: _native.Output) -> _native.Output:
    """The num_mel_bins + 2 band edges as spectrogram bin indices (f64 holding integers), spaced evenly on the mel
    scale from lower_edge_hertz with ONNX's step (mel range / (num_mel_bins + 2))."""

    def to_mel(hertz):
        return ops.multiply(ops.log(ops.add(ops.divide(hertz, np.float64(700)), np.float64(1))),
                            np.float64(2595 / math.log(10)))

    low, high = to_mel(_f64_input(ctx, 3)).output(0), to_mel(_f64_input(ctx, 4)).output(0)
    count = ops.add(num_mel_bins, i64(2)).output(0)
    step = ops.divide(ops.subtract(high, low), ops.convert(count, "f64")).output(0)
    mels = ops.add(ops.multiply(_arange_f64(count), step), low).output(0)
    hertz = ops.multiply(ops.subtract(ops.exp(ops.multiply(mels, np.float64(math.log(10) / 2595))), np.float64(1)),
                         np.float64(700)).output(0)
    scaled = ops.multiply(ops.add(_f64_input(ctx, 1), np.float64(1)), hertz).output(0)
    return ops.floor(ops.divide(scaled, _f64_input(ctx, 2))).output(0)


def _edge(edges: _native.Output, start: int, count: _native.Output) -> _native.Output:
    """edges[start : start + count] as a [1, count] row."""
    stop = ops.add(ops.reshape(count, i64([1]), False), i64(start)).output(0)
    return ops.unsqueeze(ops.slice(edges, i64([start]), stop, i64([1]), i64([0])), i64([0])).output(0)


@op("MelWeightMatrix", since=17)
def _mel_weight_matrix(ctx):
    """Triangular filters: column i rises from edge i to edge i+1 and falls to edge i+2 (a zero-width rise is a
    single 1 at its centre)."""
    num_mel_bins = ops.convert(as_scalar(ctx.input(0)), "i64").output(0)
    edges = _mel_band_edges(ctx, num_mel_bins)
    low, centre, high = (_edge(edges, k, num_mel_bins) for k in range(3))
    bins = ops.add(ops.divide(ops.convert(as_scalar(ctx.input(1)), "i64"), i64(2)), i64(1)).output(0)
    j = ops.unsqueeze(_arange_f64(bins), i64([1])).output(0)
    one = np.float64(1)
    rise_width = ops.subtract(centre, low).output(0)
    rise = ops.divide(ops.subtract(j, low), ops.maximum(rise_width, one)).output(0)
    rise = ops.select(ops.equal(rise_width, np.float64(0)), one, rise).output(0)
    fall = ops.divide(ops.subtract(high, j), ops.maximum(ops.subtract(high, centre), one)).output(0)
    in_rise = ops.logical_and(ops.greater_equal(j, low), ops.less_equal(j, centre)).output(0)
    in_fall = ops.logical_and(ops.greater_equal(j, centre), ops.less(j, high)).output(0)
    weights = ops.select(in_fall, fall, ops.select(in_rise, rise, np.float64(0))).output(0)
    return [ops.convert(weights, _output_type(ctx)).output(0)]


# ---------------------------------------------------------------------------------------------------------------
# DFT and STFT.


def _complex_parts(x: _native.Output) -> tuple[_native.Output, Optional[_native.Output]]:
    """The real and imaginary parts of a [..., 1] (real) or [..., 2] (complex) signal, each [..., 1]."""
    rank = static_rank(x)
    last = x.get_partial_shape()[rank - 1] if rank else None
    if last is None or not last.is_static or last.get_length() not in (1, 2):
        raise _native.UnsupportedError(f"DFT needs a last dimension of static length 1 or 2, got shape "
                                       f"{x.get_partial_shape()}")

    def part(k):
        return ops.slice(x, i64([k]), i64([k + 1]), i64([1]), i64([-1])).output(0)

    return part(0), (part(1) if last.get_length() == 2 else None)


def _contract(matrix: _native.Output, signal: _native.Output, axis: _native.Output) -> _native.Output:
    """out[..., o, ...] = sum_i matrix[o, i] * signal[..., i, ...] along ``axis``."""
    spread = spread_matrix(matrix, axis, signal)
    return ops.reduce_sum(ops.multiply(spread, ops.unsqueeze(signal, axis)), inner_axis(axis), False).output(0)


def _dft_matrices(x, size, length, out_length, inverse, onesided):
    """cos and sin of 2π·o·i/N for output o and input i, each row scaled by the weight input i gets: zero past the
    transform length, 1/N for an inverse, and the Hermitian doubling of an inverse of a one-sided spectrum."""
    o = ops.unsqueeze(ops.range(i64(0), out_length, i64(1), "i64"), i64([1])).output(0)
    i = ops.range(i64(0), size, i64(1), "i64").output(0)
    turns = ops.floor_mod(ops.multiply(o, ops.unsqueeze(i, i64([0]))), length).output(0)
    angle = ops.multiply(ops.convert_like(turns, x), ops.divide(scalar_like(2 * math.pi, x),
                                                                  ops.convert_like(length, x))).output(0)
    if inverse and onesided:
        half = ops.divide(length, i64(2)).output(0)
        edge = ops.logical_or(ops.equal(i, i64(0)), ops.equal(ops.multiply(i, i64(2)), length)).output(0)
        weight = ops.select(edge, scalar_like(1, x), scalar_like(2, x)).output(0)
        weight = ops.select(ops.less_equal(i, half), weight, scalar_like(0, x)).output(0)
    else:
        weight = ops.select(ops.less(i, length), scalar_like(1, x), scalar_like(0, x)).output(0)
    if inverse:
        weight = ops.divide(weight, ops.convert_like(length, x)).output(0)
    return ops.multiply(ops.cos(angle), weight).output(0), ops.multiply(ops.sin(angle), weight).output(0)


def dft(x: _native.Output, axis: _native.Output, length: Optional[_native.Output], inverse: bool,
        onesided: bool) -> _native.Output:
    """ONNX DFT of the signal ``x`` ([..., 1] real or [..., 2] complex) along ``axis`` (0-D, non-negative):
    a complex [..., 2] result, or a real [..., 1] one for the inverse of a one-sided spectrum. It is computed in
    f64, so that the terms which cancel exactly (sin π) leave no float32 residue."""
    signal = ops.convert(x, "f64").output(0)
    real, imag = _complex_parts(signal)
    size = ops.gather(ops.shape_of(x, "i64"), axis, i64(0)).output(0)
    if length is None:
        length = ops.multiply(ops.subtract(size, i64(1)), i64(2)).output(0) if inverse and onesided else size
    out_length = ops.add(ops.divide(length, i64(2)), i64(1)).output(0) if onesided and not inverse else length
    cos, sin = _dft_matrices(signal, size, length, out_length, inverse, onesided)
    out_real = _contract(cos, real, axis)
    sin_real = _contract(sin, real, axis)
    out_imag = sin_real if inverse else ops.negative(sin_real).output(0)  # e^{+iθ} inverse, e^{-iθ} forward
    if imag is not None:
        sin_imag = _contract(sin, imag, axis)
        out_real = (ops.subtract if inverse else ops.add)(out_real, sin_imag).output(0)
        out_imag = ops.add(out_imag, _contract(cos, imag, axis)).output(0)
    result = out_real if inverse and onesided else ops.concat([out_real, out_imag], -1).output(0)
    return ops.convert_like(result, x).output(0)


def _dft_length(ctx) -> Optional[_native.Output]:
    return ops.convert(as_scalar(ctx.input(1)), "i64").output(0) if ctx.has_input(1) else None


def _dft_node(ctx, axis: _native.Output) -> list:
    x = ctx.input(0)
    inverse, onesided = bool(ctx.attr("inverse", 0)), bool(ctx.attr("onesided", 0))
    return [dft(x, normalized_axis(axis, x), _dft_length(ctx), inverse, onesided)]


@op("DFT", since=17)
def _dft_axis_attr(ctx):
    return _dft_node(ctx, ops.constant(i64(ctx.attr("axis", 1))).output(0))


@op("DFT", since=20)
def _dft_axis_input(ctx):
    axis = ctx.input(2) if ctx.has_input(2) else ops.constant(i64(-2)).output(0)
    return _dft_node(ctx, axis)


@op("STFT", since=17)
def _stft(ctx):
    """Frames of frame_length samples every frame_step, weighted by the window, each transformed by a DFT."""
    signal = ctx.input(0)
    step = ops.convert(as_scalar(ctx.input(1)), "i64").output(0)
    window = ctx.input(2) if ctx.has_input(2) else None
    if ctx.has_input(3):
        frame_length = ops.convert(as_scalar(ctx.input(3)), "i64").output(0)
    elif window is not None:
        frame_length = as_scalar(ops.shape_of(window, "i64").output(0))
    else:
        raise _native.ParseError("STFT needs a window or a frame_length")
    samples = ops.gather(ops.shape_of(signal, "i64"), i64(1), i64(0)).output(0)
    frames = ops.add(ops.divide(ops.subtract(samples, frame_length), step), i64(1)).output(0)
    starts = ops.multiply(ops.range(i64(0), frames, i64(1), "i64"), step).output(0)
    offsets = ops.range(i64(0), frame_length, i64(1), "i64").output(0)
    picks = ops.add(ops.unsqueeze(starts, i64([1])), ops.unsqueeze(offsets, i64([0]))).output(0)
    framed = ops.gather(signal, picks, i64(1)).output(0)  # [batch, frames, frame_length, 1 or 2]
    if window is not None:
        framed = ops.multiply(framed, ops.unsqueeze(window, i64([1]))).output(0)
    onesided = bool(ctx.attr("onesided", 1))
    return [dft(framed, ops.constant(i64(2)).output(0), frame_length, False, onesided)]


# ---------------------------------------------------------------------------------------------------------------
# Unique.


def _unique_rows(ctx) -> tuple[_native.Output, Optional[int]]:
    """The items Unique compares, as the rows of an [n, m] matrix (the elements without ``axis``, else the slices
    along it), and the normalised axis or None."""
    x = ctx.input(0)
    axis = ctx.attr("axis")
    if axis is None:
        return ops.reshape(x, i64([-1, 1]), False).output(0), None
    rank = static_rank(x)
    if rank is None:
        raise _native.UnsupportedError("Unique with an axis needs an input of known rank")
    axis %= rank
    order = [axis] + [d for d in range(rank) if d != axis]
    front = ops.transpose(x, i64(order)).output(0)
    return ops.reshape(front, i64([0, -1]), True).output(0), axis


def _row_less(a: _native.Output, b: _native.Output) -> _native.Output:
    """[n, n] lexicographic order of rows: less[p, q] is row p < row q (``a``/``b`` are the rows unsqueezed at 1/0):
    the first element where they differ decides."""
    differ = ops.convert(ops.not_equal(a, b), "i64").output(0)
    before = ops.cumsum(differ, i64(2), True, False).output(0)
    decisive = ops.logical_and(ops.less(a, b), ops.equal(before, i64(0))).output(0)
    return ops.reduce_logical_or(decisive, i64([2]), False).output(0)


def _count_true(mask: _native.Output, axis: int) -> _native.Output:
    """How many elements of a boolean ``mask`` are true along ``axis`` (i64)."""
    return ops.reduce_sum(ops.convert(mask, "i64"), i64([axis]), False).output(0)


@op("Unique", since=11)
def _unique(ctx):
    """Unique by pairwise comparison of the n items (O(n²) memory: there is no sorting-based Unique op in the core).

    The position of an item's value among the outputs (its inverse index) is the number of distinct values before
    it: smaller ones when sorted, else ones whose first occurrence comes earlier."""
    rows, axis = _unique_rows(ctx)
    a, b = ops.unsqueeze(rows, i64([1])).output(0), ops.unsqueeze(rows, i64([0])).output(0)
    same = ops.reduce_logical_and(ops.equal(a, b), i64([2]), False).output(0)  # [n, n]
    n = ops.gather(ops.shape_of(rows, "i64"), i64(0), i64(0)).output(0)
    index = ops.range(i64(0), n, i64(1), "i64").output(0)
    col = ops.unsqueeze(index, i64([0])).output(0)
    first_seen = ops.reduce_min(ops.select(same, col, n), i64([1]), False).output(0)
    first = ops.equal(first_seen, index).output(0)
    if ctx.attr("sorted", 1):
        smaller = ops.logical_and(_row_less(a, b), ops.unsqueeze(first, i64([1]))).output(0)
        position = _count_true(smaller, 0)
    else:
        earlier = ops.less(col, ops.unsqueeze(first_seen, i64([1]))).output(0)
        position = _count_true(ops.logical_and(earlier, ops.unsqueeze(first, i64([0]))), 1)
    slots = ops.range(i64(0), ops.reduce_sum(ops.convert(first, "i64"), i64([0]), False), i64(1), "i64")
    holds = ops.equal(ops.unsqueeze(position, i64([0])), ops.unsqueeze(slots, i64([1]))).output(0)  # [u, n]
    owner = ops.logical_and(holds, ops.unsqueeze(first, i64([0]))).output(0)
    indices = ops.reduce_min(ops.select(owner, col, n), i64([1]), False).output(0)
    x = ctx.input(0)
    values = ops.gather(ops.reshape(x, i64([-1]), False) if axis is None else x, indices, i64(axis or 0))
    return [values.output(0), indices, position, _count_true(holds, 1)]
