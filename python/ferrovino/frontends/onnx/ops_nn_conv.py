"""Translators of ONNX convolutions: Conv and ConvTranspose (grouped or not, with bias)."""

from __future__ import annotations

from dataclasses import dataclass

from ... import _native
from ... import opset16 as ops
from .ops_nn_common import concat_ints, dims, i64, out, per_axis, rank_of, static_dims
from .registry import op

# ONNX auto_pad → the ferrovino attribute value.
AUTO_PAD = {"NOTSET": "explicit", "VALID": "valid", "SAME_UPPER": "same_upper", "SAME_LOWER": "same_lower"}


def auto_pad(ctx) -> str:
    """The node's ``auto_pad`` as ferrovino spells it; an unknown value is an error naming the node."""
    value = ctx.attr("auto_pad", "NOTSET")
    if value not in AUTO_PAD:
        raise _native.ParseError(f"auto_pad must be one of {sorted(AUTO_PAD)}, got '{value}'")
    return AUTO_PAD[value]


@dataclass
class Window:
    """The sliding-window attributes of a convolution or pooling node, one value per spatial axis."""

    strides: list[int]
    dilations: list[int]
    pads_begin: list[int]
    pads_end: list[int]
    auto_pad: str

    @classmethod
    def of(cls, ctx, spatial: int) -> Window:
        """Reads strides, dilations, pads and auto_pad for ``spatial`` spatial axes."""
        pads = per_axis(ctx, "pads", 2 * spatial, 0)
        return cls(
            strides=per_axis(ctx, "strides", spatial, 1),
            dilations=per_axis(ctx, "dilations", spatial, 1),
            pads_begin=pads[:spatial],
            pads_end=pads[spatial:],
            auto_pad=auto_pad(ctx),
        )


def grouped_filters(w: _native.Output, group: int) -> _native.Output:
    """ONNX weights ``[A, B, k...]`` as ferrovino's grouped ``[group, A/group, B, k...]``."""
    return out(ops.reshape(w, concat_ints([[group, -1], dims(w, 1)]), False))


def add_channel_bias(y: _native.Output, bias: _native.Output, rank: int) -> _native.Output:
    """``y + bias`` with the 1-D ``bias`` laid along axis 1 of a rank-``rank`` ``y``."""
    b = out(ops.unsqueeze(bias, i64([0, *range(2, rank)])))
    return out(ops.add(y, b))


def _group(ctx) -> int:
    group = int(ctx.attr("group", 1))
    if group < 1:
        raise _native.ParseError(f"group must be >= 1, got {group}")
    return group


@op("Conv")
def _conv(ctx):
    x, w = ctx.input(0), ctx.input(1)
    rank = rank_of(x)
    win = Window.of(ctx, rank - 2)
    group = _group(ctx)
    geometry = (win.strides, win.pads_begin, win.pads_end, win.dilations, win.auto_pad)
    if group == 1:
        y = out(ops.convolution(x, w, *geometry))
    else:
        y = out(ops.group_convolution(x, grouped_filters(w, group), *geometry))
    if ctx.has_input(2):
        y = add_channel_bias(y, ctx.input(2), rank)
    return [y]


def _transpose_pads(ctx, x: _native.Output, w: _native.Output, win: Window, output_padding: list[int]):
    """Explicit (pads_begin, pads_end) of a ConvTranspose whose output_shape or SAME auto_pad fixes the size (a
    negative end padding becomes more ``output_padding``, updated in place)."""
    spatial = len(win.strides)
    in_dims, w_dims = static_dims(x), static_dims(w)
    if in_dims is None or w_dims is None:
        raise _native.UnsupportedError(
            f"output_shape or SAME auto_pad needs static input and weight "
            f"shapes, got {x.get_partial_shape()} and {w.get_partial_shape()}"
        )
    wanted = ctx.attr("output_shape")
    if wanted is None:
        wanted = [n * s for n, s in zip(in_dims[2:], win.strides)]
    wanted = list(wanted)[-spatial:]
    begin, end = [], []
    for i in range(spatial):
        extent = (w_dims[2 + i] - 1) * win.dilations[i] + 1
        total = win.strides[i] * (in_dims[2 + i] - 1) + output_padding[i] + extent - wanted[i]
        small, big = total // 2, total - total // 2
        first, last = (small, big) if win.auto_pad == "same_upper" else (big, small)
        if first < 0:
            raise _native.UnsupportedError(
                f"output_shape {wanted} needs a negative begin padding ({first}) on spatial axis {i}"
            )
        if last < 0:
            # A negative end padding grows the output: the same as that much more output_padding.
            output_padding[i] -= last
            last = 0
        begin.append(first)
        end.append(last)
    return begin, end


@op("ConvTranspose")
def _conv_transpose(ctx):
    x, w = ctx.input(0), ctx.input(1)
    rank = rank_of(x)
    spatial = rank - 2
    win = Window.of(ctx, spatial)
    output_padding = per_axis(ctx, "output_padding", spatial, 0)
    if ctx.attr("output_shape") is not None or win.auto_pad in ("same_upper", "same_lower"):
        win.pads_begin, win.pads_end = _transpose_pads(ctx, x, w, win, output_padding)
    elif win.auto_pad == "valid":
        win.pads_begin, win.pads_end = [0] * spatial, [0] * spatial
    group = _group(ctx)
    args = dict(
        strides=win.strides,
        pads_begin=win.pads_begin,
        pads_end=win.pads_end,
        dilations=win.dilations,
        auto_pad="explicit",
        output_padding=output_padding,
    )
    if group == 1:
        y = out(ops.convolution_backprop_data(x, w, **args))
    else:
        y = out(ops.group_convolution_backprop_data(x, grouped_filters(w, group), **args))
    if ctx.has_input(2):
        y = add_channel_bias(y, ctx.input(2), rank)
    return [y]
