"""First compile vs cached compile (``CACHE_DIR``) on the benchmark models, each measured in a fresh process.

    python benches/cache_bench.py [--models resnet50 bert] [--rounds 3] [--runtime ferrovino|openvino]

For each model: ``compile_model(path)`` without a cache, the first compile with an empty ``CACHE_DIR`` (it also
writes the blob), and the cached compile (the blob is loaded: no ONNX reading, no transformations). Each figure is
the median over ``--rounds`` fresh processes (a new process has no warm state but the OS page cache); the check
that the cached model computes the same outputs runs once per model.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, sys, time
runtime, path, cache, check = sys.argv[1:5]
t0 = time.perf_counter()
ov = __import__(runtime)
core = ov.Core()
config = {"CACHE_DIR": cache} if cache else {}
t1 = time.perf_counter()
compiled = core.compile_model(path, "CPU", config)
t2 = time.perf_counter()
result = {"seconds": t2 - t1, "loaded": bool(compiled.get_property("LOADED_FROM_CACHE"))}
if check:
    import numpy as np
    feeds = dict(np.load(check))
    result["outputs"] = [np.asarray(v).tolist() for v in compiled(feeds).values()]
print(json.dumps(result))
"""


def child(runtime: str, path: Path, cache: str = "", check: str = "") -> dict:
    """Runs one compile in a fresh process."""
    env_path = str(HERE.parent / "python")
    out = subprocess.run([sys.executable, "-c", CHILD, runtime, str(path), cache, check], check=True,
                         capture_output=True, text=True, env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench(name: str, runtime: str, rounds: int) -> dict:
    sys.path.insert(0, str(HERE))
    import numpy as np
    from models import get_model

    model = get_model(name)
    nocache, first, cached = [], [], []
    for _ in range(rounds):
        nocache.append(child(runtime, model.path)["seconds"])
        with tempfile.TemporaryDirectory() as cache:
            r = child(runtime, model.path, cache)
            assert not r["loaded"]
            first.append(r["seconds"])
            r = child(runtime, model.path, cache)
            assert r["loaded"], "the second compile did not load the blob"
            cached.append(r["seconds"])
    with tempfile.TemporaryDirectory() as cache:
        feeds = Path(cache) / "feeds.npz"
        np.savez(feeds, **model.feeds)
        plain = child(runtime, model.path, "", str(feeds))["outputs"]
        store = Path(cache) / "blobs"
        child(runtime, model.path, str(store))
        loaded = child(runtime, model.path, str(store), str(feeds))["outputs"]
        same = all(np.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(plain, loaded))
    med = statistics.median
    return {"model": name, "no cache": med(nocache), "first (writes blob)": med(first), "cached": med(cached),
            "speed-up": med(nocache) / med(cached), "same outputs": same,
            "blob MB": model.path.stat().st_size / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["resnet50", "bert"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runtime", default="ferrovino")
    args = parser.parse_args()
    print(f"| model ({args.runtime}) | compile, no cache | first compile with CACHE_DIR | cached compile | speed-up "
          "| same outputs |")
    print("|---|---|---|---|---|---|")
    for name in args.models:
        r = bench(name, args.runtime, args.rounds)
        print(f"| {r['model']} | {r['no cache'] * 1000:.0f} ms | {r['first (writes blob)'] * 1000:.0f} ms "
              f"| {r['cached'] * 1000:.0f} ms | {r['speed-up']:.1f}x | {r['same outputs']} |", flush=True)


if __name__ == "__main__":
    main()
