"""Each malformed IR (and each wrong input at infer time) raises the documented exception, naming the layer.

Every ferrovino exception derives from `ferrovino.FerrovinoError`, a `RuntimeError` (as OpenVINO raises
`RuntimeError`). The documented classes:

| what is wrong                                            | exception              | message names        |
|----------------------------------------------------------|------------------------|----------------------|
| .bin truncated, Const offset or size past its end        | `ParseError`           | the Const layer      |
| malformed attribute or XML                               | `ParseError`           | the layer / the XML  |
| dangling edge, cyclic edges, port count mismatch         | `ParseError`           | the layer            |
| shapes that contradict (op shape inference fails)        | `ParseError`           | the layer            |
| unknown element type, op type or op version              | `UnsupportedError`     | the layer            |
| infer: input of the wrong element type                   | `InvalidArgumentError` | the input            |
| infer: input of the wrong shape                          | `ShapeError`           | the input            |

Each case edits the small valid IR of `helpers.small_ir`. Under `--runtime=openvino` only the exception
(a `RuntimeError`) is checked: OpenVINO's messages often leave the layer out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pytest
from helpers.runtime import compile_f32, infer
from helpers.small_ir import (
    INPUT_SHAPE,
    SMALL_IR_XML,
    WEIGHTS_BIN,
    expected_output,
    replace_once,
    write_ir,
)

XML = SMALL_IR_XML
BIAS_EDGE = '\t\t<edge from-layer="3" from-port="0" to-layer="4" to-port="1" />\n'
BIAS_PORT = '<port id="1" precision="FP32"><dim>1</dim><dim>2</dim><dim>1</dim><dim>1</dim></port>'


@dataclass(frozen=True)
class Case:
    """A corrupted IR: its text and weights, the exception class name and a pattern its message matches."""

    xml: str
    weights: bytes
    error: str
    message: str


CASES = {
    "truncated_bin": Case(XML, WEIGHTS_BIN[:28], "ParseError", r"\bbias\b"),
    "offset_past_end": Case(
        replace_once(XML, 'offset="24"', 'offset="4000"'),
        WEIGHTS_BIN,
        "ParseError",
        r"\bbias\b",
    ),
    "size_past_end": Case(
        replace_once(XML, 'offset="24" size="8"', 'offset="24" size="800"'),
        WEIGHTS_BIN,
        "ParseError",
        r"\bbias\b",
    ),
    "unknown_element_type": Case(
        replace_once(XML, 'element_type="f32" shape="2', 'element_type="f33" shape="2'),
        WEIGHTS_BIN,
        "UnsupportedError",
        r"\bweights\b.*f33|f33.*\bweights\b",
    ),
    "unknown_op": Case(
        replace_once(XML, 'type="ReLU"', 'type="Frobnicate"'),
        WEIGHTS_BIN,
        "UnsupportedError",
        r"\brelu\b.*Frobnicate|Frobnicate.*\brelu\b",
    ),
    "unknown_op_version": Case(
        replace_once(
            XML, 'type="ReLU" version="opset1"', 'type="ReLU" version="opset99"'
        ),
        WEIGHTS_BIN,
        "UnsupportedError",
        r"\brelu\b.*opset99|opset99.*\brelu\b",
    ),
    "dangling_edge_layer": Case(
        replace_once(
            XML, 'from-layer="4" from-port="2"', 'from-layer="42" from-port="2"'
        ),
        WEIGHTS_BIN,
        "ParseError",
        r"\brelu\b|\b42\b",
    ),
    "dangling_edge_port": Case(
        replace_once(
            XML, 'from-layer="4" from-port="2"', 'from-layer="4" from-port="7"'
        ),
        WEIGHTS_BIN,
        "ParseError",
        r"\bbias_add\b",
    ),
    "cyclic_edges": Case(
        replace_once(
            XML,
            'from-layer="2" from-port="2" to-layer="4"',
            'from-layer="5" from-port="1" to-layer="4"',
        ),
        WEIGHTS_BIN,
        "ParseError",
        r"\bbias_add\b|\brelu\b",
    ),
    "port_count_mismatch": Case(
        replace_once(
            replace_once(XML, BIAS_EDGE, ""), BIAS_PORT + "</input>", "</input>"
        ),
        WEIGHTS_BIN,
        "ParseError",
        r"\bbias_add\b",
    ),
    "shape_contradiction": Case(
        replace_once(
            XML,
            'shape="2, 3, 1, 1" offset="0" size="24"',
            'shape="2, 5, 1, 1" offset="0" size="40"',
        ),
        WEIGHTS_BIN + bytes(16),
        "ParseError",
        # The Const's data shape contradicts the dims its own output port declares.
        r"\bweights\b",
    ),
    "malformed_attribute": Case(
        replace_once(XML, 'strides="1, 1"', 'strides="1, x"'),
        WEIGHTS_BIN,
        "ParseError",
        r"\bconv\b",
    ),
    "malformed_xml": Case(
        XML[: XML.index('<layer id="3"')], WEIGHTS_BIN, "ParseError", r"(?i)xml"
    ),
}


def expected_error(rt, rt_name: str, name: str) -> type[Exception]:
    """The documented ferrovino class, or RuntimeError under OpenVINO."""
    if rt_name == "openvino":
        return RuntimeError
    cls = getattr(rt, name)
    assert issubclass(cls, rt.FerrovinoError) and issubclass(cls, RuntimeError)
    return cls


def check_message(rt_name: str, err: pytest.ExceptionInfo, pattern: str) -> None:
    if rt_name != "openvino":
        assert re.search(pattern, str(err.value), re.DOTALL), (
            f"{str(err.value)!r} does not match {pattern!r}"
        )


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).standard_normal(INPUT_SHAPE).astype(np.float32)


@pytest.fixture
def compiled(rt, tmp_path):
    return compile_f32(rt, rt.Core().read_model(str(write_ir(tmp_path))))


def test_small_ir_is_valid(compiled, image):
    """The uncorrupted IR loads and computes relu(conv(x) + bias): each failure below is the edit's doing."""
    np.testing.assert_allclose(
        infer(compiled, [image])[0], expected_output(image), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_malformed_ir_raises(rt, rt_name, tmp_path, image, case):
    xml = write_ir(tmp_path, case.xml, case.weights)
    with pytest.raises(expected_error(rt, rt_name, case.error)) as err:
        # OpenVINO defers some checks to compilation, so reading alone is not the contract.
        infer(compile_f32(rt, rt.Core().read_model(str(xml))), [image])
    check_message(rt_name, err, case.message)


def test_infer_wrong_element_type(rt, rt_name, compiled, image):
    request = compiled.create_infer_request()
    with pytest.raises(expected_error(rt, rt_name, "InvalidArgumentError")) as err:
        request.set_input_tensor(rt.Tensor(image.astype(np.int32)))
    check_message(rt_name, err, r"\bimage\b")


@pytest.mark.parametrize(
    "shape", [(1, 3, 5, 5), (3, 4, 4)], ids=["wrong_dims", "wrong_rank"]
)
def test_infer_wrong_shape(rt, rt_name, compiled, shape):
    with pytest.raises(expected_error(rt, rt_name, "ShapeError")) as err:
        infer(compiled, [np.zeros(shape, np.float32)])
    check_message(rt_name, err, r"\bimage\b")
