"""Model caching: ``CACHE_DIR`` (core property or compile config) stores a compiled blob that the next compilation
of the same model, device and configuration loads (``LOADED_FROM_CACHE``); a changed model, file or configuration
misses; a corrupt or truncated blob is a warning and a recompilation; ``CompiledModel.export_model`` and
``Core.import_model`` round trip through bytes, ``BytesIO`` and files.

Tests that take ``rt`` also run on OpenVINO (``--runtime=openvino``); the ones about ferrovino's blob files and
warnings run on ferrovino only.
"""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
import pytest

X = np.array([[-2.0, -0.5, 0.0, 1.5]], np.float32)
W = np.array([[1.0], [2.0], [3.0], [4.0]], np.float32)


def matmul_model(rt, w=W):
    """``relu(x) @ w + 1`` on a 1x4 input."""
    ops = rt.opset13
    x = ops.parameter([1, 4], np.float32, name="x")
    y = ops.add(ops.matmul(ops.relu(x), ops.constant(w), False, False), ops.constant(np.float32(1)))
    return rt.Model([y], [x], "cached")


def expected(w=W):
    return np.maximum(X, 0) @ w + 1


def infer(compiled):
    return compiled.create_infer_request().infer({0: X})[0]


def blobs(folder):
    return sorted(p for p in os.listdir(folder) if not p.endswith(".tmp"))


@pytest.fixture
def ir_path(rt, tmp_path):
    path = tmp_path / "model.xml"
    rt.save_model(matmul_model(rt), path, compress_to_fp16=False)
    return path


def test_second_compile_of_a_path_loads_the_blob(rt, tmp_path, ir_path):
    cache = tmp_path / "cache"
    core = rt.Core()
    core.set_property({"CACHE_DIR": str(cache)})
    first = core.compile_model(ir_path, "CPU")
    assert first.get_property("LOADED_FROM_CACHE") is False
    assert len(os.listdir(cache)) >= 1
    second = rt.Core()
    second.set_property({"CACHE_DIR": str(cache)})
    again = second.compile_model(ir_path, "CPU")
    assert again.get_property("LOADED_FROM_CACHE") is True
    np.testing.assert_allclose(infer(again), expected(), rtol=1e-6)
    np.testing.assert_allclose(infer(first), expected(), rtol=1e-6)
    assert again.input(0).get_any_name() == "x"
    assert list(again.input(0).get_shape()) == [1, 4]


def test_cache_dir_in_the_compile_config(rt, tmp_path, ir_path):
    config = {"CACHE_DIR": str(tmp_path / "c")}
    assert rt.Core().compile_model(ir_path, "CPU", config).get_property("LOADED_FROM_CACHE") is False
    cached = rt.Core().compile_model(ir_path, "CPU", config)
    assert cached.get_property("LOADED_FROM_CACHE") is True
    np.testing.assert_allclose(infer(cached), expected(), rtol=1e-6)
    # Without CACHE_DIR nothing is cached.
    assert rt.Core().compile_model(ir_path, "CPU").get_property("LOADED_FROM_CACHE") is False


def test_model_objects_are_keyed_by_their_content(rt, tmp_path):
    config = {"CACHE_DIR": str(tmp_path)}
    core = rt.Core()
    model = matmul_model(rt)
    assert core.compile_model(model, "CPU", config).get_property("LOADED_FROM_CACHE") is False
    same = core.compile_model(model, "CPU", config)
    assert same.get_property("LOADED_FROM_CACHE") is True
    np.testing.assert_allclose(infer(same), expected(), rtol=1e-6)
    other_w = W * 2
    changed = core.compile_model(matmul_model(rt, other_w), "CPU", config)
    assert changed.get_property("LOADED_FROM_CACHE") is False
    np.testing.assert_allclose(infer(changed), expected(other_w), rtol=1e-6)


