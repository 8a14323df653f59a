"""The ``ferrovino`` command: ``benchmark`` (in the spirit of OpenVINO's benchmark_app) and ``infer``.

A model is an IR ``.xml`` (with its ``.bin``) or ``.onnx`` path, or the name of a network built at run time with
random weights (:data:`ferrovino.tools.models.BUILDERS`: ``resnet50``, ``transformer``). ``--runtime openvino``
runs the same commands on OpenVINO, to compare.
"""

from __future__ import annotations

import argparse
import importlib
import re
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import numpy as np

from . import models

DEFAULT_MODEL = "resnet50"
DEFAULT_SECONDS = 10.0
HINTS = ("latency", "throughput", "cumulative_throughput", "none")


def info(message: str) -> None:
    """Prints one benchmark_app-style information line."""
    print(f"[ INFO ] {message}", flush=True)


def _elapsed_ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


# ---------------------------------------------------------------------------------------------------------------
# Shared steps: runtime, model, shapes, inputs.


def load_runtime(name: str) -> ModuleType:
    """The runtime module (``ferrovino`` or ``openvino``)."""
    return importlib.import_module(name)


def load_model(rt: ModuleType, core: Any, model: str) -> Any:
    """Reads a model file, or builds a named built-in network, and reports how long it took."""
    start = time.perf_counter()
    if model in models.BUILDERS and not Path(model).exists():
        built = models.BUILDERS[model](rt)
        info(f"Model: {model} (built at run time with random weights)")
        info(f"Build model took {_elapsed_ms(start):.2f} ms")
        return built
    if not Path(model).exists():
        raise FileNotFoundError(f"model '{model}' is neither a file nor one of: {', '.join(models.BUILDERS)}")
    read = core.read_model(model)
    info(f"Model: {model}")
    info(f"Read model took {_elapsed_ms(start):.2f} ms")
    return read


_SHAPE_ITEM = re.compile(r"\s*([^\[\],]*)\s*\[([^\]]*)\]\s*,?")


def parse_shapes(text: str) -> dict:
    """``"[1,3,224,224]"`` → ``{"": [1, 3, 224, 224]}``; ``"a[1,3],b[?,2]"`` → per-input shapes (``?`` is -1)."""
    shapes: dict = {}
    position = 0
    for match in _SHAPE_ITEM.finditer(text):
        if match.start() != position:
            break
        dims = [d.strip() for d in match.group(2).split(",") if d.strip()]
        shapes[match.group(1).strip()] = [-1 if d in ("?", "-1") else int(d) for d in dims]
        position = match.end()
    if position != len(text) or not shapes:
        raise ValueError(f"cannot parse -shape '{text}': expected [d,d,...] or name[d,d,...],name[...]")
    return shapes


def reshape(model: Any, text: str) -> None:
    """Applies ``-shape`` to the model (one unnamed shape means the only input)."""
    shapes = parse_shapes(text)
    if set(shapes) == {""}:
        model.reshape(shapes[""])
    else:
        model.reshape(shapes)
    info(f"Reshaped model inputs to {text}")


def read_inputs(paths: Sequence[str], ports: Sequence[Any], seed: int) -> list:
    """Inputs from ``.npy`` files (one per input, in order), or random data for every input when none is given."""
    if not paths:
        return models.random_inputs(list(ports), seed)
    if len(paths) != len(ports):
        raise ValueError(f"{len(paths)} input files given, the model has {len(ports)} inputs")
    return [np.load(p) for p in paths]


# ---------------------------------------------------------------------------------------------------------------
# benchmark


@dataclass
class Measurement:
    """Latencies (ms) of the timed inferences and the wall time they took."""

    latencies: list = field(default_factory=list)
    duration_ms: float = 0.0


