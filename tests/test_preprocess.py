"""ferrovino.preprocess against OpenVINO: each pipeline is built the same way on an equivalent model with both
libraries (``lib.opset13`` + ``lib.preprocess``), and the compiled models must agree on random inputs; plus the
naming of the new inputs and outputs, the ``str`` dump and the errors."""

import numpy as np
import pytest

RNG = np.random.default_rng(2026)


def image_model(lib, shape=(1, 3, 8, 8), inputs=1):
    """Relu of each input (``in0``, ``in1``, …), outputs named ``out0``, …; shapes like ``shape``."""
    ops = lib.opset13
    params = [ops.parameter(list(shape), np.float32, name=f"in{i}") for i in range(inputs)]
    results = []
    for i, p in enumerate(params):
        r = ops.relu(p, name=f"relu{i}")
        r.output(0).set_names({f"out{i}"})
        results.append(r)
    return lib.Model(results, params, "m")


def random_input(port, low=0, high=256):
    """Random data for a static input port: uniform integers for integer types, floats otherwise."""
    shape = list(port.get_shape())
    dtype = port.get_element_type().to_dtype()
    if np.issubdtype(dtype, np.integer):
        return RNG.integers(low, high, shape).astype(dtype)
    return RNG.uniform(low, high, shape).astype(dtype)


def compare(rt, ov, pipeline, inputs=None, rtol=1e-5, atol=1e-4):
    """Builds ``pipeline(lib)`` with both libraries, checks the models' interfaces match and compares outputs."""
    got_model, want_model = pipeline(rt), pipeline(ov)
    interface = lambda m: [  # noqa: E731
        (str(p.get_partial_shape()), p.get_element_type().get_type_name()) for p in list(m.inputs) + list(m.outputs)
    ]
    assert interface(got_model) == interface(want_model)
    if inputs is None:
        inputs = [random_input(p) for p in want_model.inputs]
    want = ov.compile_model(want_model, "CPU")(inputs)
    got = rt.compile_model(got_model, "CPU")(inputs)
    for i in range(len(want_model.outputs)):
        w, g = np.asarray(want[i]), np.asarray(got[i])
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=rtol, atol=atol)
    return got_model


# ---------------------------------------------------------------------------------------------------------------
# Typical chains.


def test_u8_nhwc_bgr_image_to_f32_nchw_rgb_resized_mean_scale(rt, ov):
    def pipeline(lib):
        pp = lib.preprocess
        ppp = pp.PrePostProcessor(image_model(lib, (1, 3, 16, 16)))
        tensor = ppp.input().tensor().set_element_type(lib.Type.u8).set_layout(lib.Layout("NHWC"))
        tensor.set_color_format(pp.ColorFormat.BGR).set_spatial_dynamic_shape()
        steps = ppp.input().preprocess().convert_element_type(lib.Type.f32).convert_color(pp.ColorFormat.RGB)
        steps.resize(pp.ResizeAlgorithm.RESIZE_LINEAR).mean([123.7, 116.3, 103.5]).scale([58.4, 57.1, 57.4])
        ppp.input().model().set_layout(lib.Layout("NCHW"))
        return ppp.build()

    image = RNG.integers(0, 256, (1, 27, 35, 3)).astype(np.uint8)
    model = compare(rt, ov, pipeline, [image])
    assert str(model.input().get_partial_shape()) == "[1,?,?,3]"


def test_implicit_type_and_layout_conversion(rt, ov):
    def pipeline(lib):
        ppp = lib.preprocess.PrePostProcessor(image_model(lib))
        ppp.input().tensor().set_element_type(lib.Type.u8).set_layout("NHWC")
        ppp.input().model().set_layout("NCHW")
        return ppp.build()

    model = compare(rt, ov, pipeline)
    assert str(model.input().get_partial_shape()) == "[1,8,8,3]"


