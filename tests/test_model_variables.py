"""Model variable management: ``op.util.Variable``/``VariableInfo``, opset6 ``read_value``/``assign`` built from a
Variable, ``Model(..., variables)``, ``get_variables``, ``get_variable_by_id``, ``add_variables`` and
``remove_variable``. Every test takes the runtime under test (`rt`), so `--runtime=openvino` runs them on OpenVINO.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest


@pytest.fixture(scope="module")
def util(rt):
    return importlib.import_module(f"{rt.__name__}.op.util")


@pytest.fixture(scope="module")
def opset6(rt):
    return importlib.import_module(f"{rt.__name__}.opset6")


def _variable(rt, util, variable_id, data_type, shape):
    info = util.VariableInfo()
    info.variable_id = variable_id
    info.data_type = data_type
    info.data_shape = rt.PartialShape(shape)
    return util.Variable(info)


def _accumulator(rt, util, opset6):
    """state += x, returning the new state; the variable comes from a Variable object."""
    v = _variable(rt, util, "acc", rt.Type.f32, [2, 3])
    x = opset6.parameter([2, 3], np.float32, name="x")
    read = opset6.read_value(opset6.constant(np.zeros((2, 3), np.float32)), v)
    total = opset6.add(read, x)
    write = opset6.assign(total, v)
    return v, x, read, total, write


def test_variable_info_defaults_and_copies(rt, util):
    info = util.VariableInfo()
    assert info.variable_id == ""
    assert info.data_type == rt.Type.dynamic
    v = util.Variable(info)
    info.variable_id = "later"
    assert v.get_info().variable_id == ""
    copy = v.info
    copy.variable_id = "changed"
    assert v.info.variable_id == ""


def test_read_value_and_assign_from_a_variable(rt, util, opset6):
    v, x, read, total, write = _accumulator(rt, util, opset6)
    assert read.get_attributes() == {"variable_id": "acc", "variable_type": "f32", "variable_shape": [2, 3]}
    assert write.get_attributes() == {"variable_id": "acc"}
    model = rt.Model([total.output(0)], [write], [x], "acc")
    request = rt.Core().compile_model(model, "CPU").create_infer_request()
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    request.infer({"x": data})
    out = request.infer({"x": data})
    np.testing.assert_allclose(out[0], 2 * data)


def test_model_variables_come_from_its_nodes(rt, util, opset6):
    _, x, _, total, write = _accumulator(rt, util, opset6)
    model = rt.Model([total.output(0)], [write], [x], "acc")
    found = model.get_variables()
    assert [v.info.variable_id for v in found] == ["acc"]
    assert found[0].info.data_type == rt.Type.f32
    assert found[0].info.data_shape == rt.PartialShape([2, 3])
    assert model.get_variable_by_id("acc").get_info().variable_id == "acc"
    assert model.get_variable_by_id("missing") is None
    without_sinks = rt.Model([total.output(0)], [x], "reads_only")
    assert [v.info.variable_id for v in without_sinks.get_variables()] == ["acc"]


def test_add_and_remove_variables(rt, util, opset6):
    v, x, _, total, write = _accumulator(rt, util, opset6)
    model = rt.Model([total.output(0)], [write], [x], "acc")
    extra = _variable(rt, util, "extra", rt.Type.i32, [1])
    model.add_variables([extra])
    assert [w.info.variable_id for w in model.get_variables()] == ["acc", "extra"]
    assert model.get_variable_by_id("extra").info.data_type == rt.Type.i32
    model.remove_variable(extra)
    assert [w.info.variable_id for w in model.get_variables()] == ["acc"]
    model.remove_variable(v)
    assert model.get_variables() == []


def test_declared_variables_must_cover_the_used_ones(rt, util, opset6):
    v, x, _, total, write = _accumulator(rt, util, opset6)
    extra = _variable(rt, util, "extra", rt.Type.f32, [3])
    model = rt.Model([total.output(0)], [write], [x], [v, extra], "declared")
    assert [w.info.variable_id for w in model.get_variables()] == ["acc", "extra"]
    assert model.friendly_name == "declared"
    with pytest.raises(RuntimeError, match="undeclared variables: acc"):
        rt.Model([total.output(0)], [write], [x], [extra], "missing")


def test_variable_update_reaches_its_nodes(rt, util, opset6):
    v, *_rest = _accumulator(rt, util, opset6)
    read, write = _rest[1], _rest[3]
    renamed = v.get_info()
    renamed.variable_id = "renamed"
    v.update(renamed)
    assert v.info.variable_id == "renamed"
    assert read.get_attributes()["variable_id"] == "renamed"
    assert write.get_attributes()["variable_id"] == "renamed"
