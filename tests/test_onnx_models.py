"""Whole ONNX models through the ONNX frontend: the onnx package's light models against the outputs shipped with
them, the model inside the magika wheel and a BERT-style encoder against ONNX Runtime, the ways a model can be
given to read_model, and the all-at-once error for unsupported ops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

import ferrovino as ov  # noqa: E402
from helpers.light_models import light_case, light_names  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


@pytest.mark.parametrize("name", light_names())
def test_light_model_matches_its_shipped_output(name):
    path, x, expected = light_case(name)
    got = ov.compile_model(ov.Core().read_model(str(path)), "CPU")(x)[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_magika_model_matches_onnxruntime():
    magika = pytest.importorskip("magika")
    ort = pytest.importorskip("onnxruntime")
    path = next(Path(magika.__file__).parent.glob("models/*/model.onnx"))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    compiled = ov.compile_model(str(path), "CPU")
    rng = np.random.default_rng(0)
    feeds = {}
    for i in session.get_inputs():
        shape = [d if isinstance(d, int) else 2 for d in i.shape]
        feeds[i.name] = (
            rng.integers(0, 256, shape).astype(np.int32 if "int32" in i.type else np.int64)
            if "int" in i.type
            else rng.random(shape, np.float32)
        )
    want = session.run(None, feeds)
    got = compiled(feeds)
    for i, w in enumerate(want):
        np.testing.assert_allclose(got[i], w, rtol=1e-4, atol=1e-5)


def _bert_encoder(hidden: int = 64, heads: int = 4, vocab: int = 100, max_len: int = 32) -> onnx.ModelProto:
    """One BERT encoder layer: embeddings, LayerNormalization, masked multi-head attention, Erf-GELU feed-forward;
    batch and sequence are dynamic."""
    rng = np.random.default_rng(1)
    inits = []

    def weight(name, *shape, scale=0.1):
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name))
        return name

    def const(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    dh = hidden // heads
    n = []

    def node(op, ins, outs, **attrs):
        n.append(helper.make_node(op, ins, outs, **attrs))
        return outs[0]

    weight("word", vocab, hidden)
    weight("pos", max_len, hidden)
    for ln in ("ln0", "ln1", "ln2"):
        inits.append(numpy_helper.from_array(np.ones(hidden, np.float32), f"{ln}_g"))
        inits.append(numpy_helper.from_array(np.zeros(hidden, np.float32), f"{ln}_b"))
    shape = node("Shape", ["input_ids"], ["shape"])
    seq = node("Gather", [shape, const("one", np.array([1], np.int64))], ["seq"], axis=0)
    pos = node(
        "Slice", ["pos", const("zero", np.array([0], np.int64)), seq, const("axis0", np.array([0], np.int64))], ["pos_s"]
    )
    emb = node("Add", [node("Gather", ["word", "input_ids"], ["tok"]), pos], ["emb"])
    x = node("LayerNormalization", [emb, "ln0_g", "ln0_b"], ["x0"], axis=-1, epsilon=1e-12)

    def split_heads(t, name):
        r = node("Reshape", [t, const(f"{name}_shape", np.array([0, 0, heads, dh], np.int64))], [f"{name}_r"])
        return node("Transpose", [r], [f"{name}_t"], perm=[0, 2, 1, 3])

    q, k, v = (
        split_heads(
            node("Add", [node("MatMul", [x, weight(f"w{c}", hidden, hidden)], [f"{c}_mm"]), weight(f"b{c}", hidden)], [c]), c
        )
        for c in "qkv"
    )
    kt = node("Transpose", [k], ["kt"], perm=[0, 1, 3, 2])
    scores = node("Div", [node("MatMul", [q, kt], ["qk"]), const("sqrt_dh", np.array(np.sqrt(dh), np.float32))], ["scores"])
    maskf = node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT)
    bias = node(
        "Mul",
        [
            node("Sub", [const("onef", np.array(1, np.float32)), maskf], ["inv"]),
            const("neg", np.array(-10000.0, np.float32)),
        ],
        ["bias"],
    )
    bias = node("Unsqueeze", [bias, const("axes12", np.array([1, 2], np.int64))], ["bias4"])
    probs = node("Softmax", [node("Add", [scores, bias], ["masked"])], ["probs"], axis=-1)
    ctx = node("Transpose", [node("MatMul", [probs, v], ["ctx"])], ["ctx_t"], perm=[0, 2, 1, 3])
    ctx = node("Reshape", [ctx, const("merge", np.array([0, 0, hidden], np.int64))], ["ctx_m"])
    attn = node("Add", [node("MatMul", [ctx, weight("wo", hidden, hidden)], ["o_mm"]), x], ["res1"])
    x1 = node("LayerNormalization", [attn, "ln1_g", "ln1_b"], ["x1"], axis=-1, epsilon=1e-12)
    h = node("MatMul", [x1, weight("w1", hidden, 4 * hidden)], ["h"])
    erf = node("Erf", [node("Div", [h, const("sqrt2", np.array(np.sqrt(2), np.float32))], ["h_s"])], ["erf"])
    gelu = node(
        "Mul",
        [node("Mul", [h, node("Add", [erf, "onef"], ["erf1"])], ["g0"]), const("half", np.array(0.5, np.float32))],
        ["gelu"],
    )
    ffn = node("Add", [node("MatMul", [gelu, weight("w2", 4 * hidden, hidden)], ["f"]), x1], ["res2"])
    node("LayerNormalization", [ffn, "ln2_g", "ln2_b"], ["output"], axis=-1, epsilon=1e-12)
    graph = helper.make_graph(
        n,
        "bert_layer",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", "seq", hidden])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def test_bert_encoder_matches_onnxruntime_at_several_shapes():
    ort = pytest.importorskip("onnxruntime")
    model = _bert_encoder()
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    compiled = ov.compile_model(model, "CPU")
    assert compiled.input("input_ids").get_partial_shape().is_dynamic
    rng = np.random.default_rng(2)
    for batch, seq in [(1, 8), (3, 17), (2, 32)]:
        ids = rng.integers(0, 100, (batch, seq)).astype(np.int64)
        mask = np.ones((batch, seq), np.int64)
        mask[:, seq // 2 :] = rng.integers(0, 2, (batch, seq - seq // 2))
        feeds = {"input_ids": ids, "attention_mask": mask}
        np.testing.assert_allclose(compiled(feeds)[0], session.run(None, feeds)[0], rtol=1e-4, atol=1e-4)


def _tiny_model() -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        [numpy_helper.from_array(np.array([1, 2], np.float32), "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def test_read_model_takes_a_path_bytes_a_model_proto_and_external_data(tmp_path):
    model = _tiny_model()
    path = tmp_path / "tiny.onnx"
    onnx.save(
        model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="tiny.data", size_threshold=0
    )
    assert (tmp_path / "tiny.data").exists()
    x = np.array([10, 20], np.float32)
    # Saving with external data rewrote `model` to point at tiny.data; a fresh copy holds its data inline.
    inline = _tiny_model()
    for source in (str(path), path, inline, inline.SerializeToString()):
        read = ov.Core().read_model(source)
        assert read.output(0).get_names() == {"y"}
        np.testing.assert_array_equal(ov.compile_model(read, "CPU")(x)[0], [11, 22])
    # The external weights are memory-mapped, not read: the file stays mapped while the model holds them.
    maps = Path("/proc/self/maps")
    if maps.exists():
        held = ov.Core().read_model(str(path))
        assert str(tmp_path / "tiny.data") in maps.read_text()
        del held
    # A ModelProto that points at external data but comes without its folder fails clearly.
    with pytest.raises(ov.ParseError, match="tiny.data"):
        ov.Core().read_model(model)


def test_large_initializers_are_read_from_the_file_itself(tmp_path):
    """A file's large initializers (4 KiB and more) are read from their place in the file, at aligned and
    misaligned offsets, with the same result as the parsed model; a file cut short fails clearly."""
    rng = np.random.default_rng(3)
    weights = {
        # Names of different lengths shift the offsets of the raw bytes that follow them.
        "w_at_4": rng.standard_normal((64, 32)).astype(np.float32),
        "w_odd": rng.standard_normal((32, 48)).astype(np.float32),
        "bias_longer_name": rng.standard_normal((48,)).astype(np.float32),
        "table": rng.integers(-5, 5, (1024, 48)).astype(np.int64),
        "idx": np.array([3, 1, 1000], np.int64),
        "filters": rng.standard_normal((32, 8, 3, 3)).astype(np.float32),
        "scale": rng.standard_normal((1, 32, 1, 1)).astype(np.float32),
    }
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w_at_4"], ["a"]),
            helper.make_node("MatMul", ["a", "w_odd"], ["b"]),
            helper.make_node("Add", ["b", "bias_longer_name"], ["c"]),
            helper.make_node("Gather", ["table", "idx"], ["g"]),
            helper.make_node("Cast", ["g"], ["gf"], to=TensorProto.FLOAT),
            helper.make_node("Add", ["c", "gf"], ["y"]),
            # The scale is folded into the filters at compile time, which are then packed.
            helper.make_node("Conv", ["im", "filters"], ["conv"], pads=[1, 1, 1, 1]),
            helper.make_node("Mul", ["conv", "scale"], ["z"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 64]),
         helper.make_tensor_value_info("im", TensorProto.FLOAT, [1, 8, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 48]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 32, 6, 6])],
        [numpy_helper.from_array(v, k) for k, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    data = model.SerializeToString()
    offsets = {k: data.find(v.tobytes()) % 8 for k, v in weights.items() if v.nbytes >= 4096}
    # Raw bytes aligned for their type (w_at_4) and misaligned (the others, which are read without a copy too).
    assert offsets["w_at_4"] % 4 == 0 and all(offsets[k] % 4 for k in ("w_odd", "table", "filters")), offsets
    path = tmp_path / "weights.onnx"
    path.write_bytes(data)
    x = rng.standard_normal((3, 64)).astype(np.float32)
    im = rng.standard_normal((1, 8, 6, 6)).astype(np.float32)
    want = (x @ weights["w_at_4"] @ weights["w_odd"]) + weights["bias_longer_name"]
    want = want + weights["table"][weights["idx"]].astype(np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(im, ((0, 0), (0, 0), (1, 1), (1, 1))), (3, 3), (2, 3))
    want_z = np.einsum("bchwij,ocij->bohw", windows, weights["filters"]) * weights["scale"]
    for source in (str(path), data):
        model_read = ov.Core().read_model(source)
        # Compiling twice: the second packs again from the weights whose pages the first let go (they read as
        # the file's values again).
        for _ in range(2):
            got = ov.compile_model(model_read, "CPU")({"x": x, "im": im})
            np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-4)
            np.testing.assert_allclose(got[1], want_z, rtol=1e-5, atol=1e-4)
        # The read model's own Constants still hold the file's values.
        constants = {op.get_friendly_name(): op.get_data() for op in model_read.get_ops()
                     if op.get_type_name() == "Constant"}
        for name in ("w_odd", "filters", "table"):
            np.testing.assert_array_equal(constants[name], weights[name])
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[: len(data) - 5000])
    with pytest.raises(ov.ParseError, match="cut.onnx"):
        ov.Core().read_model(str(cut))
    with pytest.raises(ov.ParseError, match="bytes"):
        ov.Core().read_model(data[: len(data) - 5000])


def test_bfloat16_initializers_are_read():
    """An ONNX bfloat16 initializer (onnx hands it over as an ml_dtypes array) becomes a bf16 Constant."""
    values = np.array([1.5, -2.0, 3.25, 0.0078125], np.float32)  # exactly representable in bfloat16
    graph = helper.make_graph(
        [helper.make_node("Cast", ["w"], ["c"], to=TensorProto.FLOAT), helper.make_node("Add", ["x", "c"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
        [helper.make_tensor("w", TensorProto.BFLOAT16, [4], values.tolist())],
    )
    model = ov.Core().read_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    const = next(op for op in model.get_ops() if op.get_type_name() == "Constant")
    assert const.get_output_element_type(0) == ov.Type.bf16
    x = np.array([1, 2, 3, 4], np.float32)
    np.testing.assert_array_equal(ov.compile_model(model, "CPU")(x)[0], x + values)


@pytest.mark.parametrize("outputs", [["y"], ["y", "mean", "inv_std"]])
def test_layer_normalization_is_one_mvn_unless_its_statistics_are_used(outputs):
    """LayerNormalization whose mean and inverse deviation go unused reads as one MVN (then the affine); with
    them used it keeps the spelled-out statistics. Both agree with onnxruntime, statistics included."""
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(7)
    gamma, beta = rng.standard_normal(48).astype(np.float32), rng.standard_normal(48).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("LayerNormalization", ["x", "g", "b"], outputs, axis=-1, epsilon=1e-5)],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 5, 48])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs],
        [numpy_helper.from_array(gamma, "g"), numpy_helper.from_array(beta, "b")],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model = ov.Core().read_model(proto)
    types = {op.get_type_name() for op in model.get_ops()}
    assert ("MVN" in types) == (len(outputs) == 1), types
    x = (rng.standard_normal((3, 5, 48)) * 4 + 2).astype(np.float32)
    got = ov.compile_model(model, "CPU")(x)
    want = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    for i, w in enumerate(want):
        np.testing.assert_allclose(got[i], w, rtol=1e-4, atol=1e-5)


def test_unsupported_ops_are_reported_all_at_once():
    graph = helper.make_graph(
        [
            helper.make_node("Relu", ["x"], ["a"]),
            helper.make_node("NoSuchOp", ["a"], ["b"], name="first"),
            helper.make_node("AlsoMissing", ["b"], ["y"], name="second", domain="com.example"),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    with pytest.raises(ov.UnsupportedError) as e:
        ov.Core().read_model(model)
    message = str(e.value)
    assert "2 node(s)" in message
    assert "NoSuchOp (domain ai.onnx, opset 17): node 'first'" in message
    assert "AlsoMissing (domain com.example, opset 1): node 'second'" in message


def test_if_runs_both_branches_and_is_refused_by_the_ir_writer(tmp_path):
    def branch(name, value):
        const = helper.make_node("Constant", [], [f"{name}_c"], value=numpy_helper.from_array(np.float32(value)))
        add = helper.make_node("Add", ["x", f"{name}_c"], [f"{name}_y"])
        return helper.make_graph(
            [const, add], name, [], [helper.make_tensor_value_info(f"{name}_y", TensorProto.FLOAT, [2])]
        )

    node = helper.make_node("If", ["cond"], ["y"], then_branch=branch("then", 1), else_branch=branch("else", -1))
    graph = helper.make_graph(
        [node],
        "if",
        [
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    model = ov.Core().read_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    compiled = ov.compile_model(model, "CPU")
    x = np.array([1, 2], np.float32)
    np.testing.assert_array_equal(compiled({"cond": np.array(True), "x": x})[0], [2, 3])
    np.testing.assert_array_equal(compiled({"cond": np.array(False), "x": x})[0], [0, 1])
    with pytest.raises(ov.UnsupportedError, match="sub-graphs"):
        ov.save_model(model, tmp_path / "if.xml")


def test_an_initializer_listed_as_input_is_an_input_with_a_default():
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "defaults",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2]),
            helper.make_tensor_value_info("w", TensorProto.FLOAT, [2]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        [numpy_helper.from_array(np.array([1, 2], np.float32), "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    compiled = ov.compile_model(model, "CPU")
    assert [i.get_any_name() for i in compiled.inputs] == ["x", "w"]
    x = np.array([10, 20], np.float32)
    np.testing.assert_array_equal(compiled({"x": x})[0], [11, 22])
    np.testing.assert_array_equal(compiled({"x": x, "w": np.array([5, 5], np.float32)})[0], [15, 25])
    request = compiled.create_infer_request()
    np.testing.assert_array_equal(request.infer({"x": x})[0], [11, 22])
    # Before IR version 4 every initializer had to be listed as an input: there it stays a constant.
    old = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 8)], ir_version=3)
    assert [i.get_any_name() for i in ov.compile_model(old, "CPU").inputs] == ["x"]
