"""IR written by the runtime under test (`save_model`, `serialize`) is read by OpenVINO and by the runtime
itself with the same outputs.

Sources: the CNN and transformer of `helpers.models` built with the runtime's own `opset16`, and two light
ONNX models with random weights read from OpenVINO-written IR. Writers: `save_model` with f32 weights, with
`compress_to_fp16=True` (f16 Consts plus decompression Converts), and `serialize`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.models import BUILT_MODELS
from helpers.openvino_ir import RANDOM_SUFFIX
from helpers.runtime import (
    assert_outputs_close,
    assert_same_interface,
    compile_f32,
    infer,
    random_inputs,
)

LIGHT_SOURCES = ("light_squeezenet" + RANDOM_SUFFIX, "light_shufflenet" + RANDOM_SUFFIX)

WRITERS = {
    "save_model_fp32": lambda rt, m, xml: rt.save_model(
        m, str(xml), compress_to_fp16=False
    ),
    "save_model_fp16": lambda rt, m, xml: rt.save_model(
        m, str(xml), compress_to_fp16=True
    ),
    "serialize": lambda rt, m, xml: rt.serialize(
        m, str(xml), str(xml.with_suffix(".bin"))
    ),
}


def source_model(rt, ov_ir, name: str):
    """The model to write and its inputs: built with `rt.opset16`, or read by `rt` from OpenVINO's IR."""
    if name in BUILT_MODELS:
        build, make_inputs = BUILT_MODELS[name]
        return build(rt), make_inputs()
    model = rt.Core().read_model(str(ov_ir.xml(name, compress_to_fp16=False)))
    return model, random_inputs(model, seed=0)


def has_f16_constants(model) -> bool:
    return any(
        op.get_type_name() == "Constant"
        and op.get_element_type().get_type_name() == "f16"
        for op in model.get_ops()
    )


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("source", sorted(BUILT_MODELS) + list(LIGHT_SOURCES))
def test_round_trip(rt, ov, ov_ir, tmp_path: Path, source, writer):
    if source in LIGHT_SOURCES:
        pytest.importorskip("onnx")
    model, inputs = source_model(rt, ov_ir, source)
    xml = tmp_path / "written.xml"
    WRITERS[writer](rt, model, xml)

    read_by_openvino = ov.Core().read_model(str(xml))
    read_back = rt.Core().read_model(str(xml))
    assert_same_interface(read_back, read_by_openvino)
    assert has_f16_constants(read_by_openvino) == (writer == "save_model_fp16")

    expected = infer(compile_f32(ov, read_by_openvino), inputs)
    assert_outputs_close(infer(compile_f32(rt, read_back), inputs), expected)
    if writer != "save_model_fp16":
        # f32 writes are lossless: the written model computes what the in-memory one does.
        assert_outputs_close(infer(compile_f32(rt, model), inputs), expected)
