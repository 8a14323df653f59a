"""The Python API of `ferrovino`, checked against OpenVINO's: reprs, argument forms, tensor sharing, OVDict keys,
error classes and messages, and input normalisation at inference.

Every test takes the runtime under test (`rt`), so `--runtime=openvino` runs the same checks on OpenVINO itself.
Repr tests build the same object with both runtimes and compare the strings.
"""

from __future__ import annotations

import copy
import importlib
import threading

import numpy as np
import pytest

ov = pytest.importorskip("openvino")


def opset(rt):
    """The opset13 builder module of a runtime."""
    return importlib.import_module(f"{rt.__name__}.opset13")


def relu_model(rt, shape=(1, 3), dtype=np.float32, name="net"):
    """x -> Relu -> Result 'out', every name explicit so that reprs are comparable across runtimes."""
    ops = opset(rt)
    p = ops.parameter(list(shape), dtype, name="x")
    r = ops.relu(p, name="relu")
    res = ops.result(r, name="out")
    return rt.Model([res], [p], name)


def add_model(rt, shape=(2, 3)):
    """Two inputs 'a' and 'b' -> Add -> Result."""
    ops = opset(rt)
    a = ops.parameter(list(shape), np.float32, name="a")
    b = ops.parameter(list(shape), np.float32, name="b")
    s = ops.add(a, b, name="sum")
    return rt.Model([s], [a, b], "adder")


@pytest.fixture
def cpu(rt):
    return rt.Core()


# ---------------------------------------------------------------------------------------------------------------
# Type, Shape, PartialShape, Dimension, Layout


TYPES = ["boolean", "bf16", "f16", "f32", "f64", "i4", "i8", "i16", "i32", "i64", "u1", "u4", "u8", "u16", "u32",
         "u64", "dynamic"]


@pytest.mark.parametrize("name", TYPES)
def test_type_matches_openvino(rt, name):
    mine, theirs = getattr(rt.Type, name), getattr(ov.Type, name)
    assert repr(mine) == repr(theirs)
    assert str(mine) == str(theirs)
    assert mine.type_name == theirs.type_name == mine.get_type_name()
    assert (mine.size, mine.bitwidth) == (theirs.size, theirs.bitwidth)
    for q in ("is_real", "is_integral", "is_signed", "is_static", "is_dynamic", "is_integral_number"):
        assert getattr(mine, q)() == getattr(theirs, q)(), q
    if name != "dynamic":
        assert mine.to_dtype() == theirs.to_dtype()


def test_constant_nodes_give_their_values(rt):
    """A Constant found among a model's ops hands out its values: get_data (read-only, or a writable copy, or
    converted), data, get_vector (flat) and get_byte_size, as OpenVINO's op.Constant does."""
    ops = opset(rt)
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    relu = ops.relu(ops.constant(values), name="relu")
    model = rt.Model([ops.result(relu)], [], "constants")
    const = next(op for op in model.get_ops() if op.get_type_name() == "Constant")
    data = const.get_data()
    assert data.shape == (2, 3) and data.dtype == np.float32 and not data.flags.writeable
    np.testing.assert_array_equal(data, values)
    np.testing.assert_array_equal(const.data, values)
    np.testing.assert_array_equal(const.get_vector(), values.ravel())
    assert const.get_data(dtype=np.int32).dtype == np.int32
    assert const.get_data(copy=True).flags.writeable
    assert const.get_byte_size() == 24
    if rt.__name__ == "ferrovino":
        with pytest.raises(TypeError, match="only Constant"):
            relu.get_data()


def test_type_construction_and_equality(rt):
    assert rt.Type(np.float32) == rt.Type.f32
    assert rt.Type("int64") == rt.Type.i64
    assert rt.Type(np.dtype("bool")) == rt.Type.boolean
    assert hash(rt.Type.f32) == hash(rt.Type(np.float32))
    assert rt.Type.f32 != rt.Type.f16
    assert rt.Type.f32.compatible(rt.Type.dynamic)
    assert rt.Type.f32.merge(rt.Type.i32) is None
    with pytest.raises(TypeError):
        rt.Type("not_a_type")


@pytest.mark.parametrize("dims", [[1, 2, 3], [], [0, 7]])
def test_shape(rt, dims):
    s = rt.Shape(dims)
    assert repr(s) == repr(ov.Shape(dims))
    assert str(s) == str(ov.Shape(dims))
    assert s == dims and s == tuple(dims) and list(s) == dims and len(s) == len(dims)
    if dims:
        assert s[-1] == dims[-1]
        assert list(s[::2]) == dims[::2]
        assert isinstance(s[::2], rt.Shape)