@pytest.mark.parametrize(
    "alg", ["RESIZE_LINEAR", "RESIZE_CUBIC", "RESIZE_NEAREST", "RESIZE_BILINEAR_PILLOW", "RESIZE_BICUBIC_PILLOW"]
)
def test_resize_algorithms(rt, ov, alg):
    def pipeline(lib):
        pp = lib.preprocess
        ppp = pp.PrePostProcessor(image_model(lib, (1, 3, 6, 7)))
        ppp.input().tensor().set_spatial_static_shape(13, 10).set_layout("NCHW")
        ppp.input().preprocess().resize(getattr(pp.ResizeAlgorithm, alg))
        return ppp.build()

    compare(rt, ov, pipeline)


def test_resize_to_explicit_size_then_crop(rt, ov):
    def pipeline(lib):
        pp = lib.preprocess
        ppp = pp.PrePostProcessor(image_model(lib, (1, 3, 8, 8)))
        ppp.input().tensor().set_shape([1, 3, 20, 30]).set_layout("NCHW")
        ppp.input().preprocess().resize(pp.ResizeAlgorithm.RESIZE_LINEAR, 10, 12).crop([0, 0, 1, 2], [1, 3, 9, -2])
        ppp.input().preprocess().crop([0, 0], [1, 3])
        return ppp.build()

    compare(rt, ov, pipeline)


def test_mean_and_scale_scalar_and_per_channel(rt, ov):
    def pipeline(lib):
        ppp = lib.preprocess.PrePostProcessor(image_model(lib))
        ppp.input().tensor().set_layout("NCHW")
        ppp.input().preprocess().mean(0.5).scale([1.0, 3.0, 7.0]).mean([1.0, -2.0, 3.0]).scale(3.0)
        return ppp.build()

    compare(rt, ov, pipeline)


@pytest.mark.parametrize("how", ["layout", "list"])
def test_convert_layout(rt, ov, how):
    def pipeline(lib):
        ppp = lib.preprocess.PrePostProcessor(image_model(lib, (1, 3, 4, 5)))
        if how == "layout":
            ppp.input().tensor().set_layout("NHWC")
            ppp.input().preprocess().convert_layout("NCHW")
        else:
            ppp.input().tensor().set_shape([1, 4, 5, 3])
            ppp.input().preprocess().convert_layout([0, 3, 1, 2])
        return ppp.build()

    model = compare(rt, ov, pipeline)
    assert str(model.input().get_partial_shape()) == "[1,4,5,3]"


@pytest.mark.parametrize("mode", ["CONSTANT", "REFLECT", "SYMMETRIC"])
def test_pad(rt, ov, mode):
    def pipeline(lib):
        pp = lib.preprocess
        ppp = pp.PrePostProcessor(image_model(lib))
        ppp.input().tensor().set_shape([1, 3, 6, 5])
        ppp.input().preprocess().pad([0, 0, 1, 2], [0, 0, 1, 1], 0.5, getattr(pp.PaddingMode, mode))
        return ppp.build()

    compare(rt, ov, pipeline)


def test_reverse_channels_and_set_from(rt, ov):
    data = RNG.uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32)

    def pipeline(lib):
        ppp = lib.preprocess.PrePostProcessor(image_model(lib))
        ppp.input().tensor().set_from(data).set_layout("NCHW").set_memory_type("GPU_SURFACE")
        ppp.input().preprocess().reverse_channels()
        return ppp.build()

    compare(rt, ov, pipeline, [data])


def test_custom_pre_and_post_steps_and_output_conversions(rt, ov):
    def pipeline(lib):
        ops = lib.opset13
        ppp = lib.preprocess.PrePostProcessor(image_model(lib, (1, 3, 4, 6)))
        ppp.input().preprocess().custom(lambda o: ops.negative(o).output(0))
        post = ppp.output().postprocess().custom(lambda o: ops.multiply(o, np.float32(2)).output(0))
        post.convert_element_type(lib.Type.f16)
        ppp.output().model().set_layout("NCHW")
        ppp.output().tensor().set_layout("NHWC")
        return ppp.build()

    model = compare(rt, ov, pipeline, [RNG.uniform(-4, 4, (1, 3, 4, 6)).astype(np.float32)])
    out = model.output()
    assert out.get_names() == {"out0"}
    assert str(out.get_partial_shape()) == "[1,4,6,3]"
    assert out.get_node().input_value(0).get_node().get_friendly_name() == "relu0.0"


