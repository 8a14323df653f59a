"""The `ferrovino` command line (`ferrovino.tools.cli`): benchmark and infer.

The commands run on ferrovino when its native extension is built, and always on OpenVINO (`--runtime openvino`),
which checks the tool's own logic against the original runtime.
"""

from __future__ import annotations

import importlib
import pathlib

import numpy as np
import pytest

PYPROJECT = pathlib.Path(__file__).resolve().parent.parent / "pyproject.toml"


@pytest.fixture(scope="module")
def cli():
    """ferrovino.tools.cli (a broken build fails, as everywhere in the suite)."""
    return importlib.import_module("ferrovino.tools.cli")


RUNTIMES = ["ferrovino", "openvino"]


LATENCY_LINES = (
    "Compile model took",
    "First inference took",
    "Count:",
    "Latency:",
    "Median:",
    "Average:",
    "Min:",
    "Max:",
    "Throughput:",
)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_benchmark_without_arguments_reports_latency(cli, capsys, runtime):
    """With no model it builds ResNet-50 and prints the benchmark_app-style lines."""
    if runtime == "openvino":
        pytest.importorskip("openvino")
    assert cli.main(["benchmark", "-niter", "2", "--runtime", runtime]) == 0
    out = capsys.readouterr().out
    assert "resnet50 (built at run time with random weights)" in out and "Build model took" in out
    for line in LATENCY_LINES:
        assert line in out, out
    assert "Count:            2 iterations" in out


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_benchmark_runs_the_optimal_number_of_requests_by_default(cli, capsys, runtime):
    """Without -nireq the benchmark runs as many requests as the compiled model asks for (one per stream)."""
    rt = pytest.importorskip(runtime)
    x = rt.opset13.parameter([1, 4], np.float32)
    compiled = rt.Core().compile_model(rt.Model([rt.opset13.relu(x)], [x]), "CPU", {"PERFORMANCE_HINT": "THROUGHPUT"})
    optimal = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
    argv = ["benchmark", "-m", "transformer", "-niter", "4", "-hint", "throughput", "--runtime", runtime]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert f"Infer requests:   {optimal}" in out, out


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_benchmark_options(cli, capsys, runtime):
    """-t, -shape, -hint and -nireq on the transformer block."""
    if runtime == "openvino":
        pytest.importorskip("openvino")
    argv = [
        "benchmark",
        "-m",
        "transformer",
        "-t",
        "0.2",
        "-shape",
        "[2,16]",
        "-hint",
        "throughput",
        "-nireq",
        "2",
        "--runtime",
        runtime,
    ]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "Reshaped model inputs to [2,16]" in out and "PERFORMANCE_HINT" in out
    count = int(out.split("Count:")[1].split()[0])
    assert count >= 1


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_infer_saves_outputs(cli, capsys, runtime, tmp_path):
    if runtime == "openvino":
        pytest.importorskip("openvino")
    ids = tmp_path / "ids.npy"
    np.save(ids, np.arange(128, dtype=np.int64).reshape(1, 128))
    out_file = tmp_path / "out.npz"
    assert cli.main(["infer", "-m", "transformer", "-i", str(ids), "-o", str(out_file), "--runtime", runtime]) == 0
    saved = np.load(out_file)
    assert saved["hidden.result"].shape == (1, 128, 256)
    assert "hidden.result: shape [1, 128, 256]" in capsys.readouterr().out


def test_parse_shapes(cli):
    assert cli.parse_shapes("[1,3,224,224]") == {"": [1, 3, 224, 224]}
    assert cli.parse_shapes("a[1,3], b[?,2]") == {"a": [1, 3], "b": [-1, 2]}
    assert cli.parse_shapes("[]") == {"": []}
    for bad in ("1,3", "[1,x]", "a[1]junk", ""):
        with pytest.raises(ValueError):
            cli.parse_shapes(bad)


def test_errors_exit_with_status_1(cli, capsys):
    assert cli.main(["benchmark", "-m", "no-such-model.xml", "-niter", "1", "--runtime", "openvino"]) == 1
    assert "[ ERROR ]" in capsys.readouterr().err


def test_bad_options_are_usage_errors(cli):
    for argv in (
        ["benchmark", "-niter", "0"],
        ["benchmark", "-niter", "2", "-t", "1"],
        ["benchmark", "-t", "-1"],
        ["benchmark", "-hint", "fast"],
        [],
    ):
        with pytest.raises(SystemExit) as exc:
            cli.main(argv)
        assert exc.value.code == 2


def test_console_script_is_declared():
    """pyproject.toml declares the `ferrovino` console script."""
    assert 'ferrovino = "ferrovino.tools.cli:main"' in PYPROJECT.read_text()
