"""Custom ops written in Python (issue 6, item 10): built graphs, IR files through Core.add_extension, ONNX
custom-domain nodes, and errors from the Python side.

Every test takes the runtime under test (`rt`), so `--runtime=openvino` runs the same checks on OpenVINO itself;
the few ferrovino-only forms (an ONNX node converted by registering the op class alone) are marked.
"""

from __future__ import annotations

import importlib
import types

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402


def _swish(x: np.ndarray, beta: float) -> np.ndarray:
    return x / (1.0 + np.exp(-beta * x))


def define_ops(rt) -> types.SimpleNamespace:
    """The custom op classes of the tests, subclassing the runtime's ``Op``."""

    class MySwish(rt.Op):
        """x * sigmoid(beta * x); attributes kept in a dict, so reading an IR updates them in place (set before
        ``super().__init__``, which runs type inference when inputs are given)."""

        def __init__(self, inputs=None, attrs=None):
            self._attrs = {"beta": 1.0}
            self._attrs.update(attrs or {})
            super().__init__(self, inputs)

        def validate_and_infer_types(self):
            self.set_output_type(0, self.get_input_element_type(0), self.get_input_partial_shape(0))

        def clone_with_new_inputs(self, new_inputs):
            return MySwish(new_inputs, self._attrs)

        def evaluate(self, outputs, inputs):
            x = inputs[0].data
            outputs[0].shape = inputs[0].shape
            outputs[0].data[:] = _swish(x, float(self._attrs["beta"]))
            return True

        def has_evaluate(self):
            return True

        def visit_attributes(self, visitor):
            visitor.on_attributes(self._attrs)
            return True

    class ScaleArgMax(rt.Op):
        """Two outputs: x * scale, and the i64 argmax of x along ``axis`` (attributes: axis, scale, mode)."""

        def __init__(self, inputs=None, attrs=None):
            self._attrs = {"axis": 0, "scale": 1.0, "mode": "max"}
            self._attrs.update(attrs or {})
            super().__init__(self, inputs)

        def validate_and_infer_types(self):
            shape = self.get_input_partial_shape(0)
            axis = int(self._attrs["axis"])
            dims = [shape[i] for i in range(shape.rank.get_length()) if i != axis]
            self.set_output_type(0, self.get_input_element_type(0), shape)
            self.set_output_type(1, rt.Type.i64, rt.PartialShape(dims))

        def clone_with_new_inputs(self, new_inputs):
            return ScaleArgMax(new_inputs, self._attrs)

        def evaluate(self, outputs, inputs):
            x = inputs[0].data
            pick = np.argmax if self._attrs["mode"] == "max" else np.argmin
            index = pick(x, axis=int(self._attrs["axis"])).astype(np.int64)
            outputs[0].shape = x.shape
            outputs[0].data[:] = x * float(self._attrs["scale"])
            outputs[1].shape = index.shape
            outputs[1].data[:] = index
            return True

        def has_evaluate(self):
            return True

        def visit_attributes(self, visitor):
            visitor.on_attributes(self._attrs)
            return True

    class Boom(rt.Op):
        """Raises from evaluate; its type inference accepts matrices only."""

        def __init__(self, inputs=None):
            super().__init__(self, inputs)

        def validate_and_infer_types(self):
            if self.get_input_partial_shape(0).rank.get_length() != 2:
                raise ValueError("Boom takes a matrix")
            self.set_output_type(0, self.get_input_element_type(0), self.get_input_partial_shape(0))

        def clone_with_new_inputs(self, new_inputs):
            return Boom(new_inputs)

        def evaluate(self, outputs, inputs):
            raise ValueError("boom from evaluate")

        def has_evaluate(self):
            return True

    class WrongShape(rt.Op):
        """Writes an output of a shape other than the one it infers."""

        def __init__(self, inputs=None):
            super().__init__(self, inputs)

        def validate_and_infer_types(self):
            self.set_output_type(0, self.get_input_element_type(0), self.get_input_partial_shape(0))

        def clone_with_new_inputs(self, new_inputs):
            return WrongShape(new_inputs)

        def evaluate(self, outputs, inputs):
            outputs[0].shape = [7]
            outputs[0].data[:] = 1
            return True

        def has_evaluate(self):
            return True

    return types.SimpleNamespace(MySwish=MySwish, ScaleArgMax=ScaleArgMax, Boom=Boom, WrongShape=WrongShape)


@pytest.fixture(scope="module")
def ops(rt):
    return define_ops(rt)


@pytest.fixture(scope="module")
def opset(rt):
    return importlib.import_module(f"{rt.__name__}.opset16")


def _run(rt, model, *inputs):
    compiled = rt.Core().compile_model(model, "CPU")
    result = compiled(list(inputs))
    return [result[i] for i in range(len(compiled.outputs))]


X = np.array([[1.0, -2.0, 3.0], [-1.0, 0.0, 0.5]], np.float32)


