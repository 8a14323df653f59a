"""LATENCY-mode sequential inference vs THROUGHPUT mode with an AsyncInferQueue, in inferences per second.

    python benches/hints_bench.py [--models resnet50 bert yolo mobilenet magika] [--rounds 5] [--count 16]
                                  [--runtime ferrovino|openvino]

For each model, two compiled models of the same file: one with ``PERFORMANCE_HINT=LATENCY`` run by one request,
one inference after another (``infer_new_request`` once, then ``infer``), and one with
``PERFORMANCE_HINT=THROUGHPUT`` run by an ``AsyncInferQueue`` of ``OPTIMAL_NUMBER_OF_INFER_REQUESTS`` jobs (the
size ``AsyncInferQueue(compiled, 0)`` picks). Each round times ``--count`` inferences of each mode, the modes
interleaved so that both see the same machine; the figures are medians over ``--rounds`` rounds (one untimed
round first). Both modes get the same inputs; the script also checks they give the same outputs.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from models import get_model  # noqa: E402


def sequential(compiled, feeds: dict, count: int) -> float:
    """Inferences per second of one request run `count` times in a row."""
    request = compiled.create_infer_request()
    started = time.perf_counter()
    for _ in range(count):
        request.infer(feeds)
    return count / (time.perf_counter() - started)


def queued(ov, compiled, feeds: dict, count: int) -> float:
    """Inferences per second of `count` inferences through an AsyncInferQueue of the optimal size."""
    queue = ov.AsyncInferQueue(compiled, 0)
    started = time.perf_counter()
    for i in range(count):
        queue.start_async(feeds, i)
    queue.wait_all()
    return count / (time.perf_counter() - started)


def bench(ov, name: str, rounds: int, count: int) -> dict:
    model = get_model(name)
    core = ov.Core()
    latency = core.compile_model(str(model.path), "CPU", {"PERFORMANCE_HINT": "LATENCY"})
    throughput = core.compile_model(str(model.path), "CPU", {"PERFORMANCE_HINT": "THROUGHPUT"})
    a = list(latency(model.feeds).values())
    b = list(throughput(model.feeds).values())
    same = all(np.allclose(x, y, rtol=1e-4, atol=1e-5) for x, y in zip(a, b))
    seq, que = [], []
    for r in range(rounds + 1):
        s, q = sequential(latency, model.feeds, count), queued(ov, throughput, model.feeds, count)
        if r:
            seq.append(s)
            que.append(q)
    return {"model": name, "latency": statistics.median(seq), "throughput": statistics.median(que),
            "requests": throughput.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"),
            "streams": throughput.get_property("NUM_STREAMS"), "same": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["resnet50", "bert", "yolo", "mobilenet", "magika"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=16, help="inferences per mode per round")
    parser.add_argument("--runtime", default="ferrovino")
    args = parser.parse_args()
    ov = importlib.import_module(args.runtime)
    print(f"| model ({args.runtime}) | LATENCY, sequential (inf/s) | THROUGHPUT + AsyncInferQueue (inf/s) "
          "| streams / requests | ratio | same outputs |")
    print("|---|---|---|---|---|---|")
    for name in args.models:
        r = bench(ov, name, args.rounds, args.count)
        print(f"| {r['model']} | {r['latency']:.1f} | {r['throughput']:.1f} | {r['streams']} / {r['requests']} "
              f"| {r['throughput'] / r['latency']:.2f} | {r['same']} |", flush=True)


if __name__ == "__main__":
    main()