def test_output_tensor_element_type_and_plain_convert(rt, ov):
    def pipeline(lib):
        ppp = lib.preprocess.PrePostProcessor(image_model(lib, inputs=2))
        ppp.output(1).tensor().set_element_type(lib.Type.i32)
        ppp.output("out0").postprocess().convert_element_type(lib.Type.f16)
        return ppp.build()

    inputs = [RNG.uniform(-300, 300, (1, 3, 8, 8)).astype(np.float32) for _ in range(2)]
    compare(rt, ov, pipeline, inputs)


# ---------------------------------------------------------------------------------------------------------------
# Colour conversions. YUV -> RGB uses OpenVINO's formulas in f32 (R = 1.164 (Y-16) + 1.596 (V-128) …), computed
# with the same operation order, so f32 results agree to rounding; u8 results round the same values, so they may
# differ by one only where a value lies within rounding error of .5 (atol=1 for u8 conversions).


def yuv_pipeline(fmt, dst="BGR", element_type="u8", sub_names=(), shape=(1, 3, 8, 12)):
    def pipeline(lib):
        pp = lib.preprocess
        model_shape = list(shape)
        if dst == "GRAY":
            model_shape[1] = 1
        ppp = pp.PrePostProcessor(image_model(lib, model_shape, inputs=2))
        tensor = ppp.input(0).tensor().set_element_type(getattr(lib.Type, element_type))
        tensor.set_color_format(getattr(pp.ColorFormat, fmt), list(sub_names))
        ppp.input(0).preprocess().convert_color(getattr(pp.ColorFormat, dst)).convert_element_type(lib.Type.f32)
        ppp.input(0).model().set_layout("NCHW")
        return ppp.build()

    return pipeline


@pytest.mark.parametrize("fmt", ["NV12_SINGLE_PLANE", "NV12_TWO_PLANES", "I420_SINGLE_PLANE", "I420_THREE_PLANES"])
@pytest.mark.parametrize("dst", ["RGB", "BGR", "GRAY"])
def test_yuv_to_rgb_bgr_gray_u8(rt, ov, fmt, dst):
    compare(rt, ov, yuv_pipeline(fmt, dst), atol=1.0)


@pytest.mark.parametrize("fmt", ["NV12_SINGLE_PLANE", "NV12_TWO_PLANES", "I420_SINGLE_PLANE", "I420_THREE_PLANES"])
def test_yuv_to_rgb_f32_with_height_not_a_multiple_of_four(rt, ov, fmt):
    compare(rt, ov, yuv_pipeline(fmt, "RGB", "f32", shape=(1, 3, 6, 4)), rtol=1e-5, atol=1e-3)


def test_multi_plane_inputs_take_the_old_inputs_place_and_sub_names(rt, ov):
    model = compare(rt, ov, yuv_pipeline("I420_THREE_PLANES", sub_names=("a", "b", "c")), atol=1.0)
    names = [sorted(p.get_names()) for p in model.inputs]
    assert names == [["in0/a"], ["in0/b"], ["in0/c"], ["in1"]]
    assert [p.get_friendly_name() for p in model.get_parameters()][:3] == ["in0/a", "in0/b", "in0/c"]


@pytest.mark.parametrize(
    ("src", "dst"), [("RGB", "BGR"), ("BGR", "RGB"), ("RGBX", "RGB"), ("RGBX", "BGR"), ("BGRX", "RGB"), ("BGRX", "BGR")]
)
def test_rgb_family_conversions(rt, ov, src, dst):
    def pipeline(lib):
        pp = lib.preprocess
        ppp = pp.PrePostProcessor(image_model(lib))
        ppp.input().tensor().set_color_format(getattr(pp.ColorFormat, src))
        ppp.input().preprocess().convert_color(getattr(pp.ColorFormat, dst))
        ppp.input().model().set_layout("NCHW")
        return ppp.build()

    compare(rt, ov, pipeline)


