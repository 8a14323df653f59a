"""Shared pytest fixtures: the runtime under test, the OpenVINO oracle and cached OpenVINO-written IR files.

`--runtime=openvino` (or `FERROVINO_TEST_RUNTIME=openvino`) runs every test against OpenVINO itself, which
checks the tests before ferrovino is judged by them.
"""

import importlib

import pytest
from helpers.openvino_ir import OpenVinoIrCache
from helpers.runtime import ENV_VAR, RUNTIMES, runtime_name


def _hold_openvino_cpu_to_f32() -> None:
    """OpenVINO's CPU plugin infers in bf16 by default on CPUs with AVX-512 BF16 or AMX; as the oracle (and as the
    runtime under test with --runtime=openvino) it is held to f32, the precision ferrovino computes in. Every
    openvino Core, the one behind `openvino.compile_model` included, gets the hint as it is created."""
    try:
        import openvino
    except ImportError:
        return
    core_init = openvino.Core.__init__

    def init(self, *args, **kwargs):
        core_init(self, *args, **kwargs)
        self.set_property("CPU", {"INFERENCE_PRECISION_HINT": "f32"})

    openvino.Core.__init__ = init


_hold_openvino_cpu_to_f32()


def pytest_addoption(parser):
    parser.addoption(
        "--runtime",
        choices=RUNTIMES,
        default=None,
        help=f"runtime under test (default: ${ENV_VAR} or ferrovino)",
    )


def pytest_report_header(config):
    return f"runtime under test: {runtime_name(config.getoption('--runtime'))}"


@pytest.fixture(scope="session")
def rt_name(request) -> str:
    """The name of the runtime under test: ferrovino or openvino."""
    return runtime_name(request.config.getoption("--runtime"))


@pytest.fixture(scope="session")
def rt(rt_name):
    """The runtime module under test. ferrovino must import: a broken build fails, it is never skipped."""
    if rt_name == "openvino":
        return pytest.importorskip("openvino")
    return importlib.import_module(rt_name)


@pytest.fixture(scope="session")
def ov():
    """OpenVINO, the oracle (a test extra)."""
    return pytest.importorskip("openvino")


@pytest.fixture(scope="session")
def ov_ir(ov, tmp_path_factory) -> OpenVinoIrCache:
    """IR files written by OpenVINO (`convert_model` + `save_model`), generated once per session."""
    return OpenVinoIrCache(ov, tmp_path_factory.mktemp("openvino_ir"))


@pytest.fixture(scope="session")
def gpu_core():
    """A ferrovino Core with a GPU device; skips (with the reason) without an adapter, unless
    FERROVINO_REQUIRE_GPU=1 (set by CI), which makes that a failure."""
    import os

    import ferrovino

    core = ferrovino.Core()
    if "GPU" not in " ".join(core.available_devices):
        reason = "no GPU adapter (wgpu found no Vulkan, Metal or DX12 device)"
        if os.environ.get("FERROVINO_REQUIRE_GPU") == "1":
            pytest.fail(f"FERROVINO_REQUIRE_GPU=1 but {reason}")
        pytest.skip(reason)
    return core
