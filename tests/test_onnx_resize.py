"""ONNX Resize with constant parameters: the conformance cases of Resize with roi, scales and sizes frozen into
initializers, so the translator can pick Interpolate-11 or the per-axis interpolation matrices."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

import ferrovino as ov  # noqa: E402
from helpers.onnx_cases import tensor_only_cases  # noqa: E402
from onnx import numpy_helper  # noqa: E402


def _frozen(case):
    """The case's model with every input but the first turned into an initializer holding the case's data."""
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    inputs, expected = case.data_sets[0]
    graph = model.graph
    for vi, value in list(zip(graph.input, inputs))[1:]:
        graph.initializer.append(numpy_helper.from_array(np.asarray(value), vi.name))
    keep = graph.input[0]
    del graph.input[:]
    graph.input.append(keep)
    return model, inputs[0], expected


CASES = [c for c in tensor_only_cases() if c.name.startswith("test_resize_") and len(c.model.graph.node) == 1]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_resize_with_constant_parameters(case):
    model, x, expected = _frozen(case)
    got = ov.compile_model(model, "CPU")(np.asarray(x))[0]
    np.testing.assert_allclose(got, expected[0], rtol=1e-3, atol=1e-5)
