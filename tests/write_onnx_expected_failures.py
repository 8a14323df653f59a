"""Regenerates tests/data/onnx_expected_failures.txt from a run of the conformance cases.

Run: `python tests/write_onnx_expected_failures.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import ferrovino as ov  # noqa: E402
from helpers.onnx_cases import run_case, tensor_only_cases  # noqa: E402

OUT = Path(__file__).parent / "data" / "onnx_expected_failures.txt"


def main() -> None:
    cases = tensor_only_cases()
    failed = {c.name: run_case(ov, c) for c in cases}
    failed = {n: r for n, r in failed.items() if r is not None}
    lines = ["# ONNX conformance cases that fail today, with the reason (regenerate with write_onnx_expected_failures.py)"]
    lines += [f"{n}: {r}" for n, r in sorted(failed.items())]
    OUT.write_text("\n".join(lines) + "\n")
    print(f"{len(cases) - len(failed)} of {len(cases)} pass; {len(failed)} listed in {OUT}")


if __name__ == "__main__":
    main()
