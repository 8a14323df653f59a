"""Translators of ONNX detection ops: NonMaxSuppression."""

from __future__ import annotations

import numpy as np

from ... import _native
from .registry import op


@op("NonMaxSuppression", since=10)
def _non_max_suppression(ctx):
    # ONNX's optional inputs default to: no boxes kept (0), IoU threshold 0, no score threshold (input left out).
    inputs = [ctx.input(0), ctx.input(1)]
    defaults = [np.array(0, np.int64), np.array(0, np.float32)]
    for i, default in enumerate(defaults, start=2):
        inputs.append(ctx.input(i) if ctx.has_input(i) else default)
    if ctx.has_input(4):
        inputs.append(ctx.input(4))
    inputs = [x if isinstance(x, _native.Output) else _native.make_constant(x).output(0) for x in inputs]
    attrs = {
        "box_encoding": "center" if ctx.attr("center_point_box", 0) else "corner",
        "sort_result_descending": False,
        "output_type": "i64",
    }
    return [_native.make_node("NonMaxSuppression", 9, inputs, attrs, ctx.name).output(0)]