@pytest.mark.parametrize("src", ["RGB", "BGR"])
def test_rgb_to_gray(rt, ov, src):
    """OpenVINO uses a 1x1 convolution, ferrovino a weighted channel sum: equal up to f32 rounding."""

    def pipeline(lib):
        pp = lib.preprocess
        ppp = pp.PrePostProcessor(image_model(lib, (1, 1, 8, 8)))
        ppp.input().tensor().set_color_format(getattr(pp.ColorFormat, src)).set_shape([1, 8, 8, 3])
        ppp.input().preprocess().convert_color(pp.ColorFormat.GRAY)
        ppp.input().model().set_layout("NCHW")
        return ppp.build()

    compare(rt, ov, pipeline)


# ---------------------------------------------------------------------------------------------------------------
# Names, layouts and the dump.


def test_new_parameter_keeps_names_and_carries_the_tensor_layout(rt, rt_name):
    ops = rt.opset13
    p = ops.parameter([1, 3, 8, 8], np.float32, name="data")
    p.output(0).set_names({"data", "image"})
    model = rt.Model([ops.relu(p)], [p], "m")
    ppp = rt.preprocess.PrePostProcessor(model)
    ppp.input("image").tensor().set_element_type(rt.Type.u8).set_layout("NHWC")
    ppp.input().model().set_layout("NCHW")
    ppp.build()
    param = model.get_parameters()[0]
    assert param.get_friendly_name() == "data"
    assert model.input().get_names() == {"data", "image"}
    assert model.input().get_element_type() == rt.Type.u8
    if rt_name == "ferrovino":
        assert model.input().get_rt_info()["layout"] == "[N,H,W,C]"


def test_steps_chain_and_infos_are_shared(rt):
    ppp = rt.preprocess.PrePostProcessor(image_model(rt))
    steps = ppp.input().preprocess()
    assert steps.mean(1.0) is steps and steps.scale(2.0).reverse_channels() is steps
    assert ppp.input(0) is ppp.input("in0") and ppp.output() is ppp.output(0)


def test_str_matches_openvino(rt, ov):
    def dump(lib):
        pp = lib.preprocess
        ppp = pp.PrePostProcessor(image_model(lib, inputs=2))
        tensor = ppp.input(0).tensor().set_element_type(lib.Type.u8).set_layout("NHWC")
        tensor.set_color_format(pp.ColorFormat.BGR).set_spatial_dynamic_shape()
        steps = ppp.input(0).preprocess().convert_element_type(lib.Type.f32).convert_color(pp.ColorFormat.RGB)
        steps.resize(pp.ResizeAlgorithm.RESIZE_LINEAR).mean([1.0, 2.0, 3.0]).scale(2.0).crop([0, 0, 0, 0], [1, 8, 8, 3])
        steps.pad([0, 0, 0, 0], [0, 0, 0, 0], 0.5, pp.PaddingMode.CONSTANT).custom(lambda o: o)
        ppp.input(0).model().set_layout("NCHW")
        ppp.input(1).tensor().set_color_format(pp.ColorFormat.NV12_TWO_PLANES)
        ppp.input(1).preprocess().convert_color(pp.ColorFormat.BGR)
        ppp.input(1).model().set_layout("NCHW")
        ppp.output(0).postprocess().convert_layout([0, 2, 3, 1]).convert_element_type(lib.Type.f16)
        ppp.output(1).model().set_layout("NCHW")
        ppp.output(1).tensor().set_layout("NHWC")
        return str(ppp)

    assert dump(rt) == dump(ov)


