"""Translators of ONNX padding and block-rearranging ops: Pad, CenterCropPad, DepthToSpace, SpaceToDepth, Col2Im."""

from __future__ import annotations

import numpy as np

from ... import _native
from ... import opset16 as ops
from .ops_tensor_common import (
    IntsArg,
    arange,
    as_i64,
    const_like,
    dim,
    i64,
    ints_arg,
    out,
    rank_of,
    scalar,
    shape_of,
)
from .registry import op

_PAD_MODES = ("constant", "edge", "reflect", "wrap")


def _halves(pads: IntsArg, n: int) -> tuple[IntsArg, IntsArg]:
    """ONNX pads ``[b1..bn, e1..en]`` as (begins, ends)."""
    if isinstance(pads, np.ndarray):
        if pads.size != 2 * n:
            raise _native.ParseError(f"pads has {pads.size} values, expected {2 * n}")
        return pads[:n], pads[n:]
    begins = out(ops.slice(pads, i64([0]), i64([n]), i64([1])))
    ends = out(ops.slice(pads, i64([n]), i64([2 * n]), i64([1])))
    return begins, ends


def _spread(values: IntsArg, axes: IntsArg, rank: int) -> IntsArg:
    """Per-axis ``values`` for ``axes`` spread over all ``rank`` axes, zero elsewhere."""
    if isinstance(values, np.ndarray) and isinstance(axes, np.ndarray):
        full = np.zeros(rank, np.int64)
        full[axes] = values
        return full
    axes = out(ops.floor_mod(axes, i64(rank)))
    return out(ops.scatter_update(i64(np.zeros(rank)), axes, values, i64(0)))


def _wrap_pad(x: _native.Output, begins: IntsArg, ends: IntsArg, rank: int) -> _native.Output:
    """Wrap padding: along each axis, output index ``i`` reads input index ``(i - begin) mod dim``."""
    for axis in range(rank):
        if isinstance(begins, np.ndarray) and begins[axis] == 0 and ends[axis] == 0:
            continue
        begin = i64(begins[axis]) if isinstance(begins, np.ndarray) else out(ops.gather(begins, i64(axis), i64(0)))
        end = i64(ends[axis]) if isinstance(ends, np.ndarray) else out(ops.gather(ends, i64(axis), i64(0)))
        size = dim(x, axis)
        source = arange(out(ops.add(size, end)), out(ops.negative(begin)))
        x = out(ops.gather(x, out(ops.floor_mod(source, size)), i64(axis)))
    return x


def _pad(x: _native.Output, pads: IntsArg, mode: str, value, axes: IntsArg = None) -> _native.Output:
    """Pads ``x`` by ONNX ``pads`` (over ``axes`` when given, else every axis) in ``mode``, filling ``value``
    (a graph value, a number, or None for zero) in constant mode."""
    if mode not in _PAD_MODES:
        raise _native.ParseError(f"mode '{mode}' is not one of {list(_PAD_MODES)}")
    rank = rank_of(x)
    if axes is None:
        begins, ends = _halves(pads, rank)
    else:
        n = axes.size if isinstance(axes, np.ndarray) else _length(axes, "input 3 (axes)")
        begins, ends = (_spread(v, axes, rank) for v in _halves(pads, n))
    if mode == "wrap":
        return _wrap_pad(x, begins, ends, rank)
    if mode != "constant":
        return out(ops.pad(x, begins, ends, mode))
    fill = scalar(value) if isinstance(value, _native.Output) else const_like(0 if value is None else value, x)
    return out(ops.pad(x, begins, ends, "constant", fill))


def _length(v: _native.Output, what: str) -> int:
    """The static length of the 1-D ``v`` (``what`` names it in the error when it is not known)."""
    ps = v.get_partial_shape()
    if ps.rank.is_dynamic or ps.rank.get_length() != 1 or ps[0].is_dynamic:
        raise _native.UnsupportedError(f"{what} must be a 1-D tensor of static length, got shape {ps}")
    return ps[0].get_length()


@op("Pad", since=1)
def _pad_v1(ctx):
    return [_pad(ctx.input(0), i64(ctx.attr("paddings", [])), ctx.attr("mode", "constant"), ctx.attr("value", 0.0))]


@op("Pad", since=2)
def _pad_v2(ctx):
    return [_pad(ctx.input(0), i64(ctx.attr("pads", [])), ctx.attr("mode", "constant"), ctx.attr("value", 0.0))]


@op("Pad", since=11)
def _pad_inputs(ctx):
    value = ctx.input(2) if ctx.has_input(2) else None
    return [_pad(ctx.input(0), ints_arg(ctx, 1), ctx.attr("mode", "constant"), value, ints_arg(ctx, 3))]


@op("CenterCropPad", since=18)
def _center_crop_pad(ctx):
    x = ctx.input(0)
    rank = rank_of(x)
    axes = i64(ctx.attr("axes", list(range(rank))))
    target = out(ops.scatter_update(shape_of(x), i64(axes % rank if axes.size else axes), ints_arg(ctx, 1), i64(0)))
    diff = out(ops.subtract(target, shape_of(x)))
    # Odd differences put the extra element at the end: the begin share rounds toward zero (a negative pad crops).
    begins = out(_native.make_node("Divide", 1, [diff, out(ops.constant(i64(2)))], {"m_pythondiv": False}))
    ends = out(ops.subtract(diff, begins))
    return [out(ops.pad(x, begins, ends, "constant", const_like(0, x)))]