@pytest.mark.parametrize(
    "spec",
    [[1, 2, 3], [1, -1, (2, 5)], [-1, (0, 10), (10, -1)], "[?,3,..224,28..224]", "?,3", [], "..."],
)
def test_partial_shape_matches_openvino(rt, spec):
    mine, theirs = rt.PartialShape(spec), ov.PartialShape(spec)
    assert repr(mine) == repr(theirs)
    assert str(mine) == str(theirs)
    assert mine.is_static == theirs.is_static and mine.is_dynamic == theirs.is_dynamic
    assert repr(mine.rank) == repr(theirs.rank)
    if theirs.rank.is_static:
        assert len(mine) == len(theirs)
        assert [repr(d) for d in mine] == [repr(d) for d in theirs]
        assert list(mine.get_min_shape()) == list(theirs.get_min_shape())
        assert list(mine.get_max_shape()) == list(theirs.get_max_shape())


def test_partial_shape_api(rt):
    p = rt.PartialShape([1, -1, 3])
    assert p[1].is_dynamic and p[-1] == 3 and p.get_dimension(0) == 1
    p[1] = 8
    assert p.is_static and p.to_shape() == [1, 8, 3]
    assert p == [1, 8, 3] and p == rt.PartialShape([1, 8, 3])
    assert rt.PartialShape(rt.Shape([2, 2])) == [2, 2]
    assert repr(rt.PartialShape.dynamic()) == "<PartialShape: [...]>"
    assert repr(rt.PartialShape.dynamic(3)) == "<PartialShape: [?,?,?]>"
    assert rt.PartialShape([1, -1]).compatible(rt.PartialShape([1, 5]))
    assert rt.PartialShape([1, 5]).refines(rt.PartialShape([1, -1]))
    assert rt.PartialShape([1, -1]).relaxes(rt.PartialShape([1, 5]))
    with pytest.raises(RuntimeError, match="dynamic"):
        rt.PartialShape([1, -1]).to_shape()
    with pytest.raises(TypeError):
        rt.PartialShape(3.5)


@pytest.mark.parametrize("args", [(), (3,), (2, 5), (0, 10), (10, -1), ("5..10",), ("?",), (-1,)])
def test_dimension_matches_openvino(rt, args):
    mine, theirs = rt.Dimension(*args), ov.Dimension(*args)
    assert repr(mine) == repr(theirs)
    assert str(mine) == str(theirs)
    assert mine.is_static == theirs.is_static
    assert (mine.get_min_length(), mine.get_max_length()) == (theirs.get_min_length(), theirs.get_max_length())


def test_dimension_api(rt):
    assert rt.Dimension(3) == 3 and rt.Dimension() == -1 and rt.Dimension(3) != 2
    assert rt.Dimension(3).get_length() == 3 and len(rt.Dimension(3)) == 3
    assert rt.Dimension(2, 5).min_length == 2 and rt.Dimension(2, 5).max_length == 5
    assert rt.Dimension(3).compatible(rt.Dimension(2, 5)) and not rt.Dimension(6).compatible(rt.Dimension(2, 5))
    assert rt.Dimension(3).refines(rt.Dimension(2, 5))
    with pytest.raises(RuntimeError, match="dynamic dimension"):
        rt.Dimension(2, 5).get_length()


@pytest.mark.parametrize("text", ["NCHW", "nchw", "N...C", "[N,C,H,W]", "?CHW", ""])
def test_layout_matches_openvino(rt, text):
    mine, theirs = rt.Layout(text), ov.Layout(text)
    assert repr(mine) == repr(theirs)
    assert mine.to_string() == theirs.to_string()
    assert mine.empty == theirs.empty


def test_layout_api(rt):
    assert repr(rt.Layout.scalar()) == repr(ov.Layout.scalar())
    lay = rt.Layout("N...C")
    assert lay.get_index_by_name("C") == -1 and lay.has_name("N") and not lay.has_name("H")
    assert rt.Layout("NC") == "NC" and rt.Layout("NC") == rt.Layout("[N,C]")
    with pytest.raises(RuntimeError):
        rt.Layout("NC").get_index_by_name("H")


# ---------------------------------------------------------------------------------------------------------------
# Tensor