class _StopRule:
    """Stops after ``niter`` inferences in all, or after ``seconds``."""

    def __init__(self, niter: int | None, seconds: float | None) -> None:
        self.niter, self.seconds = niter, seconds
        self.start = time.perf_counter()
        self.count = 0
        self.lock = threading.Lock()

    def claim(self) -> bool:
        """Reserves one more inference, or says that the run is over."""
        with self.lock:
            if self.niter is not None and self.count >= self.niter:
                return False
            if self.niter is None and time.perf_counter() - self.start >= (self.seconds or 0.0):
                return False
            self.count += 1
            return True


def _run_requests(requests: list, inputs: list, stop: _StopRule) -> list:
    """Runs inferences on every request in its own thread until ``stop``; returns all latencies (ms)."""
    latencies: list = []
    lock = threading.Lock()

    def worker(request: Any) -> None:
        while stop.claim():
            start = time.perf_counter()
            request.infer(inputs)
            elapsed = _elapsed_ms(start)
            with lock:
                latencies.append(elapsed)

    if len(requests) == 1:
        worker(requests[0])
        return latencies
    threads = [threading.Thread(target=worker, args=(r,)) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def measure(compiled: Any, inputs: list, niter: int | None, seconds: float | None, nireq: int) -> Measurement:
    """The first inference (reported separately), then the timed loop over ``nireq`` requests."""
    requests = [compiled.create_infer_request() for _ in range(nireq)]
    start = time.perf_counter()
    requests[0].infer(inputs)
    info(f"First inference took {_elapsed_ms(start):.2f} ms")
    stop = _StopRule(niter, seconds)
    latencies = _run_requests(requests, inputs, stop)
    return Measurement(latencies, _elapsed_ms(stop.start))


def _batch_of(ports: Sequence[Any]) -> int:
    shape = list(ports[0].get_shape()) if ports else []
    return int(shape[0]) if shape else 1


def report(m: Measurement, batch: int) -> None:
    """Prints count, duration, latency median/average/min/max and throughput."""
    if not m.latencies:
        raise RuntimeError("no inference ran in the time given")
    info(f"Count:            {len(m.latencies)} iterations")
    info(f"Duration:         {m.duration_ms:.2f} ms")
    info("Latency:")
    info(f"   Median:        {statistics.median(m.latencies):.2f} ms")
    info(f"   Average:       {statistics.fmean(m.latencies):.2f} ms")
    info(f"   Min:           {min(m.latencies):.2f} ms")
    info(f"   Max:           {max(m.latencies):.2f} ms")
    info(f"Throughput:       {batch * len(m.latencies) * 1000.0 / m.duration_ms:.2f} FPS")


def _config(args: argparse.Namespace) -> dict:
    config: dict = {}
    if args.hint is not None:
        config["PERFORMANCE_HINT"] = "" if args.hint == "none" else args.hint.upper()
    if args.nthreads is not None:
        config["INFERENCE_NUM_THREADS"] = args.nthreads
    if args.nstreams is not None:
        config["NUM_STREAMS"] = args.nstreams
    return config


def benchmark(args: argparse.Namespace) -> int:
    """``ferrovino benchmark``: read or build, compile, first inference, timed loop, statistics."""
    rt = load_runtime(args.runtime)
    info(f"Runtime: {args.runtime} {rt.get_version() if hasattr(rt, 'get_version') else ''}".rstrip())
    core = rt.Core()
    model = load_model(rt, core, args.model)
    if args.shape:
        reshape(model, args.shape)
    config = _config(args)
    start = time.perf_counter()
    compiled = core.compile_model(model, args.device, config)
    info(f"Device: {args.device}" + (f" {config}" if config else ""))
    info(f"Compile model took {_elapsed_ms(start):.2f} ms")
    inputs = read_inputs(args.input or [], compiled.inputs, args.seed)
    seconds = args.time if args.time is not None else (None if args.niter is not None else DEFAULT_SECONDS)
    nireq = args.nireq or int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
    info(f"Infer requests:   {nireq}")
    m = measure(compiled, inputs, args.niter, seconds, nireq)
    report(m, _batch_of(compiled.inputs))
    return 0


# ---------------------------------------------------------------------------------------------------------------
# infer


def infer(args: argparse.Namespace) -> int:
    """``ferrovino infer``: one inference; prints each output and optionally saves them to an ``.npz``."""
    rt = load_runtime(args.runtime)
    core = rt.Core()
    model = load_model(rt, core, args.model)
    if args.shape:
        reshape(model, args.shape)
    compiled = core.compile_model(model, args.device)
    inputs = read_inputs(args.input or [], compiled.inputs, args.seed)
    results = compiled.create_infer_request().infer(inputs)
    arrays = {}
    for i, port in enumerate(compiled.outputs):
        names = sorted(port.get_names())
        key = names[0] if names else f"output{i}"
        arrays[key] = np.array(results[port])
        flat = arrays[key].ravel()
        info(f"{key}: shape {list(arrays[key].shape)} {arrays[key].dtype} first values {flat[:5].tolist()}")
    if args.output:
        np.savez(args.output, **arrays)
        info(f"Saved outputs to {args.output}")
    return 0


# ---------------------------------------------------------------------------------------------------------------
# Argument parsing.


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-m",
        "--model",
        default=DEFAULT_MODEL,
        help=f"IR .xml or .onnx path, or a built-in network ({', '.join(models.BUILDERS)}); default {DEFAULT_MODEL}",
    )
    parser.add_argument("-d", "--device", default="CPU", help="device name (default CPU)")
    parser.add_argument(
        "-shape",
        "--shape",
        default=None,
        help="input shapes: [1,3,224,224] or name[1,3,224,224],other[...] (? for dynamic)",
    )
    parser.add_argument("-i", "--input", nargs="*", help=".npy files, one per input (default random data)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    parser.add_argument(
        "--runtime",
        choices=("ferrovino", "openvino"),
        default="ferrovino",
        help="runtime to run on (openvino compares with the original)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``ferrovino`` command."""
    parser = argparse.ArgumentParser(prog="ferrovino", description="ferrovino command-line tools")
    commands = parser.add_subparsers(dest="command", required=True)

    bench = commands.add_parser("benchmark", help="measure inference latency and throughput")
    _common(bench)
    limit = bench.add_mutually_exclusive_group()
    limit.add_argument("-niter", "--niter", type=int, default=None, help="number of timed inferences")
    limit.add_argument(
        "-t",
        "--time",
        type=float,
        default=None,
        help=f"seconds of timed inferences (default {DEFAULT_SECONDS:g} when -niter is not given)",
    )
    bench.add_argument("-hint", "--hint", choices=HINTS, default=None, help="performance hint")
    bench.add_argument("-nireq", "--nireq", type=int, default=None,
                       help="infer requests run in parallel (default: the compiled model's "
                            "OPTIMAL_NUMBER_OF_INFER_REQUESTS, e.g. one per stream under -hint throughput)")
    bench.add_argument("-nthreads", "--nthreads", type=int, default=None, help="inference threads")
    bench.add_argument("-nstreams", "--nstreams", default=None, help="execution streams (a number or AUTO)")
    bench.set_defaults(run=benchmark)

    run = commands.add_parser("infer", help="run one inference and print the outputs")
    _common(run)
    run.add_argument("-o", "--output", default=None, help="save the outputs to this .npz file")
    run.set_defaults(run=infer)
    return parser


def _validate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if getattr(args, "niter", None) is not None and args.niter < 1:
        parser.error("-niter must be at least 1")
    if getattr(args, "time", None) is not None and args.time <= 0:
        parser.error("-t must be positive")
    if getattr(args, "nireq", None) is not None and args.nireq < 1:
        parser.error("-nireq must be at least 1")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ferrovino`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _validate(parser, args)
    command: Callable[[argparse.Namespace], int] = args.run
    try:
        return command(args)
    except (OSError, ValueError, RuntimeError, TypeError, KeyError) as err:
        print(f"[ ERROR ] {type(err).__name__}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
