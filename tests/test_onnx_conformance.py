"""The ONNX node conformance cases (tensor-only, outside the ML and training domains) through the CPU plugin.

Every failing case must be listed, with its reason, in tests/data/onnx_expected_failures.txt; a case that starts
passing must leave the list. The pass rate is printed and must stay at or above 95%.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("onnx")

import ferrovino as ov  # noqa: E402
from helpers.onnx_cases import run_case, tensor_only_cases  # noqa: E402

EXPECTED = Path(__file__).parent / "data" / "onnx_expected_failures.txt"
GOAL = 0.95


def expected_failures() -> dict[str, str]:
    """Case name → reason, from the expected-failures file (`name: reason` per line, # comments)."""
    out = {}
    for line in EXPECTED.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, reason = line.partition(":")
            out[name.strip()] = reason.strip()
    return out


@pytest.fixture(scope="module")
def outcomes() -> dict[str, str | None]:
    return {c.name: run_case(ov, c) for c in tensor_only_cases()}


def test_failures_are_the_expected_ones(outcomes):
    failed = {n: r for n, r in outcomes.items() if r is not None}
    passed = len(outcomes) - len(failed)
    print(f"\nONNX conformance: {passed} of {len(outcomes)} cases pass ({passed / len(outcomes):.1%})")
    expected = expected_failures()
    new = {n: failed[n] for n in failed if n not in expected}
    fixed = sorted(n for n in expected if n in outcomes and outcomes[n] is None)
    assert not new, f"{len(new)} unexpected failures, e.g. {list(new.items())[:5]}"
    assert not fixed, f"{len(fixed)} cases now pass; remove them from {EXPECTED.name}: {fixed[:10]}"


def test_pass_rate_reaches_the_goal(outcomes):
    passed = sum(r is None for r in outcomes.values())
    assert passed / len(outcomes) >= GOAL