def test_a_changed_file_misses(rt, tmp_path, ir_path):
    config = {"CACHE_DIR": str(tmp_path / "c")}
    core = rt.Core()
    core.compile_model(ir_path, "CPU", config)
    assert core.compile_model(ir_path, "CPU", config).get_property("LOADED_FROM_CACHE") is True
    # A rewritten model file (new contents, new modification time) is compiled again.
    rt.save_model(matmul_model(rt, W * 3), ir_path, compress_to_fp16=False)
    stat = os.stat(ir_path)
    os.utime(ir_path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    rewritten = core.compile_model(ir_path, "CPU", config)
    assert rewritten.get_property("LOADED_FROM_CACHE") is False
    np.testing.assert_allclose(infer(rewritten), expected(W * 3), rtol=1e-6)


def test_a_changed_config_misses(rt_name, tmp_path):
    """ferrovino keys blobs by the whole compile configuration, as the issue asks (OpenVINO's CPU plugin keys only
    the few properties that change its blob, so a new hint hits there)."""
    if rt_name != "ferrovino":
        pytest.skip("OpenVINO's CPU plugin reuses a blob across hints")
    import ferrovino as ov

    config = {"CACHE_DIR": str(tmp_path)}
    core = ov.Core()
    model = matmul_model(ov)
    core.compile_model(model, "CPU", config)
    throughput = {**config, "PERFORMANCE_HINT": "THROUGHPUT"}
    assert core.compile_model(model, "CPU", throughput).get_property("LOADED_FROM_CACHE") is False
    cached = core.compile_model(model, "CPU", throughput)
    assert cached.get_property("LOADED_FROM_CACHE") is True
    assert str(cached.get_property("PERFORMANCE_HINT")).endswith("THROUGHPUT")
    assert len(blobs(tmp_path)) == 2
    # CACHE_DIR itself is not part of the key, and a device-wide property counts as config.
    core.set_property("CPU", {"PERFORMANCE_HINT": "THROUGHPUT"})
    assert core.compile_model(model, "CPU", config).get_property("LOADED_FROM_CACHE") is True


def test_a_cached_onnx_compile_does_not_read_the_file(rt_name, tmp_path):
    if rt_name != "ferrovino":
        pytest.skip("checks that ferrovino's reader is not called")
    import ferrovino as ov
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])],
        [numpy_helper.from_array(W, "w")])
    path = tmp_path / "m.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    config = {"CACHE_DIR": str(tmp_path / "c")}
    ov.Core().compile_model(path, "CPU", config)

    class NoReading(ov.Core):
        def read_model(self, *args, **kwargs):
            raise AssertionError("the cached compile read the model")

    cached = NoReading().compile_model(str(path), "CPU", config)
    assert cached.get_property("LOADED_FROM_CACHE") is True
    np.testing.assert_allclose(cached({"x": X})["y"], X @ W, rtol=1e-6)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped", "empty"])
def test_a_damaged_blob_warns_and_recompiles(rt_name, tmp_path, damage):
    if rt_name != "ferrovino":
        pytest.skip("ferrovino's blob files")
    import ferrovino as ov

    cache = tmp_path / "c"
    config = {"CACHE_DIR": str(cache)}
    path = tmp_path / "model.xml"
    ov.save_model(matmul_model(ov), path, compress_to_fp16=False)
    ov.Core().compile_model(path, "CPU", config)
    [name] = blobs(cache)
    blob = (cache / name).read_bytes()
    damaged = {
        "garbage": b"not a blob at all",
        "truncated": blob[: len(blob) // 2],
        "flipped": blob[:-60] + bytes([blob[-60] ^ 0xFF]) + blob[-59:],
        "empty": b"",
    }[damage]
    (cache / name).write_bytes(damaged)
    with pytest.warns(RuntimeWarning, match="cannot be used"):
        compiled = ov.Core().compile_model(path, "CPU", config)
    assert compiled.get_property("LOADED_FROM_CACHE") is False
    np.testing.assert_allclose(infer(compiled), expected(), rtol=1e-6)
    # The recompilation stored a good blob again.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ov.Core().compile_model(path, "CPU", config).get_property("LOADED_FROM_CACHE") is True


def test_export_import_round_trip(rt):
    core = rt.Core()
    compiled = core.compile_model(matmul_model(rt), "CPU")
    exported = compiled.export_model()
    assert isinstance(exported, io.BytesIO) and len(exported.getvalue()) > 0
    for blob in (exported, exported.getvalue()):
        imported = core.import_model(blob, "CPU")
        np.testing.assert_allclose(infer(imported), expected(), rtol=1e-6)
        assert imported.input(0).get_any_name() == "x"
        assert imported.get_property("LOADED_FROM_CACHE") is False
    stream = io.BytesIO()
    assert compiled.export_model(stream) is None
    assert stream.getvalue() == exported.getvalue()
    np.testing.assert_allclose(infer(core.import_model(stream, "CPU")), expected(), rtol=1e-6)


def test_import_with_a_config(rt, tmp_path):
    core = rt.Core()
    path = tmp_path / "model.blob"
    path.write_bytes(core.compile_model(matmul_model(rt), "CPU").export_model().getvalue())
    imported = core.import_model(path.read_bytes(), "CPU", {"PERFORMANCE_HINT": "THROUGHPUT"})
    assert str(imported.get_property("PERFORMANCE_HINT")).endswith("THROUGHPUT")
    np.testing.assert_allclose(infer(imported), expected(), rtol=1e-6)


def test_importing_garbage_is_an_error(rt):
    with pytest.raises(RuntimeError):
        rt.Core().import_model(b"\x00" * 100, "CPU")