def test_custom_op_in_a_built_graph(rt, ops, opset):
    p = opset.parameter([2, 3], np.float32, name="x")
    node = ops.MySwish([p.output(0)], {"beta": 2.0})
    assert node.get_type_name() == "MySwish"
    assert node.get_type_info().version_id == "extension"
    assert node.get_attributes() == {"beta": 2.0}
    assert node.get_output_partial_shape(0) == rt.PartialShape([2, 3])
    relu = opset.relu(node)
    model = rt.Model([relu], [p], "m")
    assert model.get_ordered_ops()[1] is node
    (out,) = _run(rt, model, X)
    np.testing.assert_allclose(out, np.maximum(_swish(X, 2.0), 0), rtol=1e-6)


def test_custom_op_with_two_outputs_and_attributes(rt, ops, opset):
    p = opset.parameter([2, 3], np.float32, name="x")
    node = ops.ScaleArgMax([p.output(0)], {"axis": 1, "scale": 3.0})
    assert node.get_output_size() == 2
    assert node.get_output_element_type(1) == rt.Type.i64
    assert node.get_output_partial_shape(1) == rt.PartialShape([2])
    scaled, index = _run(rt, rt.Model(node.outputs(), [p], "m"), X)
    np.testing.assert_allclose(scaled, X * 3.0)
    np.testing.assert_array_equal(index, np.argmax(X, axis=1))
    assert index.dtype == np.int64


def test_dynamic_input_shape_and_reshape_reinfer(rt, ops, opset):
    p = opset.parameter([-1, 3], np.float32, name="x")
    node = ops.MySwish([p.output(0)], {"beta": 0.5})
    assert node.get_output_partial_shape(0) == rt.PartialShape([-1, 3])
    model = rt.Model([node], [p], "m")
    compiled = rt.Core().compile_model(model, "CPU")
    for rows in (1, 4):
        x = np.linspace(-3, 3, rows * 3, dtype=np.float32).reshape(rows, 3)
        np.testing.assert_allclose(compiled(x)[0], _swish(x, 0.5), rtol=1e-6)
    model.reshape([5, 3])
    assert model.output(0).get_partial_shape() == rt.PartialShape([5, 3])
    x = np.ones((5, 3), np.float32)
    np.testing.assert_allclose(_run(rt, model, x)[0], _swish(x, 0.5), rtol=1e-6)


def test_type_inference_error_is_the_python_exception(rt, ops, opset):
    with pytest.raises(ValueError, match="Boom takes a matrix"):
        ops.Boom([opset.parameter([3], np.float32)])


def test_exception_in_evaluate_reaches_the_caller(rt, ops, opset):
    p = opset.parameter([2, 3], np.float32)
    model = rt.Model([ops.Boom([p])], [p], "m")
    with pytest.raises((RuntimeError, ValueError), match="boom from evaluate"):
        _run(rt, model, X)


def test_wrong_output_shape_from_evaluate_is_an_error(rt, ops, opset):
    p = opset.parameter([2, 3], np.float32)
    model = rt.Model([ops.WrongShape([p])], [p], "m")
    with pytest.raises(RuntimeError, match="WrongShape"):
        _run(rt, model, X)


def test_ir_round_trip_needs_the_extension(rt, ops, opset, tmp_path):
    p = opset.parameter([2, 3], np.float32, name="x")
    swish = ops.MySwish([p.output(0)], {"beta": 1.5})
    pair = ops.ScaleArgMax([swish.output(0)], {"axis": 0, "scale": -2.0, "mode": "min"})
    model = rt.Model(pair.outputs(), [p], "custom")
    expected = _run(rt, model, X)
    path = tmp_path / "custom.xml"
    rt.save_model(model, path)

    with pytest.raises(RuntimeError, match="MySwish"):
        rt.Core().read_model(path)

    core = rt.Core()
    core.add_extension(ops.MySwish)
    core.add_extension(ops.ScaleArgMax)
    read = core.read_model(path)
    by_type = {n.get_type_name(): n for n in read.get_ordered_ops()}
    assert by_type["MySwish"].get_attributes() == {"beta": 1.5}
    assert by_type["ScaleArgMax"].get_attributes() == {"axis": 0, "scale": -2.0, "mode": "min"}
    got = [r for r in core.compile_model(read, "CPU")(X).values()]
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-6)
    np.testing.assert_array_equal(got[1], expected[1])
    np.testing.assert_allclose(got[0], _swish(X, 1.5) * -2.0, rtol=1e-6)
    np.testing.assert_array_equal(got[1], np.argmin(_swish(X, 1.5), axis=0))


def test_op_extension_object_registers_the_class(rt, ops, opset, tmp_path):
    p = opset.parameter([2, 3], np.float32, name="x")
    path = tmp_path / "swish.xml"
    rt.save_model(rt.Model([ops.MySwish([p], {"beta": 3.0})], [p], "m"), path)
    core = rt.Core()
    core.add_extension([rt.OpExtension(ops.MySwish)])
    out = core.compile_model(core.read_model(path), "CPU")(X)[0]
    np.testing.assert_allclose(out, _swish(X, 3.0), rtol=1e-6)


def test_native_extension_libraries_are_refused(rt):
    with pytest.raises(RuntimeError) as info:
        rt.Core().add_extension("/nonexistent/libcustom_ops.so")
    assert "libcustom_ops.so" in str(info.value)


