"""The models of `benches/compare.py`, in small variants of the same architectures, give ONNX Runtime's outputs in
the runtime under test (correctness only; the timing lives in the benchmark)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benches"))
import compare  # noqa: E402
import models  # noqa: E402

SMALL = {
    "bert": (lambda: models.build_bert(layers=2, hidden=128, heads=4, ffn=512, seq=32, vocab=1000),
             lambda: models.bert_feeds(32, 1000, seed=3)),
    "yolo": (lambda: models.build_yolo(size=160), lambda: models.image_feeds("images", 160, seed=3)),
    "mobilenet": (lambda: models.build_mobilenet_v2(size=96, width=0.5), lambda: models.image_feeds("input", 96, 3)),
    "resnet50": (models.build_resnet50, lambda: models.image_feeds("gpu_0/data_0", 224, seed=3)),
}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_benchmark_model_matches_onnxruntime(rt, name):
    build, feeds_of = SMALL[name]
    data = build().SerializeToString()
    feeds = feeds_of()
    want = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feeds)
    core = rt.Core()
    got = list(core.compile_model(core.read_model(data), "CPU").create_infer_request().infer(feeds).values())
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert np.std(w) > 1e-3, "the random weights should give a non-constant output"
        np.testing.assert_allclose(g, w, rtol=1e-3, atol=1e-4)


def test_small_models_have_the_advertised_shapes():
    bert = models.build_bert(layers=1, hidden=64, heads=2, ffn=128, seq=16, vocab=50)
    assert [o.name for o in bert.graph.output] == ["last_hidden_state"]
    assert sum(n.op_type == "LayerNormalization" for n in bert.graph.node) == 3
    yolo = models.build_yolo(size=64)
    dims = [d.dim_value for d in yolo.graph.output[0].type.tensor_type.shape.dim]
    assert dims == [1, 84, 8 * 8 + 4 * 4 + 2 * 2]
    mobilenet = models.build_mobilenet_v2(size=32, width=0.5, classes=10)
    groups = [onnx.helper.get_attribute_value(a) for n in mobilenet.graph.node for a in n.attribute if a.name == "group"]
    assert sum(g > 1 for g in groups) == 17  # one depthwise conv per inverted residual block


def test_interleaved_orders_balance_who_goes_after_whom():
    orders = compare.cycle_orders(["a", "b", "c"], 12)
    assert all(sorted(o) == ["a", "b", "c"] for o in orders)
    pairs = [(o[i], o[i + 1]) for o in orders for i in range(2)]
    assert len({p: pairs.count(p) for p in pairs}) == 6 and len(set(map(pairs.count, pairs))) == 1


def test_max_abs_diff_flags_nan_and_shape_mismatch():
    a = np.zeros((2, 2), np.float32)
    assert compare.max_abs_diff([a], [a + 0.5]) == 0.5
    assert compare.max_abs_diff([a], [np.zeros((4,), np.float32)]) == float("inf")
    assert np.isnan(compare.max_abs_diff([a + np.nan], [a]))
