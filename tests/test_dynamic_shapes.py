"""Dynamic shapes: Model.reshape in every form OpenVINO accepts (static, dynamic and bounded dimensions), dynamic
models inferred with changing input shapes (values checked against OpenVINO), and set_batch / get_batch.

Every test takes the runtime under test (`rt`), so `--runtime=openvino` runs the same checks on OpenVINO itself.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest


def ops_of(rt):
    return importlib.import_module(f"{rt.__name__}.opset13")


def relu_model(rt, shape=(1, 3, 224, 224)):
    ops = ops_of(rt)
    x = ops.parameter(list(shape), np.float32, name="x")
    return rt.Model([ops.relu(x, name="relu")], [x], "relu_net")


RESHAPES = [
    ([1, 3, -1, 224], "[1,3,?,224]"),
    ("1,3,?,224", "[1,3,?,224]"),
    ("[1,3,..10,224]", "[1,3,..10,224]"),
    ("[?,3,..224,28..224]", "[?,3,..224,28..224]"),
    ("?", "[?]"),
    ("1..10", "[1..10]"),
    ([2, 3, (2, 8), "..5"], "[2,3,2..8,..5]"),
    ([-1, 3, 4, 4], "[?,3,4,4]"),
]


@pytest.mark.parametrize("shape, expected", RESHAPES, ids=[str(s) for s, _ in RESHAPES])
def test_reshape_forms(rt, shape, expected):
    model = relu_model(rt)
    model.reshape(shape)
    assert str(model.input(0).get_partial_shape()) == expected
    assert str(model.output(0).get_partial_shape()) == expected


def test_reshape_with_shape_objects(rt):
    model = relu_model(rt)
    model.reshape(rt.PartialShape([1, 3, 5, 5]))
    assert model.input(0).get_partial_shape() == rt.PartialShape([1, 3, 5, 5])
    assert not model.is_dynamic()
    model.reshape([rt.Dimension(1, 10), rt.Dimension(3), rt.Dimension(-1), 7])
    assert str(model.input(0).get_partial_shape()) == "[1..10,3,?,7]"
    assert model.is_dynamic()


@pytest.mark.parametrize("key", ["name", "index", "port"])
def test_reshape_by_dict(rt, key):
    model = relu_model(rt)
    k = {"name": "x", "index": 0, "port": model.input(0)}[key]
    model.reshape({k: [2, 3, 4, 4]})
    assert model.output(0).get_partial_shape() == rt.PartialShape([2, 3, 4, 4])


def two_inputs(rt):
    ops = ops_of(rt)
    a = ops.parameter([2, 3], np.float32, name="a")
    b = ops.parameter([2, 3], np.float32, name="b")
    return rt.Model([ops.add(a, b)], [a, b], "sum")


def test_reshape_several_inputs_and_errors(rt):
    model = two_inputs(rt)
    model.reshape({"a": [-1, 3], 1: [-1, 3]})
    assert str(model.output(0).get_partial_shape()) == "[?,3]"
    with pytest.raises(RuntimeError):
        model.reshape([4, 3])  # one shape for a model with two inputs
    with pytest.raises(RuntimeError):
        model.reshape({"nope": [4, 3]})
    with pytest.raises(RuntimeError):
        model.reshape({"a": [4, 3], "b": [5, 3]})  # Add cannot broadcast 4 with 5


def small_net(rt):
    """x[?,3,?,?] → Convolution 3x3 → Relu → mean over H, W → MatMul → Softmax."""
    ops = ops_of(rt)
    rng = np.random.default_rng(3)
    x = ops.parameter([-1, 3, -1, -1], np.float32, name="x")
    w = ops.constant(rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
    conv = ops.relu(ops.convolution(x, w, [1, 1], [1, 1], [1, 1], [1, 1]))
    pooled = ops.reduce_mean(conv, ops.constant(np.array([2, 3], np.int64)), False)
    fc = ops.matmul(pooled, ops.constant(rng.standard_normal((4, 5)).astype(np.float32)), False, False)
    return rt.Model([ops.softmax(fc, 1), conv], [x], "small_net")


SHAPES = [(1, 3, 8, 8), (2, 3, 5, 7), (1, 3, 1, 1), (3, 3, 16, 4), (1, 3, 8, 8)]


def test_dynamic_model_with_changing_shapes_matches_openvino(rt, ov):
    ours = rt.Core().compile_model(small_net(rt), "CPU").create_infer_request()
    theirs = ov.Core().compile_model(small_net(ov), "CPU").create_infer_request()
    rng = np.random.default_rng(0)
    for shape in SHAPES:
        x = rng.standard_normal(shape).astype(np.float32)
        got, want = ours.infer({"x": x}), theirs.infer({"x": x})
        for i in range(2):
            assert got[i].shape == want[i].shape
            np.testing.assert_allclose(got[i], want[i], rtol=1e-4, atol=1e-5)
        assert list(ours.get_output_tensor(1).shape) == [shape[0], 4, shape[2], shape[3]]


def test_dynamic_compiled_model_ports(rt):
    compiled = rt.Core().compile_model(small_net(rt), "CPU")
    assert str(compiled.input(0).get_partial_shape()) == "[?,3,?,?]"
    assert str(compiled.output(0).get_partial_shape()) == "[?,5]"
    # Convolution shape inference: a 3x3 window over 1-padded input leaves at least one row and column.
    assert str(compiled.output(1).get_partial_shape()) == "[?,4,1..,1..]"


def test_reused_request_gives_the_results_of_fresh_ones(rt):
    compiled = rt.Core().compile_model(small_net(rt), "CPU")
    request = compiled.create_infer_request()
    rng = np.random.default_rng(1)
    for shape in SHAPES:
        x = rng.standard_normal(shape).astype(np.float32)
        reused = request.infer([x])[0].copy()
        fresh = compiled.create_infer_request().infer([x])[0]
        np.testing.assert_array_equal(reused, fresh)


def test_bounded_dimension_accepts_only_shapes_inside(rt):
    model = relu_model(rt, (1, 3, 4, 4))
    model.reshape([(1, 4), 3, 4, 4])
    request = rt.Core().compile_model(model, "CPU").create_infer_request()
    x = np.linspace(-1, 1, 4 * 48, dtype=np.float32).reshape(4, 3, 4, 4)
    np.testing.assert_array_equal(request.infer([x])[0], np.maximum(x, 0))
    with pytest.raises(RuntimeError):
        request.infer([np.ones((5, 3, 4, 4), np.float32)])


def test_reshape_then_compile_static(rt, ov):
    results = []
    for r in (rt, ov):
        model = small_net(r)
        model.reshape([2, 3, 6, 6])
        compiled = r.Core().compile_model(model, "CPU")
        assert compiled.output(1).get_partial_shape() == r.PartialShape([2, 4, 6, 6])
        results.append(compiled({0: np.linspace(0, 1, 216, dtype=np.float32).reshape(2, 3, 6, 6)})[0])
    np.testing.assert_allclose(results[0], results[1], rtol=1e-4, atol=1e-6)


# set_batch / get_batch


def layout_model(rt, layout=None, shape=(2, 3, 4, 4)):
    model = relu_model(rt, shape)
    if layout:
        model.get_parameters()[0].set_layout(rt.Layout(layout))
    return model


@pytest.mark.parametrize("layout, shape, batch", [
    ("NCHW", (2, 3, 4, 4), "2"), ("NHWC", (2, 3, 4, 4), "2"), ("CHWN", (2, 3, 4, 4), "4"),
    ("N...", (7, 3, 4, 4), "7"), ("...N", (2, 3, 4, 6), "6"), ("NCHW", (-1, 3, 4, 4), "?"),
])
def test_get_batch(rt, layout, shape, batch):
    assert str(rt.get_batch(layout_model(rt, layout, shape))) == batch


def test_get_batch_needs_a_layout(rt):
    with pytest.raises(RuntimeError, match="batch is not set in any layout"):
        rt.get_batch(layout_model(rt))


@pytest.mark.parametrize("size, expected", [
    (5, "[5,3,4,4]"), (-1, "[?,3,4,4]"), ("default", "[?,3,4,4]"), ("bounded", "[1..8,3,4,4]"),
])
def test_set_batch(rt, size, expected):
    model = layout_model(rt, "NCHW")
    if size == "default":
        rt.set_batch(model)
    else:
        rt.set_batch(model, rt.Dimension(1, 8) if size == "bounded" else size)
    assert str(model.input(0).get_partial_shape()) == expected
    assert str(model.output(0).get_partial_shape()) == expected


def test_set_batch_without_layout_fails_and_keeps_the_model(rt):
    model = layout_model(rt)
    with pytest.raises(RuntimeError, match="batch is not set in any layout"):
        rt.set_batch(model, 5)
    assert str(model.input(0).get_partial_shape()) == "[2,3,4,4]"


def batch_pair(rt, second_layout):
    ops = ops_of(rt)
    x = ops.parameter([2, 3, 4, 4], np.float32, name="x")
    y = ops.parameter([2, 5], np.float32, name="y")
    x.set_layout(rt.Layout("NCHW"))
    if second_layout:
        y.set_layout(rt.Layout(second_layout))
    return rt.Model([ops.relu(x), ops.relu(y)], [x, y], "pair")


def test_set_batch_changes_only_inputs_with_a_batch(rt, ov):
    for r in (rt, ov):
        model = batch_pair(r, None)
        r.set_batch(model, 3)
        assert [str(i.get_partial_shape()) for i in model.inputs] == ["[3,3,4,4]", "[2,5]"]
        model = batch_pair(r, "NC")
        assert str(r.get_batch(model)) == "2"
        r.set_batch(model, 4)
        assert [str(i.get_partial_shape()) for i in model.inputs] == ["[4,3,4,4]", "[4,5]"]


def test_conflicting_batches(rt):
    model = batch_pair(rt, "CN")  # x says 2, y says 5
    with pytest.raises(RuntimeError, match="conflicting batch values"):
        rt.get_batch(model)
    with pytest.raises(RuntimeError, match="conflicting batch values"):
        rt.set_batch(model, 3)
    assert [str(i.get_partial_shape()) for i in model.inputs] == ["[2,3,4,4]", "[2,5]"]


def test_set_batch_then_infer_matches_openvino(rt, ov):
    x = np.linspace(-1, 1, 6 * 3 * 8 * 8, dtype=np.float32).reshape(6, 3, 8, 8)
    outputs = []
    for r in (rt, ov):
        model = small_net(r)
        model.reshape([1, 3, 8, 8])
        model.get_parameters()[0].set_layout(r.Layout("NCHW"))
        r.set_batch(model, 6)
        outputs.append(r.Core().compile_model(model, "CPU")({0: x})[0])
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-4, atol=1e-6)


def test_layout_round_trip(rt):
    p = ops_of(rt).parameter([1, 3, 4, 4], np.float32, name="x")
    assert p.get_layout() == rt.Layout()
    p.set_layout(rt.Layout("NCHW"))
    assert p.get_layout() == rt.Layout("NCHW")
    assert p.get_layout().get_index_by_name("C") == 1