def test_tensor_copy_and_share(rt):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    copied = rt.Tensor(a)
    shared = rt.Tensor(a, shared_memory=True)
    a[0, 0] = 100
    assert copied.data[0, 0] == 0 and shared.data[0, 0] == 100
    shared.data[0, 1] = 7
    assert a[0, 1] == 7
    assert np.shares_memory(shared.data, a) and not np.shares_memory(copied.data, a)
    # data is a view of the tensor's memory, not a copy.
    view = copied.data
    view[1, 1] = -1
    assert copied.data[1, 1] == -1
    assert repr(copied) == repr(ov.Tensor(a)) == "<Tensor: shape[2,3] type: f32>"
    assert copied.shape == [2, 3] and isinstance(copied.shape, rt.Shape)
    assert copied.element_type == rt.Type.f32 and copied.size == 6 and copied.byte_size == 24
    assert list(copied.strides) == [12, 4]


def test_tensor_constructors(rt):
    assert rt.Tensor(rt.Type.f32, [2, 3]).data.shape == (2, 3)
    assert rt.Tensor(np.float32, [2]).element_type == rt.Type.f32
    assert rt.Tensor("float32", [2]).element_type == rt.Type.f32
    t = rt.Tensor([1, 2, 3])
    assert t.element_type == rt.Type.i64 and list(t.data) == [1, 2, 3]
    assert list(rt.Tensor(np.ones((2, 3), np.float32)[:, :2]).shape) == [2, 2]
    assert list(rt.Tensor(np.array(3, np.int32)).shape) == []
    with pytest.raises(RuntimeError, match="C contiguous"):
        rt.Tensor(np.ones((2, 3), np.float32)[:, :2], shared_memory=True)


@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64,
                                   np.uint64, np.float16, np.float32, np.float64])
def test_tensor_from_each_numpy_dtype(rt, dtype):
    a = (np.arange(6) % 3).astype(dtype).reshape(2, 3)
    for shared in (False, True):
        t = rt.Tensor(a, shared_memory=shared)
        assert t.data.dtype == a.dtype and t.element_type == rt.Type(a.dtype)
        np.testing.assert_array_equal(t.data, a)
        assert np.shares_memory(t.data, a) == shared


def test_tensor_from_a_byte_swapped_array_holds_its_values():
    """A big-endian array (on this little-endian machine) is copied in the machine's byte order, so that the
    tensor's values are the array's (OpenVINO keeps the raw bytes and reads other numbers); it cannot be shared."""
    import ferrovino as fv

    a = np.array([1.5, -2, 3], ">f4")
    t = fv.Tensor(a)
    assert t.element_type == fv.Type.f32 and t.data.dtype == np.float32
    np.testing.assert_array_equal(t.data, [1.5, -2, 3])
    x = fv.opset13.parameter([3], np.float32, name="x")
    relu = fv.Core().compile_model(fv.Model([fv.opset13.relu(x)], [x]), "CPU")
    np.testing.assert_array_equal(relu.create_infer_request().infer([t])[0], [1.5, 0, 3])
    with pytest.raises(RuntimeError, match="byte order"):
        fv.Tensor(a, shared_memory=True)


@pytest.mark.parametrize("name", ["i4", "u4", "u1", "bf16", "boolean", "f16", "u64"])
def test_tensor_types_match_openvino(rt, name):
    mine, theirs = rt.Tensor(getattr(rt.Type, name), [5]), ov.Tensor(getattr(ov.Type, name), [5])
    assert mine.data.dtype == theirs.data.dtype
    assert mine.data.shape == theirs.data.shape
    assert (mine.byte_size, mine.size) == (theirs.byte_size, theirs.size)
    assert repr(mine) == repr(theirs)


def test_tensor_shape_setter(rt):
    t = rt.Tensor(rt.Type.f32, [2, 3])
    t.shape = [3, 3]
    assert t.data.shape == (3, 3)
    a = np.zeros((2, 3), np.float32)
    s = rt.Tensor(a, shared_memory=True)
    s.shape = [3, 2]
    assert s.data.shape == (3, 2) and np.shares_memory(s.data, a)
    with pytest.raises(RuntimeError):
        s.shape = [3, 3]


def test_tensor_copy_protocol(rt):
    t = rt.Tensor(np.ones((2, 2), np.float32))
    shallow, deep = copy.copy(t), copy.deepcopy(t)
    t.data[0, 0] = 5
    assert shallow.data[0, 0] == 5 and deep.data[0, 0] == 1
    target = rt.Tensor(rt.Type.f32, [2, 2])
    t.copy_to(target)
    assert target.data[0, 0] == 5
    target.copy_from(np.full((2, 2), 3, np.float32))
    assert (target.data == 3).all()


