"""The models of the side-by-side benchmark (`benches/compare.py`) and of `tests/test_compare_models.py`.

Every model is built or found offline and written once as an ``.onnx`` file under a cache folder
(`benches/.models/` by default), so reruns only read it:

- ``resnet50``: the onnx package's light ResNet-50 graph (1x3x224x224) with seeded random weights in place of its
  ConstantOfShape ones;
- ``bert``: a BERT-base-shaped encoder (12 layers, hidden 768, 12 heads, FFN 3072, Erf-GELU, opset-17
  LayerNormalization, masked MatMul-Softmax-MatMul attention) at sequence 128, random weights;
- ``yolo``: a YOLOv8n-shaped detector (Conv+SiLU with batch norm folded into the bias, C2f blocks, SPPF, nearest
  upsampling + Concat neck, three decoupled heads with DFL box decoding) at 640x640, random weights;
- ``mobilenet``: MobileNetV2 (inverted residuals, depthwise 3x3, ReLU6 as Clip) at 224x224, random weights;
- ``magika``: the model shipped in the magika wheel.

Each builder takes size arguments, so the tests can build small variants of the same architectures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

DEFAULT_CACHE = Path(__file__).resolve().parent / ".models"
OPSET = 17
IR_VERSION = 8


@dataclass
class BenchModel:
    """One benchmark model: its ONNX file and the inputs every runtime gets."""

    name: str
    path: Path
    feeds: dict[str, np.ndarray]
    description: str


class GraphBuilder:
    """Collects ONNX nodes and initializers with unique names and random weights from one seeded generator."""

    def __init__(self, seed: int) -> None:
        from onnx import helper, numpy_helper

        self._helper = helper
        self._numpy_helper = numpy_helper
        self.rng = np.random.default_rng(seed)
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def fresh(self, prefix: str) -> str:
        """A tensor name not used before."""
        self._count += 1
        return f"{prefix}_{self._count}"

    def const(self, value, prefix: str = "c") -> str:
        """An initializer holding ``value`` (its dtype kept); returns its name."""
        name = self.fresh(prefix)
        self.initializers.append(self._numpy_helper.from_array(np.asarray(value), name))
        return name

    def normal(self, shape: Sequence[int], std: float, prefix: str = "w") -> str:
        """A float32 initializer drawn from N(0, std^2)."""
        return self.const((self.rng.standard_normal(tuple(shape)) * std).astype(np.float32), prefix)

    def op(self, op_type: str, inputs: Sequence[str], outputs: int = 1, **attrs):
        """Appends one node; returns its output name, or the list of names when ``outputs`` > 1."""
        names = [self.fresh(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(self._helper.make_node(op_type, list(inputs), names, name=self.fresh(op_type), **attrs))
        return names[0] if outputs == 1 else names

    def model(self, name: str, inputs: Sequence[tuple[str, int, Sequence[int]]],
              outputs: Sequence[tuple[str, str, Sequence[int]]]):
        """The ModelProto: ``inputs`` are (name, onnx element type, shape); ``outputs`` are (graph output name, the
        tensor it names, shape), float32. Each output gets an Identity so its name is the one given."""
        helper = self._helper
        from onnx import TensorProto

        for out_name, tensor, _ in outputs:
            self.nodes.append(helper.make_node("Identity", [tensor], [out_name], name=self.fresh("Identity")))
        graph = helper.make_graph(
            self.nodes, name,
            [helper.make_tensor_value_info(n, t, list(s)) for n, t, s in inputs],
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, _, s in outputs],
            self.initializers,
        )
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
                                 producer_name="ferrovino-benches")


# --- BERT -------------------------------------------------------------------------------------------------------


def _layer_norm(g: GraphBuilder, x: str, hidden: int) -> str:
    gamma = g.const(np.ones(hidden, np.float32), "ln_gamma")
    beta = g.const(np.zeros(hidden, np.float32), "ln_beta")
    return g.op("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=1e-12)


def _dense(g: GraphBuilder, x: str, fan_in: int, fan_out: int) -> str:
    """MatMul by a weight + bias Add, as exporters write a Linear layer."""
    y = g.op("MatMul", [x, g.normal((fan_in, fan_out), 0.02)])
    return g.op("Add", [y, g.normal((fan_out,), 0.02, "b")])


def _gelu(g: GraphBuilder, x: str) -> str:
    """x * 0.5 * (1 + erf(x / sqrt 2)), the opset-17 export of GELU."""
    erf = g.op("Erf", [g.op("Div", [x, g.const(np.float32(math.sqrt(2.0)))])])
    one_plus = g.op("Add", [erf, g.const(np.float32(1.0))])
    return g.op("Mul", [g.op("Mul", [x, one_plus]), g.const(np.float32(0.5))])


def _attention(g: GraphBuilder, x: str, mask_bias: str, hidden: int, heads: int) -> str:
    head_dim = hidden // heads
    split = g.const(np.array([0, 0, heads, head_dim], np.int64), "split_heads")

    def heads_of(t: str, perm: list[int]) -> str:
        return g.op("Transpose", [g.op("Reshape", [t, split])], perm=perm)

    q = heads_of(_dense(g, x, hidden, hidden), [0, 2, 1, 3])
    k_t = heads_of(_dense(g, x, hidden, hidden), [0, 2, 3, 1])
    v = heads_of(_dense(g, x, hidden, hidden), [0, 2, 1, 3])
    scores = g.op("Div", [g.op("MatMul", [q, k_t]), g.const(np.float32(math.sqrt(head_dim)))])
    probs = g.op("Softmax", [g.op("Add", [scores, mask_bias])], axis=-1)
    context = g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
    context = g.op("Reshape", [context, g.const(np.array([0, 0, hidden], np.int64), "merge_heads")])
    return _dense(g, context, hidden, hidden)


def build_bert(layers: int = 12, hidden: int = 768, heads: int = 12, ffn: int = 3072, seq: int = 128,
               vocab: int = 30522, max_positions: int = 512, seed: int = 0):
    """A BERT-base-shaped encoder with inputs ``input_ids`` and ``attention_mask`` (int64, 1 x seq) and output
    ``last_hidden_state`` (1 x seq x hidden)."""
    from onnx import TensorProto

    g = GraphBuilder(seed)
    words = g.op("Gather", [g.normal((vocab, hidden), 0.02, "word_embeddings"), "input_ids"])
    positions = g.op("Gather", [g.normal((max_positions, hidden), 0.02, "position_embeddings"),
                                g.const(np.arange(seq, dtype=np.int64)[None, :], "position_ids")])
    x = _layer_norm(g, g.op("Add", [words, positions]), hidden)
    inverted = g.op("Sub", [g.const(np.float32(1.0)), g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT)])
    mask_bias = g.op("Unsqueeze", [g.op("Mul", [inverted, g.const(np.float32(-10000.0))]),
                                   g.const(np.array([1, 2], np.int64))])
    for _ in range(layers):
        x = _layer_norm(g, g.op("Add", [_attention(g, x, mask_bias, hidden, heads), x]), hidden)
        h = _dense(g, _gelu(g, _dense(g, x, hidden, ffn)), ffn, hidden)
        x = _layer_norm(g, g.op("Add", [h, x]), hidden)
    return g.model(f"bert_{layers}x{hidden}",
                   [("input_ids", TensorProto.INT64, (1, seq)), ("attention_mask", TensorProto.INT64, (1, seq))],
                   [("last_hidden_state", x, (1, seq, hidden))])


def bert_feeds(seq: int, vocab: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random token ids and a mask whose last eighth is padding."""
    rng = np.random.default_rng(seed)
    mask = np.ones((1, seq), np.int64)
    mask[:, seq - seq // 8:] = 0
    return {"input_ids": rng.integers(0, vocab, (1, seq)).astype(np.int64), "attention_mask": mask}


# --- convolutional building blocks ---------------------------------------------------------------------------------


def _conv(g: GraphBuilder, x: str, c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1,
          act: str | None = "silu", bias_std: float = 0.1) -> str:
    """Conv with bias (a batch norm folded into it) and an activation: "silu" (x * Sigmoid(x)), "relu6" (Clip 0..6)
    or None."""
    fan_in = c_in // groups * k * k
    w = g.normal((c_out, c_in // groups, k, k), math.sqrt(2.0 / fan_in))
    y = g.op("Conv", [x, w, g.normal((c_out,), bias_std, "b")], kernel_shape=[k, k], strides=[stride, stride],
             pads=[k // 2] * 4, group=groups)
    if act == "silu":
        return g.op("Mul", [y, g.op("Sigmoid", [y])])
    if act == "relu6":
        return g.op("Clip", [y, g.const(np.float32(0.0)), g.const(np.float32(6.0))])
    return y


# --- YOLO ----------------------------------------------------------------------------------------------------------


def _c2f(g: GraphBuilder, x: str, c_in: int, c_out: int, n: int, shortcut: bool) -> str:
    """YOLOv8's C2f: a 1x1 conv split in two halves, n bottlenecks chained on the second, all concatenated."""
    c = c_out // 2
    parts = g.op("Split", [_conv(g, x, c_in, 2 * c, 1), g.const(np.array([c, c], np.int64))], outputs=2, axis=1)
    for _ in range(n):
        y = _conv(g, _conv(g, parts[-1], c, c, 3), c, c, 3)
        parts.append(g.op("Add", [parts[-1], y]) if shortcut else y)
    return _conv(g, g.op("Concat", parts, axis=1), (2 + n) * c, c_out, 1)


def _sppf(g: GraphBuilder, x: str, c_in: int, c_out: int) -> str:
    """Spatial pyramid pooling (fast): three chained 5x5 stride-1 max pools, concatenated."""
    y = [_conv(g, x, c_in, c_in // 2, 1)]
    for _ in range(3):
        y.append(g.op("MaxPool", [y[-1]], kernel_shape=[5, 5], strides=[1, 1], pads=[2, 2, 2, 2]))
    return _conv(g, g.op("Concat", y, axis=1), 2 * c_in, c_out, 1)


def _upsample(g: GraphBuilder, x: str) -> str:
    scales = g.const(np.array([1, 1, 2, 2], np.float32), "scales")
    return g.op("Resize", [x, "", scales], mode="nearest", coordinate_transformation_mode="asymmetric",
                nearest_mode="floor")


def _anchors(size: int, strides: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Anchor centres (1 x 2 x N, in grid cells) and their strides (1 x 1 x N) of all detection levels."""
    points, scale = [], []
    for s in strides:
        cells = size // s
        ys, xs = np.meshgrid(np.arange(cells) + 0.5, np.arange(cells) + 0.5, indexing="ij")
        points.append(np.stack([xs.ravel(), ys.ravel()]))
        scale.append(np.full(cells * cells, s))
    return (np.concatenate(points, 1)[None].astype(np.float32), np.concatenate(scale)[None, None].astype(np.float32))


def _detect(g: GraphBuilder, levels: Sequence[tuple[str, int]], size: int, classes: int, reg_max: int = 16) -> str:
    """Decoupled heads (box: 4 x reg_max distribution logits, class: sigmoid scores) with DFL decoding into
    (cx, cy, w, h) boxes in pixels; the output is 1 x (4 + classes) x N."""
    c_box, c_cls = max(16, levels[0][1] // 4, 4 * reg_max), max(levels[0][1], min(classes, 100))
    flat = []
    for x, c in levels:
        box = _conv(g, _conv(g, _conv(g, x, c, c_box, 3), c_box, c_box, 3), c_box, 4 * reg_max, 1, act=None)
        cls = _conv(g, _conv(g, _conv(g, x, c, c_cls, 3), c_cls, c_cls, 3), c_cls, classes, 1, act=None)
        head = g.op("Concat", [box, cls], axis=1)
        flat.append(g.op("Reshape", [head, g.const(np.array([1, 4 * reg_max + classes, -1], np.int64))]))
    out = g.op("Concat", flat, axis=2)
    box, cls = g.op("Split", [out, g.const(np.array([4 * reg_max, classes], np.int64))], outputs=2, axis=1)
    dist = g.op("Reshape", [box, g.const(np.array([1, 4, reg_max, -1], np.int64))])
    dist = g.op("Softmax", [g.op("Transpose", [dist], perm=[0, 2, 1, 3])], axis=1)
    bins = g.const(np.arange(reg_max, dtype=np.float32).reshape(1, reg_max, 1, 1), "dfl")
    dist = g.op("Reshape", [g.op("Conv", [dist, bins]), g.const(np.array([1, 4, -1], np.int64))])
    left_top, right_bottom = g.op("Split", [dist, g.const(np.array([2, 2], np.int64))], outputs=2, axis=1)
    anchors, strides = _anchors(size, [8, 16, 32])
    anchor = g.const(anchors, "anchors")
    x1y1, x2y2 = g.op("Sub", [anchor, left_top]), g.op("Add", [anchor, right_bottom])
    centre = g.op("Div", [g.op("Add", [x1y1, x2y2]), g.const(np.float32(2.0))])
    boxes = g.op("Mul", [g.op("Concat", [centre, g.op("Sub", [x2y2, x1y1])], axis=1), g.const(strides, "strides")])
    return g.op("Concat", [boxes, g.op("Sigmoid", [cls])], axis=1)


def build_yolo(size: int = 640, width: float = 0.25, depth: float = 0.33, classes: int = 80, seed: int = 0):
    """A YOLOv8-shaped detector (n variant by default) with input ``images`` (1 x 3 x size x size) and output
    ``output0`` (1 x (4 + classes) x anchors)."""
    from onnx import TensorProto

    def ch(c: int) -> int:
        return max(8, int(round(c * width / 8)) * 8)

    def n(k: int) -> int:
        return max(1, round(k * depth))

    g = GraphBuilder(seed)
    x = _conv(g, _conv(g, "images", 3, ch(64), 3, 2), ch(64), ch(128), 3, 2)
    x = _c2f(g, x, ch(128), ch(128), n(3), True)
    p3 = _c2f(g, _conv(g, x, ch(128), ch(256), 3, 2), ch(256), ch(256), n(6), True)
    p4 = _c2f(g, _conv(g, p3, ch(256), ch(512), 3, 2), ch(512), ch(512), n(6), True)
    p5 = _c2f(g, _conv(g, p4, ch(512), ch(1024), 3, 2), ch(1024), ch(1024), n(3), True)
    p5 = _sppf(g, p5, ch(1024), ch(1024))
    h4 = _c2f(g, g.op("Concat", [_upsample(g, p5), p4], axis=1), ch(1024) + ch(512), ch(512), n(3), False)
    o3 = _c2f(g, g.op("Concat", [_upsample(g, h4), p3], axis=1), ch(512) + ch(256), ch(256), n(3), False)
    o4 = _c2f(g, g.op("Concat", [_conv(g, o3, ch(256), ch(256), 3, 2), h4], axis=1), ch(256) + ch(512), ch(512),
              n(3), False)
    o5 = _c2f(g, g.op("Concat", [_conv(g, o4, ch(512), ch(512), 3, 2), p5], axis=1), ch(512) + ch(1024), ch(1024),
              n(3), False)
    out = _detect(g, [(o3, ch(256)), (o4, ch(512)), (o5, ch(1024))], size, classes)
    anchors = sum((size // s) ** 2 for s in (8, 16, 32))
    return g.model(f"yolo_{size}", [("images", TensorProto.FLOAT, (1, 3, size, size))],
                   [("output0", out, (1, 4 + classes, anchors))])


# --- MobileNetV2 ---------------------------------------------------------------------------------------------------

MOBILENET_V2_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1))


def build_mobilenet_v2(size: int = 224, width: float = 1.0, classes: int = 1000, seed: int = 0):
    """MobileNetV2 with input ``input`` (1 x 3 x size x size) and output ``logits`` (1 x classes)."""
    from onnx import TensorProto

    def ch(c: float) -> int:
        return max(8, int(c * width + 4) // 8 * 8)

    g = GraphBuilder(seed)
    c_in = ch(32)
    x = _conv(g, "input", 3, c_in, 3, 2, act="relu6")
    for expand, c, repeats, stride in MOBILENET_V2_BLOCKS:
        c_out = ch(c)
        for i in range(repeats):
            s = stride if i == 0 else 1
            hidden = c_in * expand
            y = x if expand == 1 else _conv(g, x, c_in, hidden, 1, act="relu6")
            y = _conv(g, y, hidden, hidden, 3, s, groups=hidden, act="relu6")
            y = _conv(g, y, hidden, c_out, 1, act=None, bias_std=0.01)
            x = g.op("Add", [x, y]) if s == 1 and c_in == c_out else y
            c_in = c_out
    last = max(1280, ch(1280))
    x = g.op("Flatten", [g.op("GlobalAveragePool", [_conv(g, x, c_in, last, 1, act="relu6")])], axis=1)
    logits = g.op("Gemm", [x, g.normal((classes, last), 0.01), g.normal((classes,), 0.01, "b")], transB=1)
    return g.model(f"mobilenet_v2_{size}", [("input", TensorProto.FLOAT, (1, 3, size, size))],
                   [("logits", logits, (1, classes))])


def image_feeds(name: str, size: int, seed: int = 0) -> dict[str, np.ndarray]:
    """One random normalised image (1 x 3 x size x size, float32)."""
    return {name: np.random.default_rng(seed).standard_normal((1, 3, size, size)).astype(np.float32)}


# --- the files -----------------------------------------------------------------------------------------------------


def cached(cache_dir: Path, file_name: str, build: Callable[[], object]) -> Path:
    """The path of ``file_name`` under ``cache_dir``; built by ``build()`` (a ModelProto) and saved if absent."""
    import onnx

    path = Path(cache_dir) / file_name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        onnx.save(build(), str(partial))
        partial.replace(path)
    return path


def light_resnet50_path() -> Path:
    """The onnx package's light ResNet-50."""
    import onnx

    return Path(onnx.__file__).parent / "backend" / "test" / "data" / "light" / "light_resnet50.onnx"


def _random_parameter(name: str, shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """A random value for one ResNet-50 parameter, by its Caffe2 name: conv weights He-normal, batch norm scales
    below one (the last of each residual branch small, so the residual sums stay bounded), small biases and means,
    variances near one."""
    kind = name.rsplit("_", 2)[-2]
    if kind == "w" and len(shape) == 4:
        value = rng.standard_normal(shape) * math.sqrt(2.0 / int(np.prod(shape[1:])))
    elif kind == "w":
        value = rng.standard_normal(shape) * 0.05
    elif kind == "s":
        value = rng.uniform(0.1, 0.3, shape) if "branch2c" in name else rng.uniform(0.5, 1.0, shape)
    elif kind == "riv":
        value = rng.uniform(0.8, 1.2, shape)
    else:
        value = rng.standard_normal(shape) * 0.05
    return value.astype(np.float32)


def build_resnet50(seed: int = 0):
    """The light ResNet-50's graph with random weights. The light file makes most weights with ConstantOfShape
    (every value 0.02), which gives the same output for every input; here each weight is a seeded random
    initializer, the data input ``gpu_0/data_0`` the only graph input, and the graph otherwise unchanged (opset 9)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(light_resnet50_path()))
    graph, rng = model.graph, np.random.default_rng(seed)
    stored = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    shapes = {n.output[0]: tuple(int(d) for d in stored[n.input[0]]) for n in graph.node if n.op_type == "ConstantOfShape"}
    used = {i for n in graph.node if n.op_type != "ConstantOfShape" for i in n.input}
    weights = []
    for name in sorted(used):
        if name in shapes or (name in stored and stored[name].dtype == np.float32):
            value = _random_parameter(name, shapes.get(name) or stored[name].shape, rng)
        elif name in stored:
            value = stored[name]
        else:
            continue
        weights.append(numpy_helper.from_array(value, name))
    nodes = [n for n in graph.node if n.op_type != "ConstantOfShape"]
    data = [i for i in graph.input if i.name not in stored]
    new_graph = onnx.helper.make_graph(nodes, "resnet50_random", data, list(graph.output), weights)
    return onnx.helper.make_model(new_graph, opset_imports=list(model.opset_import), ir_version=4,
                                  producer_name="ferrovino-benches")


def _resnet50(cache_dir: Path) -> BenchModel:
    path = cached(cache_dir, "resnet50_light_random.onnx", build_resnet50)
    return BenchModel("resnet50", path, image_feeds("gpu_0/data_0", 224),
                      "ResNet-50 (onnx light model's graph, random weights), 1x3x224x224")


def _bert(cache_dir: Path) -> BenchModel:
    path = cached(cache_dir, "bert_base_l12_s128.onnx", build_bert)
    return BenchModel("bert", path, bert_feeds(128, 30522), "BERT-base encoder (12x768, 12 heads), seq 128")


def _yolo(cache_dir: Path) -> BenchModel:
    path = cached(cache_dir, "yolov8n_640.onnx", build_yolo)
    return BenchModel("yolo", path, image_feeds("images", 640), "YOLOv8n-shaped detector, 1x3x640x640")


def _mobilenet(cache_dir: Path) -> BenchModel:
    path = cached(cache_dir, "mobilenet_v2_224.onnx", build_mobilenet_v2)
    return BenchModel("mobilenet", path, image_feeds("input", 224), "MobileNetV2 1.0, 1x3x224x224")


def magika_path() -> Path:
    """The ONNX model inside the magika wheel."""
    import magika

    paths = sorted(Path(magika.__file__).parent.glob("models/*/model.onnx"))
    if not paths:
        raise FileNotFoundError(f"no models/*/model.onnx under {Path(magika.__file__).parent}")
    return paths[-1]


def _magika(cache_dir: Path) -> BenchModel:
    path = magika_path()
    # Input `bytes`: int32, batch x 2048, byte values 0..255 and 256 for padding.
    feeds = {"bytes": np.random.default_rng(0).integers(0, 257, (1, 2048)).astype(np.int32)}
    return BenchModel("magika", path, feeds, f"magika ({path.parent.name}), 1x2048 bytes")


BUILDERS: dict[str, Callable[[Path], BenchModel]] = {
    "resnet50": _resnet50,
    "bert": _bert,
    "yolo": _yolo,
    "mobilenet": _mobilenet,
    "magika": _magika,
}


def get_model(name: str, cache_dir: Path = DEFAULT_CACHE) -> BenchModel:
    """The benchmark model ``name`` (one of ``BUILDERS``), its file built on first use."""
    if name not in BUILDERS:
        raise KeyError(f"unknown model {name!r}; expected one of {', '.join(BUILDERS)}")
    return BUILDERS[name](Path(cache_dir))
