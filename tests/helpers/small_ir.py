"""A small valid IR v11 (conv -> bias add -> relu) as text, for tests that corrupt it on purpose.

Layers (id: name, type): 0 image Parameter, 1 weights Const, 2 conv Convolution, 3 bias Const,
4 bias_add Add, 5 relu ReLU, 6 output Result. The .bin holds the weights (24 bytes at offset 0) and the
bias (8 bytes at offset 24).
"""

from pathlib import Path

import numpy as np

INPUT_SHAPE = (1, 3, 4, 4)

WEIGHTS = (np.arange(6, dtype=np.float32) / 10).reshape(2, 3, 1, 1)
BIAS = np.array([0.5, -0.5], dtype=np.float32).reshape(1, 2, 1, 1)
WEIGHTS_BIN = WEIGHTS.tobytes() + BIAS.tobytes()


def _port(port_id: int, dims: tuple[int, ...], extra: str = "") -> str:
    body = "".join(f"<dim>{d}</dim>" for d in dims)
    return f'<port id="{port_id}" precision="FP32"{extra}>{body}</port>'


def _layer(
    layer_id: int, name: str, op: str, data: str, inputs: list[str], outputs: list[str]
) -> str:
    parts = [f'\t\t<layer id="{layer_id}" name="{name}" type="{op}" version="opset1">']
    if data:
        parts.append(f"\t\t\t<data {data} />")
    if inputs:
        parts.append("\t\t\t<input>" + "".join(inputs) + "</input>")
    if outputs:
        parts.append("\t\t\t<output>" + "".join(outputs) + "</output>")
    parts.append("\t\t</layer>")
    return "\n".join(parts)


_ACT = (1, 2, 4, 4)

SMALL_IR_XML = "\n".join(
    [
        '<?xml version="1.0"?>',
        '<net name="small" version="11">',
        "\t<layers>",
        _layer(
            0,
            "image",
            "Parameter",
            'shape="1,3,4,4" element_type="f32"',
            [],
            [_port(0, INPUT_SHAPE, ' names="image"')],
        ),
        _layer(
            1,
            "weights",
            "Const",
            'element_type="f32" shape="2, 3, 1, 1" offset="0" size="24"',
            [],
            [_port(0, (2, 3, 1, 1))],
        ),
        _layer(
            2,
            "conv",
            "Convolution",
            'strides="1, 1" dilations="1, 1" pads_begin="0, 0" pads_end="0, 0" auto_pad="explicit"',
            [_port(0, INPUT_SHAPE), _port(1, (2, 3, 1, 1))],
            [_port(2, _ACT)],
        ),
        _layer(
            3,
            "bias",
            "Const",
            'element_type="f32" shape="1, 2, 1, 1" offset="24" size="8"',
            [],
            [_port(0, (1, 2, 1, 1))],
        ),
        _layer(
            4,
            "bias_add",
            "Add",
            'auto_broadcast="numpy"',
            [_port(0, _ACT), _port(1, (1, 2, 1, 1))],
            [_port(2, _ACT)],
        ),
        _layer(
            5, "relu", "ReLU", "", [_port(0, _ACT)], [_port(1, _ACT, ' names="output"')]
        ),
        _layer(6, "output", "Result", "", [_port(0, _ACT)], []),
        "\t</layers>",
        "\t<edges>",
        '\t\t<edge from-layer="0" from-port="0" to-layer="2" to-port="0" />',
        '\t\t<edge from-layer="1" from-port="0" to-layer="2" to-port="1" />',
        '\t\t<edge from-layer="2" from-port="2" to-layer="4" to-port="0" />',
        '\t\t<edge from-layer="3" from-port="0" to-layer="4" to-port="1" />',
        '\t\t<edge from-layer="4" from-port="2" to-layer="5" to-port="0" />',
        '\t\t<edge from-layer="5" from-port="1" to-layer="6" to-port="0" />',
        "\t</edges>",
        "</net>",
        "",
    ]
)


def expected_output(x: np.ndarray) -> np.ndarray:
    """What the small IR computes, in numpy: relu(conv1x1(x) + bias)."""
    conv = np.einsum("oc,nchw->nohw", WEIGHTS[:, :, 0, 0], x)
    return np.maximum(conv + BIAS, 0.0).astype(np.float32)


def replace_once(text: str, old: str, new: str) -> str:
    """Replaces exactly one occurrence of `old`; fails the test set-up loudly when the template changed."""
    count = text.count(old)
    if count != 1:
        raise AssertionError(
            f"expected exactly one {old!r} in the small IR, found {count}"
        )
    return text.replace(old, new)


def write_ir(
    directory: Path,
    xml: str = SMALL_IR_XML,
    weights: bytes = WEIGHTS_BIN,
    stem: str = "model",
) -> Path:
    """Writes `stem.xml` and `stem.bin` into `directory` and returns the .xml path."""
    xml_path = directory / f"{stem}.xml"
    xml_path.write_text(xml)
    xml_path.with_suffix(".bin").write_bytes(weights)
    return xml_path