# ---------------------------------------------------------------------------------------------------------------
# Graph objects: Node, Output, Model


def test_node_reprs_and_accessors(rt):
    ops, ov_ops = opset(rt), opset(ov)
    for dtype in (np.float32, np.float16, np.int64, np.uint8, np.bool_, np.float64):
        assert repr(ops.parameter([2, -1], dtype, name="p")) == repr(ov_ops.parameter([2, -1], dtype, name="p"))
    p = ops.parameter([1, 3], np.float32, name="x")
    r = ops.relu(p, name="r")
    ov_p = ov_ops.parameter([1, 3], np.float32, name="x")
    assert repr(r) == repr(ov_ops.relu(ov_p, name="r"))
    assert r.get_type_name() == "Relu" and r.type_info.name == "Relu" and r.type_info.version_id == "opset1"
    assert r.friendly_name == r.get_friendly_name() == "r"
    r.set_friendly_name("r2")
    assert r.friendly_name == "r2"
    r.friendly_name = "r3"
    assert r.get_friendly_name() == "r3"
    assert r.get_output_size() == 1 and r.get_input_size() == 1
    assert r.input_value(0).get_node().friendly_name == "x"
    assert len(r.inputs()) == 1 and r.inputs()[0].get_source_output() == p.output(0)
    assert r.get_output_element_type(0) == rt.Type.f32
    assert r.get_output_partial_shape(0) == rt.PartialShape([1, 3])
    assert list(r.get_output_shape(0)) == [1, 3]
    assert p.get_attributes() == ov_p.get_attributes()
    split = ops.split(ops.parameter([4], name="s"), 0, 2, name="split")
    assert repr(split) == repr(ov_ops.split(ov_ops.parameter([4], name="s"), 0, 2, name="split"))
    assert len(split.outputs()) == 2 and split.output(1).get_index() == 1


def test_output_accessors_and_hash(rt):
    ops = opset(rt)
    p = ops.parameter([-1, 3], np.float32, name="x")
    out = p.output(0)
    out.add_names({"b", "a"})
    assert repr(out) == "<Output: names[a, b] shape[?,3] type: f32>"
    assert out.get_any_name() == out.any_name == "a"
    assert out.get_names() == out.names == {"a", "b"}
    assert out.get_partial_shape() == out.partial_shape == rt.PartialShape([-1, 3])
    assert out.get_element_type() == out.element_type == rt.Type.f32
    assert out.get_index() == 0 and out.get_node().friendly_name == "x"
    assert out == p.output(0) and hash(out) == hash(p.output(0))
    assert len({out, p.output(0)}) == 1
    with pytest.raises(RuntimeError, match="dynamic"):
        out.get_shape()
    unnamed = ops.relu(p).output(0)
    with pytest.raises(RuntimeError, match="without names"):
        unnamed.get_any_name()


def test_model_repr_and_names_match_openvino(rt):
    def build(m):
        ops = opset(m)
        a = ops.parameter([1, 3], np.float32, name="x")
        b = ops.parameter([1, 3], np.float32)
        b.set_friendly_name("second")
        s = ops.add(a, b, name="sum")
        res = ops.result(s, name="out")
        return m.Model([res], [a, b], "net"), a, b
    mine, _, b = build(rt)
    theirs, _, _ = build(ov)
    assert repr(mine) == repr(theirs)
    assert mine.friendly_name == "net"
    assert b.output(0).get_names() == {"second"}  # unnamed inputs are named after their node
    assert [repr(o) for o in mine.inputs] == [repr(o) for o in theirs.inputs]


def test_model_api(rt):
    ops = opset(rt)
    a = ops.parameter([2, 3], np.float32, name="a")
    b = ops.parameter([2, 3], np.float32, name="b")
    s = ops.add(a, b, name="sum")
    m = rt.Model([s.output(0)], [a, b])  # an Output is wrapped in a Result
    assert m.get_results()[0].get_type_name() == "Result"
    assert [p.friendly_name for p in m.get_parameters()] == ["a", "b"] == [p.friendly_name for p in m.parameters]
    assert m.input("b").get_node().friendly_name == "b" and m.input(1) == m.inputs[1]
    assert m.output().get_element_type() == rt.Type.f32 and m.output(0) == m.outputs[0]
    with pytest.raises(RuntimeError):
        m.input()
    assert {n.get_type_name() for n in m.get_ordered_ops()} == {"Parameter", "Add", "Result"}
    assert len(m.get_ops()) == 4
    assert not m.is_dynamic()
    m.set_friendly_name("renamed")
    assert m.get_friendly_name() == m.friendly_name == "renamed"
    c = m.clone()
    assert c.get_parameters()[0] != m.get_parameters()[0] and repr(c.inputs) == repr(m.inputs)
    assert repr(copy.deepcopy(m).outputs) == repr(m.outputs)
    with pytest.raises(TypeError):
        copy.copy(m)
    assert m.get_output_size() == 1 and list(m.get_output_shape(0)) == [2, 3]


