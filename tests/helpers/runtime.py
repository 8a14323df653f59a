"""Choosing the runtime under test, compiling, inferring and comparing outputs.

The runtime under test is `ferrovino` unless `--runtime=openvino` or `FERROVINO_TEST_RUNTIME=openvino` swaps in
OpenVINO itself: that checks the tests (models, tolerances, expected errors) against the real thing.
OpenVINO is also the oracle; it always runs with f32 inference precision so that no bf16 path blurs results.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import numpy as np

RUNTIMES = ("ferrovino", "openvino")
ENV_VAR = "FERROVINO_TEST_RUNTIME"

# The tolerance for f32 outputs.
RTOL, ATOL = 1e-4, 1e-5

F32_CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}


def runtime_name(option: str | None) -> str:
    """The runtime chosen by the command-line option, then the environment, defaulting to ferrovino."""
    name = option or os.environ.get(ENV_VAR) or "ferrovino"
    if name not in RUNTIMES:
        raise ValueError(
            f"unknown runtime {name!r} (from --runtime or {ENV_VAR}); expected one of {RUNTIMES}"
        )
    return name


def compile_f32(rt: ModuleType, model) -> object:
    """Compiles a model (or a path) on CPU with f32 inference precision."""
    return rt.Core().compile_model(model, "CPU", F32_CONFIG)


def infer(compiled, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Runs one inference and returns copies of the outputs in model order."""
    results = compiled.create_infer_request().infer(list(inputs))
    return [np.array(results[port]) for port in compiled.outputs]


def run_xml(
    rt: ModuleType, xml: Path, inputs: Sequence[np.ndarray]
) -> list[np.ndarray]:
    """Reads an IR with `rt.Core().read_model`, compiles it and infers."""
    model = rt.Core().read_model(str(xml))
    return infer(compile_f32(rt, model), inputs)


def random_inputs(model, seed: int = 0) -> list[np.ndarray]:
    """Standard-normal f32 inputs shaped like the model's (static) inputs, from a fixed seed."""
    rng = np.random.default_rng(seed)
    arrays = []
    for port in model.inputs:
        dtype = np.dtype(port.get_element_type().to_dtype())
        if dtype != np.float32:
            raise AssertionError(
                f"random_inputs only makes f32 data; input {port.get_any_name()} is {dtype}"
            )
        shape = [int(d) for d in port.get_shape()]
        arrays.append(rng.standard_normal(shape).astype(np.float32))
    return arrays


def assert_outputs_close(
    actual: Sequence[np.ndarray],
    expected: Sequence[np.ndarray],
    rtol: float = RTOL,
    atol: float = ATOL,
) -> None:
    """Same number of outputs, same shapes and dtypes, values within tolerance."""
    assert len(actual) == len(expected), (
        f"{len(actual)} outputs, expected {len(expected)}"
    )
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert a.shape == e.shape, f"output {i}: shape {a.shape}, expected {e.shape}"
        assert a.dtype == e.dtype, f"output {i}: dtype {a.dtype}, expected {e.dtype}"
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=f"output {i}")


def interface(model) -> list[tuple[str, tuple[str, ...], str, str]]:
    """(kind, sorted tensor names, element type, partial shape) for each input and output of a model."""
    return [
        (
            kind,
            tuple(sorted(port.get_names())),
            port.get_element_type().get_type_name(),
            str(port.get_partial_shape()),
        )
        for kind, ports in (("input", model.inputs), ("output", model.outputs))
        for port in ports
    ]


def _dim_range(dim: str) -> tuple[int, float]:
    """The [min, max] a printed dimension allows: `5`, `?`, `2..5`, `..5`, `2..`."""
    if dim == "?":
        return 0, float("inf")
    if ".." in dim:
        lo, hi = dim.split("..")
        return int(lo or 0), float(hi) if hi else float("inf")
    return int(dim), int(dim)


def shape_refines(actual: str, expected: str) -> bool:
    """True when every shape `actual` allows is allowed by `expected` (both printed as `[1,?,2..5]`)."""
    if expected == "[...]":
        return True
    a_dims, e_dims = actual.strip("[]").split(","), expected.strip("[]").split(",")
    if actual == "[...]" or len(a_dims) != len(e_dims):
        return False
    for a, e in zip(a_dims, e_dims):
        (alo, ahi), (elo, ehi) = _dim_range(a), _dim_range(e)
        if alo < elo or ahi > ehi:
            return False
    return True


def assert_same_interface(actual_model, expected_model) -> None:
    """Same tensor names and element types; each shape at least as precise as OpenVINO's.

    ferrovino may know a shape statically where OpenVINO leaves it dynamic (it propagates values through
    fp16 decompression Converts), which is a refinement, not a difference.
    """
    actual, expected = interface(actual_model), interface(expected_model)
    assert [x[:3] for x in actual] == [x[:3] for x in expected]
    for a, e in zip(actual, expected):
        assert shape_refines(a[3], e[3]), f"{a[0]} {a[1]}: shape {a[3]} does not refine {e[3]}"
