"""ferrovino, ONNX Runtime and OpenVINO side by side, in one process, on the same ONNX files and the same inputs.

    python benches/compare.py                        # all models, 20 rounds, all cores
    python benches/compare.py --models bert,yolo --rounds 3 --threads 1
    python benches/compare.py --throughput --markdown

For each model (see `benches/models.py`; files are cached under `benches/.models/`):

- load: read + compile + first inference, per runtime (wall time): the median of `--load-rounds` loads in cycling
  order, after the model file has been read once into the page cache (so that no runtime pays for the disk
  on another's behalf) and with each runtime's modules already imported;
- latency: interleaved rounds, each round runs every runtime once with the order cycling through all permutations
  (so no runtime always follows the same one); the median of the rounds after a few warm-up rounds;
- the ratios ferrovino/ONNX Runtime and ferrovino/OpenVINO (below 1.0: ferrovino is faster);
- max |difference| of each runtime's outputs from ONNX Runtime's (a correctness check);
- peak RSS: a child process per runtime loads, compiles and runs the model (one process cannot tell the runtimes'
  memory apart), reporting its peak RSS and the growth over its RSS after the imports;
- `--throughput`: the THROUGHPUT hint with parallel requests, in inferences per second (see `throughput_run`).

An SGEMM section compares numpy (its BLAS) with one ferrovino MatMul on 256..2048 squares in the same run.
All runtimes get the same thread count (`--threads`, default: every core this process may use) and OpenVINO is held
to f32 (it would pick bf16 on CPUs with AMX). A model that fails in one runtime is reported and the others go on.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import itertools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

RUNTIMES = ("ferrovino", "onnxruntime", "openvino")
SHORT = {"ferrovino": "fv", "onnxruntime": "ORT", "openvino": "OV"}
REFERENCE = "onnxruntime"
SGEMM_SIZES = (256, 512, 1024, 2048)
HERE = Path(__file__).resolve().parent


# --- the runtimes --------------------------------------------------------------------------------------------------


class OvStyleRunner:
    """ferrovino or OpenVINO: the same Core / compile_model / InferRequest API."""

    def __init__(self, name: str, threads: int, device: str = "CPU") -> None:
        self.name = name
        self.threads = threads
        self.device = device
        self.module: Any = importlib.import_module(name)
        self.compiled: Any = None
        self.request: Any = None

    def config(self, hint: str) -> dict:
        """Compile properties: the hint, f32 inference, and on the CPU the thread count (a GPU has no such
        property, in OpenVINO as here)."""
        config = {"PERFORMANCE_HINT": hint, "INFERENCE_PRECISION_HINT": "f32"}
        if self.device == "CPU":
            config["INFERENCE_NUM_THREADS"] = self.threads
        return config

    def load(self, path: Path, hint: str = "LATENCY", feeds: Optional[dict] = None) -> None:
        """Reads and compiles the model and creates one infer request. Off the CPU, inputs with dynamic
        dimensions are first reshaped to the shapes of ``feeds`` (the GPU runs static shapes)."""
        core = self.module.Core()
        model = core.read_model(str(path))
        if self.device != "CPU" and feeds:
            dynamic = [i for i in model.inputs if i.get_partial_shape().is_dynamic]
            if dynamic:
                model.reshape({i.get_any_name(): list(feeds[i.get_any_name()].shape) for i in dynamic})
        self.compiled = core.compile_model(model, self.device, self.config(hint))
        self.request = self.compiled.create_infer_request()

    def infer(self, feeds: dict) -> list:
        """One synchronous inference; the outputs in model order."""
        return list(self.request.infer(feeds, share_inputs=True).values())

    def optimal_requests(self, fallback: int) -> int:
        """The compiled model's OPTIMAL_NUMBER_OF_INFER_REQUESTS, or ``fallback`` where it has none."""
        try:
            return max(1, int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        except Exception:  # the property is optional in ferrovino
            return fallback

    def throughput_job(self, feeds: dict, requests: int) -> tuple[int, Callable[[int], None]]:
        """(number of parallel requests, run(count)): an AsyncInferQueue where the module has one, else one thread
        per infer request, each calling the synchronous infer (which releases the GIL)."""
        n = self.optimal_requests(self.threads) if requests <= 0 else requests
        if hasattr(self.module, "AsyncInferQueue"):
            queue = self.module.AsyncInferQueue(self.compiled, n)

            def run_queue(count: int) -> None:
                for _ in range(count):
                    queue.start_async(feeds)
                queue.wait_all()

            return n, run_queue
        reqs = [self.compiled.create_infer_request() for _ in range(n)]
        return n, lambda count: run_in_threads([lambda r=r: r.infer(feeds, share_inputs=True) for r in reqs], count)

    def close(self) -> None:
        """Drops the compiled model and its request."""
        self.compiled = self.request = None


class OrtRunner:
    """ONNX Runtime's CPU execution provider with all graph optimisations."""

    name = "onnxruntime"

    def __init__(self, threads: int) -> None:
        import onnxruntime

        self.ort = onnxruntime
        self.threads = threads
        self.session: Any = None
        self.path: Optional[Path] = None

    def _session(self, path: Path, intra_threads: int) -> Any:
        options = self.ort.SessionOptions()
        options.intra_op_num_threads = intra_threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = self.ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        return self.ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def load(self, path: Path, hint: str = "LATENCY", feeds: Optional[dict] = None) -> None:
        """Creates the session (all threads to one request); ``feeds`` is not needed."""
        self.path = path
        self.session = self._session(path, self.threads)

    def infer(self, feeds: dict) -> list:
        """One inference; the outputs in model order."""
        return self.session.run(None, feeds)

    def throughput_job(self, feeds: dict, requests: int) -> tuple[int, Callable[[int], None]]:
        """N threads sharing one session whose intra-op pool gets threads / N threads each."""
        n = requests if requests > 0 else self.threads
        if self.path is None:
            raise RuntimeError("load() first")
        self.session = self._session(self.path, max(1, self.threads // n))
        session = self.session
        return n, lambda count: run_in_threads([lambda: session.run(None, feeds)] * n, count)

    def close(self) -> None:
        """Drops the session."""
        self.session = None


def make_runner(name: str, threads: int, device: str) -> Any:
    """The runner of ``name``; ``device`` applies to ferrovino only (the peers stay on CPU)."""
    if name == "onnxruntime":
        return OrtRunner(threads)
    return OvStyleRunner(name, threads, device if name == "ferrovino" else "CPU")


def run_in_threads(jobs: list[Callable[[], Any]], count: int) -> None:
    """Runs ``count`` calls spread over one thread per job (each job is called ceil(count / len(jobs)) times);
    re-raises the first error."""
    per_thread = -(-count // len(jobs))
    errors: list[BaseException] = []

    def loop(job: Callable[[], Any]) -> None:
        try:
            for _ in range(per_thread):
                job()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=loop, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


# --- measuring -----------------------------------------------------------------------------------------------------


@dataclass
class Result:
    """What one runtime measured on one model."""

    load_s: Optional[float] = None
    latencies: list = field(default_factory=list)
    max_diff: Optional[float] = None
    throughputs: list = field(default_factory=list)
    requests: Optional[int] = None
    rss: Optional[dict] = None
    error: Optional[str] = None

    @property
    def median_ms(self) -> Optional[float]:
        """The median latency in milliseconds."""
        return 1e3 * statistics.median(self.latencies) if self.latencies else None

    @property
    def median_fps(self) -> Optional[float]:
        """The median throughput in inferences per second."""
        return statistics.median(self.throughputs) if self.throughputs else None


def describe(error: BaseException) -> str:
    """A one-line description of an error."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:600]}"


def max_abs_diff(got: list, want: list) -> float:
    """The largest |got - want| over all outputs: NaN when either side has a NaN where the other has not, inf when
    the outputs do not match in count or shape."""
    import numpy as np

    if len(got) != len(want):
        return float("inf")
    worst = 0.0
    for g, w in zip(got, want):
        g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
        if g.shape != w.shape:
            return float("inf")
        same = (g == w) | (np.isnan(g) & np.isnan(w))
        if g.size:
            diff = float(np.max(np.where(same, 0.0, np.abs(g - w))))  # NaN where only one side is NaN
            if np.isnan(diff):
                return diff
            worst = max(worst, diff)
    return worst


#: Pause before each timed step (ONNX Runtime's and OpenVINO's pools spin for a while after a run).
SETTLE_S = 0.05


def cycle_orders(names: list[str], rounds: int) -> list[tuple]:
    """The runtimes' order in each round, cycling through all their permutations, so that each runtime goes first,
    last and after each other one equally often."""
    perms = list(itertools.permutations(names))
    return [perms[r % len(perms)] for r in range(rounds)]


def interleaved(runners: dict, results: dict, rounds: int, warmup: int, step: Callable[[str], float],
                record: Callable[[Result, float], None]) -> None:
    """Runs ``step(name)`` for every live runtime in each round (warm-up rounds not recorded); a failure ends that
    runtime's measurements and is kept in its Result."""
    for r, order in enumerate(cycle_orders(list(runners), warmup + rounds)):
        for name in order:
            if results[name].error is not None:
                continue
            # Let the previous runtime's worker threads stop spinning, so that no runtime is timed while another
            # one's idle threads still hold the cores.
            time.sleep(SETTLE_S)
            try:
                value = step(name)
            except Exception as error:
                results[name].error = describe(error)
                continue
            if r >= warmup:
                record(results[name], value)


def read_into_page_cache(path: Path) -> None:
    """Reads the file once and drops the bytes, so that the first runtime to load it does not also pay for the disk."""
    with open(path, "rb") as file:
        while file.read(1 << 24):
            pass


def latency_run(model: Any, runners: dict, args: argparse.Namespace) -> dict[str, Result]:
    """Load + compile + first inference per runtime (``--load-rounds`` times), then interleaved timed rounds and
    the output check."""
    results = {name: Result() for name in runners}
    first: dict[str, list] = {}
    read_into_page_cache(model.path)
    loads: dict[str, list[float]] = {name: [] for name in runners}
    for order in cycle_orders(list(runners), args.load_rounds):
        for name in order:
            if results[name].error is not None:
                continue
            runners[name].close()
            gc.collect()
            try:
                t0 = time.perf_counter()
                runners[name].load(model.path, feeds=model.feeds)
                first[name] = runners[name].infer(model.feeds)
                loads[name].append(time.perf_counter() - t0)
            except Exception as error:
                results[name].error = describe(error)
                if args.verbose:
                    traceback.print_exc()
    for name, times in loads.items():
        if times and results[name].error is None:
            results[name].load_s = statistics.median(times)
    reference = first.get(REFERENCE)
    for name, outputs in first.items():
        if reference is not None:
            results[name].max_diff = max_abs_diff(outputs, reference)

    def step(name: str) -> float:
        t0 = time.perf_counter()
        runners[name].infer(model.feeds)
        return time.perf_counter() - t0

    interleaved(runners, results, args.rounds, args.warmup, step, lambda res, v: res.latencies.append(v))
    return results


def throughput_run(model: Any, runners: dict, results: dict, args: argparse.Namespace) -> None:
    """Recompiles each runtime with the THROUGHPUT hint and measures inferences/s with parallel requests over
    interleaved rounds (one untimed first): OpenVINO with an AsyncInferQueue of its optimal size, ferrovino
    likewise (or one thread per request), ONNX Runtime with N threads sharing one session (intra-op threads split
    between them)."""
    jobs: dict[str, tuple[int, Callable[[int], None]]] = {}
    for name, runner in runners.items():
        if results[name].error is not None:
            continue
        try:
            if name != "onnxruntime":
                runner.load(model.path, "THROUGHPUT", model.feeds)
            jobs[name] = runner.throughput_job(model.feeds, args.requests)
            results[name].requests = jobs[name][0]
        except Exception as error:
            results[name].error = describe(error)
    live = {name: runners[name] for name in jobs}

    def step(name: str) -> float:
        n, run = jobs[name]
        count = max(8, 4 * n)
        t0 = time.perf_counter()
        run(count)
        return (-(-count // n) * n) / (time.perf_counter() - t0)

    interleaved(live, results, args.throughput_rounds, 1, step, lambda res, v: res.throughputs.append(v))


# --- peak RSS in child processes -----------------------------------------------------------------------------------


def rss_child(args: argparse.Namespace) -> None:
    """The child's side of the RSS measurement: import one runtime, load the inputs, note the RSS, then load +
    compile + run ``--rss-iters`` inferences and print peak RSS and growth (MiB) as JSON."""
    import numpy as np

    runner = make_runner(args.rss_child, args.threads, args.device)
    with np.load(args.feeds) as data:
        feeds = {key: data[key] for key in data.files}
    feeds = {json.loads(args.feed_names)[int(k[1:])]: v for k, v in feeds.items()}
    base = proc_status_kib("VmRSS")
    runner.load(Path(args.model_path), feeds=feeds)
    for _ in range(args.rss_iters):
        runner.infer(feeds)
    # VmHWM, not ru_maxrss: the latter keeps the forking parent's RSS across exec.
    peak = proc_status_kib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_mib": peak / 1024, "growth_mib": (peak - base) / 1024}))


def proc_status_kib(key: str) -> int:
    """A KiB field of /proc/self/status (VmRSS: resident now, VmHWM: peak resident); 0 where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_run(model: Any, names: list[str], results: dict, args: argparse.Namespace, tmp: Path) -> None:
    """Runs one child per runtime (see rss_child) and stores its report in the runtime's Result."""
    import numpy as np

    feeds_path = tmp / f"{model.name}_feeds.npz"
    keys = list(model.feeds)
    np.savez(feeds_path, **{f"i{i}": model.feeds[k] for i, k in enumerate(keys)})
    for name in names:
        command = [sys.executable, str(Path(__file__).resolve()), "--rss-child", name, "--model-path", str(model.path),
                   "--feeds", str(feeds_path), "--feed-names", json.dumps(keys), "--threads", str(args.threads),
                   "--device", args.device, "--rss-iters", str(args.rss_iters)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.strip():
            results[name].rss = json.loads(done.stdout.strip().splitlines()[-1])
        elif results[name].error is None:
            lines = (done.stderr.strip() or f"exit status {done.returncode}").splitlines()
            results[name].error = f"RSS child: {lines[-1][:600]}"


# --- SGEMM ---------------------------------------------------------------------------------------------------------


def sgemm_run(args: argparse.Namespace) -> list[dict]:
    """GFLOP/s of numpy's A @ B and of a compiled ferrovino MatMul (two Parameters, and Parameter x Constant) on
    squares, interleaved repetitions, medians; float32."""
    import ferrovino as fv
    import numpy as np
    from ferrovino import opset13 as ops

    rows = []
    rng = np.random.default_rng(0)
    for n in args.sgemm_sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        config = {"INFERENCE_NUM_THREADS": args.threads, "PERFORMANCE_HINT": "LATENCY"}
        pa, pb = ops.parameter([n, n], np.float32, "a"), ops.parameter([n, n], np.float32, "b")
        two_params = fv.Core().compile_model(fv.Model([ops.matmul(pa, pb, False, False)], [pa, pb]), args.device,
                                             config).create_infer_request()
        pa2 = ops.parameter([n, n], np.float32, "a")
        weights = fv.Core().compile_model(fv.Model([ops.matmul(pa2, ops.constant(b), False, False)], [pa2]),
                                          args.device, config).create_infer_request()
        cases = {
            "numpy": lambda: a @ b,
            "fv P x P": lambda: two_params.infer({0: a, 1: b}, share_inputs=True, share_outputs=True),
            "fv P x C": lambda: weights.infer({0: a}, share_inputs=True, share_outputs=True),
        }
        errors = max_abs_diff([cases["fv P x P"]()[0], cases["fv P x C"]()[0]], [a @ b, a @ b])
        times: dict[str, list[float]] = {k: [] for k in cases}
        single = timed(cases["numpy"])
        # Rounds of short bursts: each case runs a few times back to back after an untimed call, so that no case is
        # timed while the previous one's threads still spin (OpenBLAS's do) or its own are still parked.
        burst = max(3, min(10, int(0.05 / max(single, 1e-6))))
        for _ in range(5):
            for name, case in cases.items():
                case()
                times[name].extend(timed(case) for _ in range(burst))
        flops = 2.0 * n ** 3
        row = {"n": n, "max_diff": errors}
        row.update({name: flops / statistics.median(t) / 1e9 for name, t in times.items()})
        rows.append(row)
    return rows


def timed(call: Callable[[], Any]) -> float:
    """The wall time of one call, in seconds."""
    t0 = time.perf_counter()
    call()
    return time.perf_counter() - t0


# --- reporting -----------------------------------------------------------------------------------------------------


def table(headers: list[str], rows: list[list[str]], markdown: bool) -> str:
    """A Markdown table, or a plain one with aligned columns."""
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [headers, *rows])


def fmt(value: Optional[float], spec: str) -> str:
    """``value`` formatted, or "-" when missing."""
    return "-" if value is None else format(value, spec)


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    """a / b, or None when either is missing."""
    return None if a is None or b is None or b == 0 else a / b


def machine() -> str:
    """The CPU model, the cores this process may use, the vector ISA and the runtimes' versions."""
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    isa = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "asimd") if f in flags]
    versions = []
    for name in RUNTIMES:
        try:
            versions.append(f"{name} {importlib.import_module(name).__version__}")
        except Exception as error:
            versions.append(f"{name} unavailable ({type(error).__name__})")
    return f"{model}, {available_cores()} cores ({'+'.join(isa) or 'no AVX2'}); {', '.join(versions)}"


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def latency_rows(all_results: dict, names: list[str]) -> list[list[str]]:
    """One row per model: medians, ratios, load times, output differences, peak RSS and its growth over the
    imports."""
    rows = []
    for model, res in all_results.items():
        ms = {n: res[n].median_ms for n in names}
        fv_ms = ms.get("ferrovino")
        row = [model] + [fmt(ms[n], ".2f") for n in names]
        row += [fmt(ratio(fv_ms, ms.get("onnxruntime")), ".2f"), fmt(ratio(fv_ms, ms.get("openvino")), ".2f")]
        row += ["/".join(fmt(None if res[n].load_s is None else 1e3 * res[n].load_s, ".0f") for n in names)]
        row += ["/".join(fmt(res[n].max_diff, ".1e") for n in names if n != REFERENCE)]
        row += ["/".join(fmt(res[n].rss and res[n].rss[key], ".0f") for n in names) for key in ("peak_mib", "growth_mib")]
        rows.append(row)
    return rows


def report(all_results: dict, names: list[str], sgemm: list[dict], args: argparse.Namespace) -> str:
    """The summary: machine, latency table, throughput table, SGEMM table, errors."""
    who = "/".join(SHORT[n] for n in names)
    out = [f"Machine: {machine()}", f"Threads: {args.threads}; rounds: {args.rounds} (+{args.warmup} warm-up); "
           f"ferrovino device: {args.device}; batch 1", ""]
    headers = ["model"] + [f"{SHORT[n]} ms" for n in names] + ["fv/ORT", "fv/OV", f"load ms {who}",
                                                                  "max abs diff vs ORT " + "/".join(
                                                                      SHORT[n] for n in names if n != REFERENCE),
                                                                  f"peak RSS MiB {who}", f"RSS growth MiB {who}"]
    out += ["Latency (median ms, 1 request):", table(headers, latency_rows(all_results, names), args.markdown), ""]
    if args.throughput:
        rows = []
        for model, res in all_results.items():
            fps = {n: res[n].median_fps for n in names}
            rows.append([model] + [fmt(fps[n], ".1f") + (f" ({res[n].requests})" if res[n].requests else "")
                                   for n in names]
                        + [fmt(ratio(fps.get("ferrovino"), fps.get("onnxruntime")), ".2f"),
                           fmt(ratio(fps.get("ferrovino"), fps.get("openvino")), ".2f")])
        headers = ["model"] + [f"{SHORT[n]} inf/s (requests)" for n in names] + ["fv/ORT", "fv/OV"]
        out += [f"Throughput (THROUGHPUT hint, median of {args.throughput_rounds} rounds, inferences/s; "
                "ratio > 1: ferrovino faster):",
                table(headers, rows, args.markdown), ""]
    if sgemm:
        rows = [[str(r["n"]), fmt(r["numpy"], ".1f"), fmt(r["fv P x P"], ".1f"), fmt(r["fv P x C"], ".1f"),
                 fmt(r["fv P x P"] / r["numpy"], ".2f"), fmt(r["fv P x C"] / r["numpy"], ".2f"),
                 fmt(r["max_diff"], ".1e")] for r in sgemm]
        out += ["SGEMM (GFLOP/s, float32 n x n x n):",
                table(["n", "numpy", "fv P x P", "fv P x C", "P x P / numpy", "P x C / numpy", "max abs diff"], rows,
                      args.markdown), ""]
    errors = [f"- {model}: {name}: {res[name].error}" for model, res in all_results.items() for name in names
              if res[name].error]
    if errors:
        out += ["Failures:", *errors, ""]
    return "\n".join(out)


def progress(model: str, res: dict, names: list[str]) -> str:
    """The one-model line printed as soon as the model is done."""
    parts = []
    for n in names:
        r = res[n]
        if r.error:
            parts.append(f"{SHORT[n]} FAILED ({r.error})")
        else:
            parts.append(f"{SHORT[n]} {fmt(r.median_ms, '.2f')} ms (load {fmt(r.load_s and 1e3 * r.load_s, '.0f')} "
                         f"ms, max|Δ| {fmt(r.max_diff, '.1e')})")
    return f"{model}: " + "; ".join(parts)


# --- main ----------------------------------------------------------------------------------------------------------


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="resnet50,bert,yolo,mobilenet,magika", help="comma-separated model names")
    p.add_argument("--runtimes", default=",".join(RUNTIMES), help="comma-separated subset of " + ",".join(RUNTIMES))
    p.add_argument("--rounds", type=int, default=20, help="timed interleaved rounds (default 20)")
    p.add_argument("--warmup", type=int, default=2, help="untimed rounds first (default 2)")
    p.add_argument("--load-rounds", type=int, default=3,
                   help="loads (read + compile + first inference) per runtime, median reported (default 3)")
    p.add_argument("--threads", type=int, default=available_cores(), help="threads per runtime (default: all cores)")
    p.add_argument("--device", default="CPU", help="ferrovino's device (the peers stay on CPU)")
    p.add_argument("--throughput", action="store_true", help="also measure THROUGHPUT-hint inferences/s")
    p.add_argument("--throughput-rounds", type=int, default=5,
                   help="timed rounds of --throughput, each max(8, 4 x requests) inferences per runtime (default 5)")
    p.add_argument("--requests", type=int, default=0,
                   help="parallel requests in --throughput (default: each runtime's optimal number; ORT: threads)")
    p.add_argument("--markdown", action="store_true", help="print README-ready Markdown tables")
    p.add_argument("--no-rss", action="store_true", help="skip the peak-RSS child processes")
    p.add_argument("--rss-iters", type=int, default=10, help="inferences in each RSS child (default 10)")
    p.add_argument("--no-sgemm", action="store_true", help="skip the SGEMM comparison")
    p.add_argument("--sgemm-sizes", default=",".join(map(str, SGEMM_SIZES)), help="SGEMM square sizes")
    p.add_argument("--cache-dir", default=str(HERE / ".models"), help="where generated .onnx files are kept")
    p.add_argument("--verbose", action="store_true", help="print tracebacks of failures")
    p.add_argument("--rss-child", choices=RUNTIMES, help=argparse.SUPPRESS)
    p.add_argument("--model-path", help=argparse.SUPPRESS)
    p.add_argument("--feeds", help=argparse.SUPPRESS)
    p.add_argument("--feed-names", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.sgemm_sizes = [int(s) for s in args.sgemm_sizes.split(",") if s]
    if min(args.threads, args.rounds, args.throughput_rounds, args.load_rounds) < 1 or args.warmup < 0:
        p.error("--threads, --rounds, --throughput-rounds and --load-rounds must be >= 1, --warmup >= 0")
    return args


def main(argv: Optional[list[str]] = None) -> int:
    """Runs the comparison and prints the report; 0 even when a runtime failed on a model (the report says so)."""
    args = parse_args(argv)
    # BLAS reads its thread count when numpy is first imported.
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))
    if args.rss_child:
        rss_child(args)
        return 0
    sys.path.insert(0, str(HERE))
    import models

    names = [n for n in RUNTIMES if n in args.runtimes.split(",")]
    all_results: dict[str, dict[str, Result]] = {}
    say = (lambda text: print(text, file=sys.stderr, flush=True)) if args.markdown else \
        (lambda text: print(text, flush=True))
    with tempfile.TemporaryDirectory(prefix="ferrovino-compare-") as tmp:
        for model_name in [m for m in args.models.split(",") if m]:
            try:
                model = models.get_model(model_name, Path(args.cache_dir))
            except Exception as error:
                say(f"{model_name}: cannot build the model: {describe(error)}")
                continue
            say(f"{model_name}: {model.description} ({model.path.name})")
            runners = {n: make_runner(n, args.threads, args.device) for n in names}
            results = latency_run(model, runners, args)
            if args.throughput:
                throughput_run(model, runners, results, args)
            for runner in runners.values():
                runner.close()
            del runners
            gc.collect()
            if not args.no_rss:
                rss_run(model, names, results, args, Path(tmp))
            all_results[model_name] = results
            say(progress(model_name, results, names))
    sgemm = []
    if not args.no_sgemm and "ferrovino" in names:
        try:
            sgemm = sgemm_run(args)
        except Exception as error:
            say(f"SGEMM: ferrovino failed: {describe(error)}")
    print(report(all_results, names, sgemm, args))
    return 0


if __name__ == "__main__":
    # OpenBLAS's idle threads spin for about 2^28 cycles after each call by default, holding a core while the next
    # runtime is timed; 2^4 makes them park at once (numpy's own figures do not change measurably). Re-executes
    # itself so that the setting is in place before numpy loads OpenBLAS.
    if os.environ.get("OPENBLAS_THREAD_TIMEOUT") is None:
        os.environ["OPENBLAS_THREAD_TIMEOUT"] = "4"
        os.execv(sys.executable, [sys.executable, *sys.argv])
    sys.exit(main())