@pytest.mark.parametrize(
    "shape",
    [[4, 3], (4, 3), "[4,3]", "4,3"],
)
def test_model_reshape_single(rt, shape):
    m = relu_model(rt, (1, 3))
    m.reshape(shape)
    assert m.input().get_partial_shape() == rt.PartialShape([4, 3])
    assert m.output().get_partial_shape() == rt.PartialShape([4, 3])


def test_model_reshape_forms(rt):
    m = add_model(rt)
    m.reshape({0: [-1, 3], "b": rt.PartialShape([-1, 3])})
    assert m.is_dynamic()
    m.reshape({m.input(0): [(1, 8), 3], m.input(1): [rt.Dimension(1, 8), "3"]})
    assert str(m.output().get_partial_shape()) == "[1..8,3]"
    m.reshape({0: "?,3", 1: "?,3"})
    assert str(m.input(0).get_partial_shape()) == "[?,3]"
    with pytest.raises(RuntimeError):
        m.reshape([2, 3])  # two inputs need a dict


# ---------------------------------------------------------------------------------------------------------------
# Core, CompiledModel, InferRequest, OVDict


def test_core_basics(rt, cpu):
    assert "CPU" in cpu.available_devices and cpu.get_available_devices() == cpu.available_devices
    assert repr(cpu).startswith("<Core: available plugins[")
    assert "CPU" in cpu.get_versions("CPU")
    assert isinstance(cpu.get_property("CPU", "FULL_DEVICE_NAME"), str)
    q = cpu.query_model(relu_model(rt), "CPU")
    assert q["relu"] == "CPU"


def test_compiled_model_and_request(rt, cpu):
    m = relu_model(rt)
    compiled = cpu.compile_model(m, "CPU")
    theirs = ov.Core().compile_model(relu_model(ov), "CPU")
    assert repr(compiled) == repr(theirs)
    assert [repr(o) for o in compiled.inputs] == [repr(o) for o in theirs.inputs]
    assert repr(compiled.input(0)) == repr(compiled.input("x")) == repr(compiled.input())
    req = compiled.create_infer_request()
    assert repr(req) == repr(theirs.create_infer_request())
    x = np.array([[-1, 2, -3]], np.float32)
    res = req.infer({0: x})
    np.testing.assert_array_equal(res[0], [[0, 2, 0]])
    assert req.get_output_tensor().data.tolist() == [[0, 2, 0]]
    assert len(req.input_tensors) == 1 and len(req.output_tensors) == 1
    assert [repr(o) for o in req.model_outputs] == [repr(o) for o in compiled.outputs]
    np.testing.assert_array_equal(rt.compile_model(m)(x)[0], [[0, 2, 0]])


def test_compile_model_defaults_and_paths(rt, cpu, tmp_path):
    m = relu_model(rt)
    xml = tmp_path / "relu.xml"
    rt.save_model(m, xml)
    for compiled in (cpu.compile_model(m), cpu.compile_model(str(xml)), cpu.compile_model(xml, "CPU"),
                     rt.compile_model(xml)):
        np.testing.assert_array_equal(compiled(np.ones((1, 3), np.float32))[0], np.ones((1, 3)))
    back = cpu.read_model(xml)
    assert back.input(0).get_any_name() == "x"
    text = xml.read_bytes()
    weights = (tmp_path / "relu.bin").read_bytes()
    assert cpu.read_model(text, weights).output(0).get_partial_shape() == rt.PartialShape([1, 3])
    rt.serialize(m, str(tmp_path / "s.xml"))
    assert (tmp_path / "s.bin").exists()