def _block_mode(ctx) -> str:
    mode = ctx.attr("mode", "DCR")
    modes = {"DCR": "blocks_first", "CRD": "depth_first"}
    if mode not in modes:
        raise _native.ParseError(f"mode '{mode}' is not 'DCR' or 'CRD'")
    return modes[mode]


@op("DepthToSpace")
def _depth_to_space(ctx):
    return [out(ops.depth_to_space(ctx.input(0), _block_mode(ctx), ctx.attr("blocksize")))]


@op("SpaceToDepth")
def _space_to_depth(ctx):
    return [out(ops.space_to_depth(ctx.input(0), _block_mode(ctx), ctx.attr("blocksize")))]


def _vector(v: _native.Output) -> _native.Output:
    """The scalar ``v`` as a 1-element vector."""
    return out(ops.reshape(v, i64([1]), False))


def _col2im_positions(img, block, grid, count_k, count_l, strides, dilations, pads_begin):
    """For every (block element k, block position l): the flat index it lands on in the image, or the image size
    (one past the end) when it falls in the padding. Dimensions are walked from the last, so every stride is the
    product of the dimensions already walked."""
    k = out(ops.unsqueeze(arange(count_k), i64(1)))  # [K, 1]
    pos = out(ops.unsqueeze(arange(count_l), i64(0)))  # [1, L]
    k_stride = l_stride = size = i64(1)
    flat, valid = i64(0), np.array(True)
    for i in reversed(range(len(strides))):
        pick = [out(ops.gather(v, i64(i), i64(0))) for v in (block, grid, img)]
        k_i = out(ops.floor_mod(out(ops.divide(k, k_stride)), pick[0]))
        l_i = out(ops.floor_mod(out(ops.divide(pos, l_stride)), pick[1]))
        p = out(ops.add(out(ops.multiply(l_i, i64(strides[i]))), out(ops.multiply(k_i, i64(dilations[i])))))
        p = out(ops.subtract(p, i64(pads_begin[i])))  # [K, L]
        inside = out(ops.logical_and(out(ops.greater_equal(p, i64(0))), out(ops.less(p, pick[2]))))
        valid = out(ops.logical_and(valid, inside))
        flat = out(ops.add(flat, out(ops.multiply(p, size))))
        k_stride, l_stride = out(ops.multiply(k_stride, pick[0])), out(ops.multiply(l_stride, pick[1]))
        size = out(ops.multiply(size, pick[2]))
    return out(ops.select(valid, flat, size)), size


@op("Col2Im", since=18)
def _col2im(ctx):
    # Each column value is added into the image position its block element covers; the sum runs as a scatter-add
    # into an image with one extra slot that collects the values falling in the padding.
    x, img, block = ctx.input(0), as_i64(ctx.input(1)), as_i64(ctx.input(2))
    rank = x.get_partial_shape().rank
    if rank.is_static and rank.get_length() != 3:
        raise _native.ParseError(f"input 0 must be [N, C*prod(block_shape), L], got rank {rank.get_length()}")
    n = _length(img, "input 1 (image_shape)")
    strides, dilations = (i64(ctx.attr(a, [1] * n)) for a in ("strides", "dilations"))
    pads = i64(ctx.attr("pads", [0] * 2 * n))
    if strides.size != n or dilations.size != n or pads.size != 2 * n:
        raise _native.ParseError(f"strides, dilations and pads must have {n}, {n} and {2 * n} values")
    span = out(ops.add(out(ops.multiply(out(ops.subtract(block, i64(1))), dilations)), i64(1)))
    room = out(ops.subtract(out(ops.add(img, pads[:n] + pads[n:])), span))
    grid = out(ops.add(out(ops.divide(room, strides)), i64(1)))
    count_k = out(ops.reduce_prod(block, i64(0), False))
    count_l = out(ops.reduce_prod(grid, i64(0), False))
    target, size = _col2im_positions(img, block, grid, count_k, count_l, strides, dilations, pads[:n])
    cols = out(ops.reshape(x, out(ops.concat([i64([0, -1]), _vector(out(ops.multiply(count_k, count_l)))], 0)), True))
    lead = out(ops.slice(shape_of(cols), i64([0]), i64([2]), i64([1])))  # [N, C]
    indices = out(ops.broadcast(out(ops.reshape(target, i64([1, 1, -1]), False)), shape_of(cols)))
    slots = out(ops.concat([lead, _vector(out(ops.add(size, i64(1))))], 0))
    image = out(ops.broadcast(const_like(0, x), slots))
    image = out(ops.scatter_elements_update(image, indices, cols, i64(2), "sum", True))
    image = out(ops.slice(image, i64([0]), _vector(size), i64([1]), i64([2])))
    return [out(ops.reshape(image, out(ops.concat([lead, img], 0)), False))]
