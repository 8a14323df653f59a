"""The ONNX node conformance cases of the installed onnx package, and running one through ferrovino."""

from __future__ import annotations

import warnings
from typing import Optional

import numpy as np

EXCLUDED_DOMAINS = {"ai.onnx.ml", "ai.onnx.preview.training"}


def _is_tensor(vi) -> bool:
    t = vi.type
    return t.HasField("tensor_type") and t.tensor_type.elem_type != 8  # 8 = STRING


def tensor_only_cases() -> list:
    """Every node case whose inputs and outputs are all non-string tensors, outside the ML and training domains."""
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases(None)
    keep = []
    for c in cases:
        g = c.model.graph
        if any(o.domain in EXCLUDED_DOMAINS for o in c.model.opset_import):
            continue
        if any(n.domain in EXCLUDED_DOMAINS for n in g.node):
            continue
        if all(_is_tensor(v) for v in list(g.input) + list(g.output)):
            keep.append(c)
    return keep


def _array(value) -> np.ndarray:
    """A data-set value as numpy (some cases store TensorProtos for types numpy lacks)."""
    from onnx import TensorProto, numpy_helper

    return numpy_helper.to_array(value) if isinstance(value, TensorProto) else np.asarray(value)


# Bits per value of the ml_dtypes types ferrovino returns as codes (one per byte) or packed bytes (2- and 4-bit).
_CODED_BITS = {
    "int4": 4, "uint4": 4, "float4_e2m1fn": 4, "int2": 2, "uint2": 2,
    "float8_e4m3fn": 8, "float8_e5m2": 8, "float8_e8m0fnu": 8, "float8_e4m3fnuz": 8, "float8_e5m2fnuz": 8,
}


def _unpack(got: np.ndarray, bits: int, count: int) -> np.ndarray:
    """The ``count`` codes of ``bits`` bits packed lowest bits first in the bytes ``got``."""
    got = got.view(np.uint8).reshape(-1)
    shifts = np.arange(0, 8, bits, dtype=np.uint8)
    return ((got[:, None] >> shifts) & ((1 << bits) - 1)).reshape(-1)[:count]


def _as_expected_dtype(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Reads a result the way the expected value is typed: bf16 results come as float16-typed bits, narrow floats
    as their uint8 codes and 2- and 4-bit types as packed bytes (as in OpenVINO's API); ml_dtypes gives the
    expected values those dtypes."""
    name = want.dtype.name
    if name == "bfloat16" and got.dtype == np.float16:
        return got.view(want.dtype)
    bits = _CODED_BITS.get(name)
    if bits and got.dtype in (np.uint8, np.int8):
        # ml_dtypes stores every one of these types as its bare code in one byte.
        return _unpack(got, bits, want.size).view(want.dtype).reshape(want.shape)
    return got


def run_case(ov, case, device: str = "CPU", rtol: float = 0.0, atol: float = 0.0) -> Optional[str]:
    """Runs one case on `device`: None when every output matches within the case's rtol/atol (or `rtol`/`atol`
    where those are looser), else why not."""
    from ferrovino.frontends.onnx import read_onnx

    rtol, atol = max(rtol, case.rtol), max(atol, case.atol)
    try:
        model = read_onnx(case.model)
        compiled = ov.compile_model(model, device)
        initializers = {t.name for t in case.model.graph.initializer}
        names = [vi.name for vi in case.model.graph.input if vi.name not in initializers]
        for inputs, expected in case.data_sets:
            feed = {n: _array(v) for n, v in zip(names, inputs)}
            result = compiled(feed)
            for i, want in enumerate(expected):
                want = _array(want)
                got = _as_expected_dtype(np.asarray(result[i]), want)
                if got.shape != want.shape:
                    return f"output {i}: shape {got.shape}, expected {want.shape}"
                if got.dtype != want.dtype:
                    return f"output {i}: dtype {got.dtype}, expected {want.dtype}"
                kind = want.dtype.name
                if kind == "bfloat16" or (kind.startswith("float") and kind in _CODED_BITS):
                    got, want = got.astype(np.float32), want.astype(np.float32)
                elif kind in _CODED_BITS:
                    got, want = got.astype(np.int8), want.astype(np.int8)
                if want.dtype.kind in "fc":
                    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
                else:
                    np.testing.assert_array_equal(got, want)
    except AssertionError as e:
        return "values differ: " + " ".join(str(e).split())[:200]
    except Exception as e:  # noqa: BLE001 - any failure of the runtime is a failed case, with its reason
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        return f"{type(e).__name__}: {first[:200]}"
    return None