def test_ovdict_keys(rt, cpu):
    compiled = cpu.compile_model(relu_model(rt), "CPU")
    res = compiled(np.ones((1, 3), np.float32))
    port = compiled.outputs[0]
    assert res[0] is res[port] is res["out"]
    assert list(res.keys()) == [port] and len(res) == 1
    assert res.names() == ({"out"},)
    assert isinstance(res.to_tuple(), tuple) and len(res.to_tuple()) == 1
    assert list(res.to_dict()) == [port]
    out0, = res.values()
    np.testing.assert_array_equal(out0, np.ones((1, 3)))
    with pytest.raises(KeyError):
        res["missing"]
    with pytest.raises(KeyError):
        res[5]
    with pytest.raises(TypeError, match="Unknown key type"):
        res[1.0]
    with pytest.raises(TypeError):
        res[port] = 1  # read-only


@pytest.mark.parametrize("form", ["list", "tuple", "dict_index", "dict_name", "dict_port"])
def test_input_forms(rt, cpu, form):
    compiled = cpu.compile_model(add_model(rt), "CPU")
    a = np.full((2, 3), 1, np.float32)
    b = np.full((2, 3), 2, np.float32)
    inputs = {
        "list": [a, b],
        "tuple": (a, b),
        "dict_index": {0: a, 1: b},
        "dict_name": {"a": a, "b": b},
        "dict_port": {compiled.inputs[0]: a, compiled.inputs[1]: b},
    }[form]
    np.testing.assert_array_equal(compiled(inputs)[0], np.full((2, 3), 3))
    np.testing.assert_array_equal(compiled.create_infer_request().infer(inputs)[0], np.full((2, 3), 3))


def test_input_scalars_lists_and_tensors(rt, cpu):
    compiled = cpu.compile_model(relu_model(rt, (3,)), "CPU")
    if rt.__name__ == "ferrovino":  # OpenVINO rejects a list whose numpy type is not the input's; ferrovino converts
        np.testing.assert_array_equal(compiled([1.0, -2.0, 3.0])[0], [1, 0, 3])
    np.testing.assert_array_equal(compiled(rt.Tensor(np.array([-1, 1, 2], np.float32)))[0], [0, 1, 2])
    scalar_model = cpu.compile_model(relu_model(rt, ()), "CPU")
    np.testing.assert_array_equal(scalar_model(-3.0)[0], 0)
    np.testing.assert_array_equal(scalar_model(np.float32(4))[0], 4)


def test_shared_inputs_are_not_copied(rt, cpu):
    compiled = cpu.compile_model(relu_model(rt, (3,)), "CPU")
    req = compiled.create_infer_request()
    x = np.array([1, -1, 2], np.float32)
    req.infer({0: x}, share_inputs=True)
    assert np.shares_memory(req.get_input_tensor().data, x)
    fresh = compiled.create_infer_request()
    fresh.infer({0: x}, share_inputs=False)
    assert not np.shares_memory(fresh.get_input_tensor().data, x)


def test_copied_inputs_reuse_the_request_tensor(rt, cpu):
    """Without sharing, each inference copies its input into the tensor the previous copy made (OpenVINO copies
    into the request's tensor): same memory, new values. A tensor the caller bound in between is not written."""
    compiled = cpu.compile_model(relu_model(rt, (3,)), "CPU")
    req = compiled.create_infer_request()
    np.testing.assert_array_equal(req.infer({0: np.array([1, -1, 2], np.float32)})[0], [1, 0, 2])
    first = req.get_input_tensor().data
    np.testing.assert_array_equal(req.infer({0: np.array([-3, 4, 5], np.float32)})[0], [0, 4, 5])
    assert np.shares_memory(req.get_input_tensor().data, first)
    mine = rt.Tensor(np.array([7, -7, 7], np.float32))
    req.set_input_tensor(mine)
    np.testing.assert_array_equal(req.infer({0: np.array([6, -6, -6], np.float32)})[0], [6, 0, 0])
    if rt.__name__ == "ferrovino":  # OpenVINO writes into the caller's tensor
        assert mine.data.tolist() == [7, -7, 7]