def _onnx_model(op_type: str = "CustomSwish", domain: str = "my.domain") -> bytes:
    node = helper.make_node(op_type, ["x"], ["y"], domain=domain, beta=2.0)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(domain, 1)]
    )
    return model.SerializeToString()


def test_onnx_custom_domain_without_extension_is_a_clear_error(rt):
    with pytest.raises(RuntimeError, match="CustomSwish"):
        rt.Core().read_model(_onnx_model())


def test_onnx_custom_domain_through_a_conversion_extension(rt, ops, tmp_path):
    frontend_onnx = importlib.import_module(f"{rt.__name__}.frontend.onnx")
    path = tmp_path / "custom.onnx"
    path.write_bytes(_onnx_model())

    def convert(context):
        beta = context.get_attribute("beta")
        return ops.MySwish([context.get_input(0)], {"beta": beta}).outputs()

    core = rt.Core()
    core.add_extension(frontend_onnx.ConversionExtension("CustomSwish", "my.domain", convert))
    model = core.read_model(path)
    assert [n.get_type_name() for n in model.get_ordered_ops()] == ["Parameter", "MySwish", "Result"]
    out = core.compile_model(model, "CPU")(X)[0]
    np.testing.assert_allclose(out, _swish(X, 2.0), rtol=1e-6)


@pytest.mark.parametrize("maps", [({"alpha": "a"}, {}), ({}, {"alpha": 2.0})])
def test_onnx_custom_domain_mapped_to_an_opset_op(rt, maps):
    frontend_onnx = importlib.import_module(f"{rt.__name__}.frontend.onnx")
    node = helper.make_node("CustomElu", ["x"], ["y"], domain="my.domain", a=0.5)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("my.domain", 1)])
    core = rt.Core()
    core.add_extension(frontend_onnx.OpExtension("Elu", "CustomElu", "my.domain", *maps))
    read = core.read_model(model.SerializeToString())
    (elu,) = [n for n in read.get_ordered_ops() if n.get_type_name() == "Elu"]
    alpha = elu.get_attributes()["alpha"]
    assert alpha == (0.5 if maps[0] else 2.0)
    out = core.compile_model(read, "CPU")(X)[0]
    np.testing.assert_allclose(out, np.where(X > 0, X, alpha * (np.exp(X) - 1)), rtol=1e-6)


@pytest.mark.parametrize("form", ["class", "op_extension"])
def test_onnx_custom_domain_through_the_op_class(rt_name, rt, ops, form):
    if rt_name != "ferrovino":
        pytest.skip("OpenVINO's ONNX frontend maps only opset ops by OpExtension, not Python op classes")
    frontend_onnx = importlib.import_module(f"{rt.__name__}.frontend.onnx")
    core = rt.Core()
    if form == "class":
        core.add_extension(ops.MySwish)
        data = _onnx_model("MySwish")
    else:
        core.add_extension(frontend_onnx.OpExtension(ops.MySwish, "CustomSwish", "my.domain"))
        data = _onnx_model()
    out = core.compile_model(core.read_model(data), "CPU")(X)[0]
    np.testing.assert_allclose(out, _swish(X, 2.0), rtol=1e-6)


def test_custom_op_in_parallel_requests(rt, ops, opset):
    p = opset.parameter([-1, 3], np.float32, name="x")
    model = rt.Model([ops.MySwish([p], {"beta": 1.0})], [p], "m")
    compiled = rt.Core().compile_model(model, "CPU", {"NUM_STREAMS": 2})
    results = {}
    queue = rt.AsyncInferQueue(compiled, 2)
    queue.set_callback(lambda request, i: results.__setitem__(i, request.get_output_tensor(0).data.copy()))
    inputs = [np.full((i + 1, 3), i - 3.0, np.float32) for i in range(6)]
    for i, x in enumerate(inputs):
        queue.start_async({0: x}, i)
    queue.wait_all()
    for i, x in enumerate(inputs):
        np.testing.assert_allclose(results[i], _swish(x, 1.0), rtol=1e-6)


def test_cached_compile_and_import_rebuild_custom_ops(rt, ops, opset, tmp_path):
    p = opset.parameter([2, 3], np.float32, name="x")
    model = rt.Model([ops.MySwish([p], {"beta": 2.0})], [p], "m")
    path = tmp_path / "swish.xml"
    rt.save_model(model, path)
    config = {"CACHE_DIR": str(tmp_path / "cache")}
    for loaded in (False, True):
        core = rt.Core()
        core.add_extension(ops.MySwish)
        compiled = core.compile_model(path, "CPU", config)
        assert compiled.get_property("LOADED_FROM_CACHE") is loaded
        np.testing.assert_allclose(compiled(X)[0], _swish(X, 2.0), rtol=1e-6)
    core = rt.Core()
    core.add_extension(ops.MySwish)
    imported = core.import_model(core.compile_model(model, "CPU").export_model(), "CPU")
    np.testing.assert_allclose(imported(X)[0], _swish(X, 2.0), rtol=1e-6)