def test_str_reports_a_failing_step(rt):
    ppp = rt.preprocess.PrePostProcessor(image_model(rt))
    ppp.input().tensor().set_element_type(rt.Type.u8)
    ppp.input().preprocess().mean(1.0)
    text = str(ppp)
    assert "mean (1): ([1,3,8,8], <no layout>, u8\nError occurred:" in text
    assert repr(ppp).startswith('<PrePostProcessor: Input "in0":')


# ---------------------------------------------------------------------------------------------------------------
# Errors: a ferrovino (RuntimeError) exception with a clear message; the model is left unchanged.


@pytest.mark.parametrize(
    ("configure", "message"),
    [
        (lambda pp, ppp: ppp.input().preprocess().mean([1.0, 2.0, 3.0]), "'C' dimension"),
        (lambda pp, ppp: ppp.input().preprocess().reverse_channels(), "'C' dimension"),
        (lambda pp, ppp: ppp.input().preprocess().resize(pp.ResizeAlgorithm.RESIZE_LINEAR), "'H' dimension"),
        (lambda pp, ppp: (ppp.input().tensor().set_layout("NCHW"), ppp.input().preprocess().mean([1.0, 2.0])), "3 channels"),
        (
            lambda pp, ppp: (ppp.input().tensor().set_element_type(pp.Type.u8), ppp.input().preprocess().scale(2.0)),
            "floating-point",
        ),
        (lambda pp, ppp: ppp.input().tensor().set_color_format(pp.ColorFormat.NV12_SINGLE_PLANE), "RGB/BGR/GRAY"),
        (lambda pp, ppp: ppp.input().preprocess().crop([0], [1, 3]), "the same size"),
        (lambda pp, ppp: ppp.input().preprocess().crop([0] * 5, [1] * 5), "rank 4"),
        (lambda pp, ppp: ppp.input().tensor().set_shape([1, 3, 9, 9]), r"model expects \[1,3,8,8\]"),
        (lambda pp, ppp: ppp.input().preprocess().convert_layout([0, 1]), "not a permutation"),
        (
            lambda pp, ppp: (
                ppp.input().tensor().set_color_format(pp.ColorFormat.GRAY),
                ppp.input().preprocess().convert_color(pp.ColorFormat.RGB),
            ),
            "GRAY cannot be converted to RGB",
        ),
    ],
)
def test_errors_are_clear(rt, rt_name, configure, message):
    model = image_model(rt)

    class Lib:
        Type = rt.Type
        ColorFormat = rt.preprocess.ColorFormat
        ResizeAlgorithm = rt.preprocess.ResizeAlgorithm

    ppp = rt.preprocess.PrePostProcessor(model)
    ferrovino = rt_name == "ferrovino"
    with pytest.raises(rt.FerrovinoError if ferrovino else RuntimeError, match=message if ferrovino else None) as err:
        configure(Lib, ppp)
        ppp.build()
    assert isinstance(err.value, RuntimeError)
    assert str(model.input().get_partial_shape()) == "[1,3,8,8]"
    assert model.input().get_element_type() == rt.Type.f32


def test_bad_argument_types_raise_type_error(rt):
    ppp = rt.preprocess.PrePostProcessor(image_model(rt))
    with pytest.raises(TypeError):
        ppp.input().preprocess().resize("linear")
    with pytest.raises(TypeError):
        ppp.input().tensor().set_color_format("NV12")
    with pytest.raises(TypeError):
        rt.preprocess.PrePostProcessor("model")


def test_graph_editing_bindings_used_by_build(rt):
    ops = rt.opset13
    model = image_model(rt, inputs=2)
    first, second = model.get_parameters()
    assert (model.get_parameter_index(first), model.get_parameter_index(second)) == (0, 1)
    new = ops.parameter([1, 3, 4, 4], np.float32, name="small")
    model.replace_parameter(0, new)
    model.validate_nodes_and_infer_types()
    assert model.get_parameter_index(first) == -1
    assert str(model.output(0).get_partial_shape()) == "[1,3,4,4]"
    model.remove_parameter(second)
    model.add_parameters([second])
    assert [p.get_friendly_name() for p in model.get_parameters()] == ["small", "in1"]