def test_shared_inputs_by_name(rt, cpu):
    """infer({name: array}, share_inputs=True): an array that can be shared as it is becomes the input tensor (the
    request reads the caller's memory); a strided or read-only array is copied and gives the same answer; an
    unknown name is refused, named; the results are copies."""
    compiled = cpu.compile_model(relu_model(rt, (3,)), "CPU")
    req = compiled.create_infer_request()
    x = np.array([1, -2, 3], np.float32)
    out = req.infer({"x": x}, share_inputs=True)
    np.testing.assert_array_equal(out[0], [1, 0, 3])
    assert np.shares_memory(req.get_input_tensor().data, x)
    x[:] = [-1, 5, -6]
    req.infer()
    np.testing.assert_array_equal(req.get_output_tensor().data, [0, 5, 0])
    req.infer({"x": np.array([9, 9, 9], np.float32)}, share_inputs=True)
    np.testing.assert_array_equal(out[0], [1, 0, 3])
    strided = np.array([4, 0, -4, 0, 8, 0], np.float32)[::2]
    readonly = np.array([4, -4, 8], np.float32)
    readonly.flags.writeable = False
    for value in (strided, readonly):
        np.testing.assert_array_equal(req.infer({"x": value}, share_inputs=True)[0], [4, 0, 8])
    assert not np.shares_memory(req.get_input_tensor().data, readonly)
    with pytest.raises(Exception, match="nope"):
        req.infer({"nope": x}, share_inputs=True)
    if rt.__name__ == "ferrovino":  # the one-call path takes shareable arrays by name and leaves the rest
        np.testing.assert_array_equal(req._infer_shared({"x": x})[0], [0, 5, 0])
        declined = ({"x": strided}, {"x": readonly}, {0: x}, {"x": x.astype(np.float64)}, {"nope": x}, {"x": [1.0]})
        assert all(req._infer_shared(d) is None for d in declined)


def test_shared_inputs_of_a_two_input_model(rt, cpu):
    """share_inputs=True with two named arrays: both shared, or one shareable and one strided (then both go through
    the general binding); the sum is right either way and a later call rebinds both."""
    req = cpu.compile_model(add_model(rt), "CPU").create_infer_request()
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.full((2, 3), 10, np.float32)
    np.testing.assert_array_equal(req.infer({"a": a, "b": b}, share_inputs=True)[0], a + b)
    assert np.shares_memory(req.get_tensor("a").data, a) and np.shares_memory(req.get_tensor("b").data, b)
    strided = np.full((2, 6), -1, np.float32)[:, ::2]
    np.testing.assert_array_equal(req.infer({"a": a, "b": strided}, share_inputs=True)[0], a - 1)
    np.testing.assert_array_equal(req.infer({"b": b, "a": b}, share_inputs=True)[0], b + b)


def test_request_tensors_are_shared_with_python(rt, cpu):
    compiled = cpu.compile_model(relu_model(rt, (3,)), "CPU")
    req = compiled.create_infer_request()
    req.get_input_tensor().data[:] = [1, -2, 3]
    req.infer()
    out = req.get_output_tensor()
    np.testing.assert_array_equal(out.data, [1, 0, 3])
    req.get_input_tensor().data[:] = [-5, 6, -7]
    req.infer()
    np.testing.assert_array_equal(out.data, [0, 6, 0])  # written in place by the second inference
    t = rt.Tensor(np.array([4, -4, 4], np.float32))
    req.set_tensor("x", t)
    assert req.get_tensor("x").data.tolist() == [4, -4, 4]
    req.set_input_tensor(t)
    req.infer()
    assert req.get_tensor("out").data.tolist() == [4, 0, 4]
    np.testing.assert_array_equal(req.results[0], [4, 0, 4])


def test_wrong_dtype_is_converted_as_openvino_does(rt, cpu):
    compiled = cpu.compile_model(relu_model(rt, (3,)), "CPU")
    res = compiled(np.array([1, -2, 3], np.float64))
    assert res[0].dtype == np.float32
    np.testing.assert_array_equal(res[0], [1, 0, 3])
    with pytest.raises((TypeError, RuntimeError, ValueError)):
        compiled(np.array(["a", "b", "c"]))


def test_wrong_tensor_type_is_an_error_naming_the_input(rt, cpu):
    req = cpu.compile_model(relu_model(rt, (3,)), "CPU").create_infer_request()
    with pytest.raises(RuntimeError) as e:
        req.set_tensor("x", rt.Tensor(np.zeros(3, np.int32)))
    if rt.__name__ == "ferrovino":
        assert "'x'" in str(e.value) and "f32" in str(e.value)


def test_wrong_shape_is_an_error_naming_the_input(rt, cpu):
    compiled = cpu.compile_model(relu_model(rt, (1, 3)), "CPU")
    with pytest.raises(RuntimeError) as e:
        compiled(np.ones((2, 3), np.float32))
    if rt.__name__ == "ferrovino":
        assert "'x'" in str(e.value) and "[1,3]" in str(e.value)


def test_dynamic_input_takes_its_shape_from_data(rt, cpu):
    m = relu_model(rt, (-1, 3))
    compiled = cpu.compile_model(m, "CPU")
    for n in (1, 4):
        np.testing.assert_array_equal(compiled(np.ones((n, 3), np.float32))[0], np.ones((n, 3)))


