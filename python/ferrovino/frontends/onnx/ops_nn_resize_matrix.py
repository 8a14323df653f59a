"""Resize as one small interpolation matrix per resized axis, for what Interpolate-11 cannot express
(tf_crop_and_resize, half_pixel_symmetric, cubic exclude_outside, ONNX's antialias filter, scales whose product
with the input length is not whole).

Every ONNX Resize mode is separable, so resizing one axis of length n to m is ``y = x · W`` along that axis with
``W`` of shape ``[n, m]``. Column j of ``W`` is the resize of the j-th unit vector: the weights are computed once at
translation time by running the onnx package's reference Resize on an identity matrix, which pins every
coordinate-transform and filter detail to the ONNX definition. This needs a static input shape and constant
scales or sizes (and roi).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from onnx import TensorProto, helper

from ... import _native
from ... import opset16 as ops
from .ops_nn_common import i64, out, static_dims

# Attributes that shape the interpolation; the rest (axes, keep_aspect_ratio_policy) are handled here.
_FILTER_ATTRS = ("mode", "coordinate_transformation_mode", "cubic_coeff_a", "exclude_outside", "antialias",
                 "nearest_mode")


def _reference_resize(attrs: dict, data: np.ndarray, scale: Optional[float], size: Optional[int],
                      roi: Optional[tuple[float, float]], extrapolation: float) -> np.ndarray:
    """The onnx reference Resize of the 2-D ``data`` along axis 1 only."""
    from onnx.reference import ReferenceEvaluator

    n = data.shape[0]
    inputs = ["X", "roi" if roi is not None else "", "scales" if size is None else ""]
    if size is not None:
        inputs.append("sizes")
    node = helper.make_node("Resize", inputs, ["Y"], extrapolation_value=extrapolation, **attrs)
    inits = []
    if roi is not None:
        inits.append(helper.make_tensor("roi", TensorProto.FLOAT, [4], [0.0, roi[0], 1.0, roi[1]]))
    if size is None:
        inits.append(helper.make_tensor("scales", TensorProto.FLOAT, [2], [1.0, float(scale)]))
    else:
        inits.append(helper.make_tensor("sizes", TensorProto.INT64, [2], [n, int(size)]))
    graph = helper.make_graph([node], "axis", [helper.make_tensor_value_info("X", TensorProto.FLOAT, data.shape)],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    return np.asarray(ReferenceEvaluator(model).run(None, {"X": data.astype(np.float32)})[0])


def axis_matrix(attrs: dict, n: int, scale: Optional[float], size: Optional[int],
                roi: Optional[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """``(W [n, m], extrapolated [m] bool)`` for resizing one axis of length ``n``."""
    weights = _reference_resize(attrs, np.eye(n, dtype=np.float32), scale, size, roi, 0.0)
    outside = _reference_resize(attrs, np.zeros((1, n), np.float32), scale, size, roi, 1.0)[0] == 1.0
    return weights, outside


def _along(x: _native.Output, w: np.ndarray, axis: int, rank: int) -> _native.Output:
    """``x`` with axis ``axis`` multiplied by ``w`` (``[n, m]``)."""
    perm = [a for a in range(rank) if a != axis] + [axis]
    inverse = list(np.argsort(perm))
    moved = out(ops.transpose(x, i64(perm)))
    product = out(ops.matmul(moved, w.astype(np.float32), False, False))
    return out(ops.transpose(product, i64(inverse)))


def resize_by_matrices(ctx, scales: Optional[np.ndarray], sizes: Optional[np.ndarray]) -> _native.Output:
    """The Resize of node ``ctx`` as per-axis interpolation matrices."""
    x = ctx.input(0)
    dims = static_dims(x)
    if dims is None:
        raise _native.UnsupportedError("this Resize mode needs a static input shape")
    if ctx.attr("keep_aspect_ratio_policy", "stretch") != "stretch" and sizes is not None:
        raise _native.UnsupportedError("keep_aspect_ratio_policy with this Resize mode is not supported")
    rank = len(dims)
    axes = [a % rank for a in (ctx.attr("axes") or range(rank))]
    roi = ctx.const(1) if ctx.has_input(1) else None
    roi = roi if roi is not None and roi.size else None
    if ctx.has_input(1) and roi is None and ctx.const(1) is None:
        raise _native.UnsupportedError("this Resize mode needs a constant roi")
    attrs = {k: ctx.attrs[k] for k in _FILTER_ATTRS if k in ctx.attrs}
    y = x if x.get_element_type() == _native.Type("f32") else out(ops.convert(x, "f32"))
    out_dims = list(dims)
    masks = []
    for k, axis in enumerate(axes):
        region = None if roi is None else (float(roi[k]), float(roi[k + len(axes)]))
        scale = None if scales is None else float(scales[k])
        size = None if sizes is None else int(sizes[k])
        w, outside = axis_matrix(attrs, dims[axis], scale, size, region)
        y = _along(y, w, axis, rank)
        out_dims[axis] = w.shape[1]
        shape = [1] * rank
        shape[axis] = w.shape[1]
        masks.append(outside.reshape(shape))
    mask = np.zeros(out_dims, bool)
    for m in masks:
        mask = mask | m
    if mask.any():
        y = out(ops.select(mask, np.float32(ctx.attr("extrapolation_value", 0.0)), y))
    return out(ops.convert_like(y, x))


def needs_matrices(ctx, scales: Optional[np.ndarray]) -> bool:
    """True for what Interpolate-11 cannot express but per-axis matrices can."""
    transform = ctx.attr("coordinate_transformation_mode", "half_pixel")
    mode = ctx.attr("mode", "nearest")
    if transform in ("tf_crop_and_resize", "half_pixel_symmetric"):
        return True
    if mode == "cubic" and ctx.attr("exclude_outside", 0):
        return True
    if ctx.attr("antialias", 0) and mode != "nearest":
        return True
    dims = static_dims(ctx.input(0))
    if scales is not None and dims is not None and transform == "align_corners":
        rank = len(dims)
        axes = [a % rank for a in (ctx.attr("axes") or range(rank))]
        # ONNX keeps the unrounded scale for align_corners; Interpolate uses the whole output length.
        return any(float(s) * dims[a] != np.floor(float(s) * dims[a]) for s, a in zip(scales, axes))
    return False