def test_bad_keys(rt, cpu):
    compiled = cpu.compile_model(relu_model(rt), "CPU")
    x = np.ones((1, 3), np.float32)
    with pytest.raises(TypeError, match="0.0"):
        compiled({0.0: x})
    with pytest.raises(RuntimeError, match="nope"):
        compiled({"nope": x})
    with pytest.raises(TypeError, match="Incompatible inputs"):
        compiled({0: object()})


def test_error_classes(rt, cpu):
    with pytest.raises(RuntimeError):
        cpu.read_model("/nonexistent/model.xml")
    with pytest.raises(RuntimeError):
        cpu.compile_model(relu_model(rt), "NO_SUCH_DEVICE")
    with pytest.raises(TypeError):
        rt.Model("not a node", [])
    if rt.__name__ == "ferrovino":
        for name in ("ParseError", "UnsupportedError", "ShapeError", "InvalidArgumentError", "DeviceError",
                     "IoError", "NotFoundError", "InternalError"):
            cls = getattr(rt, name)
            assert issubclass(cls, rt.FerrovinoError) and issubclass(cls, RuntimeError)
        with pytest.raises(rt.IoError):
            cpu.read_model("/nonexistent/model.xml")


def test_async_request(rt, cpu):
    req = cpu.compile_model(relu_model(rt, (3,)), "CPU").create_infer_request()
    seen = []
    req.set_callback(lambda userdata: seen.append(userdata), "done")
    req.start_async({0: np.array([-1, 2, -3], np.float32)})
    req.wait()
    assert seen == ["done"]
    np.testing.assert_array_equal(req.get_output_tensor().data, [0, 2, 0])


def test_infer_releases_the_interpreter(rt, cpu):
    compiled = cpu.compile_model(relu_model(rt, (64, 64)), "CPU")
    errors = []

    def work():
        try:
            for _ in range(20):
                compiled.create_infer_request().infer([np.ones((64, 64), np.float32)])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# ---------------------------------------------------------------------------------------------------------------
# The native node factory (ferrovino only)


def test_node_factory(rt):
    if rt.__name__ != "ferrovino":
        pytest.skip("ferrovino's native node factory")
    native = importlib.import_module("ferrovino._native")
    p = native.make_parameter(rt.Type.f32, rt.PartialShape([1, 4]), "p")
    c = native.make_constant(np.array([1, 2], np.int64), None, "axes")
    assert c.get_output_element_type(0) == rt.Type.i64
    assert list(native.make_constant(np.array(2.0, np.float32)).get_output_shape(0)) == []
    h = native.make_constant(np.array([1.5]), rt.Type.f16)
    assert h.get_output_element_type(0) == rt.Type.f16
    soft = native.make_node("Softmax", 8, [p.output(0)], {"axis": -1}, "sm")
    assert soft.get_attributes() == {"axis": -1} and soft.type_info.version_id == "opset8"
    with pytest.raises(RuntimeError, match="Softmax.*no attribute.*bogus"):
        native.make_node("Softmax", 8, [p.output(0)], {"bogus": 1})
    with pytest.raises(RuntimeError, match="not supported"):
        native.make_node("NoSuchOp", 13, [], {})
    m = rt.Model([soft], [p])
    assert m.output(0).get_partial_shape() == rt.PartialShape([1, 4])


def test_stubs_match_native(rt):
    """`_native.pyi` names every class, method, property and function of the extension, and nothing else."""
    if rt.__name__ != "ferrovino":
        pytest.skip("ferrovino's stubs")
    import ast
    import pathlib

    native = importlib.import_module("ferrovino._native")
    tree = ast.parse((pathlib.Path(rt.__file__).parent / "_native.pyi").read_text())
    stubs = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            stubs[node.name] = {f.name for f in node.body if isinstance(f, ast.FunctionDef)} | {
                f.target.id for f in node.body if isinstance(f, ast.AnnAssign)
            }
        elif isinstance(node, ast.FunctionDef):
            stubs[node.name] = set()
    public = {n for n in dir(native) if not n.startswith("__")}
    assert public <= set(stubs), public - set(stubs)
    for name in public:
        obj = getattr(native, name)
        if isinstance(obj, type) and not issubclass(obj, BaseException):
            members = {m for m in vars(obj) if not m.startswith("__")}
            assert members <= stubs[name], (name, members - stubs[name])
            assert {m for m in stubs[name] if not m.startswith("__")} <= set(dir(obj)), name
