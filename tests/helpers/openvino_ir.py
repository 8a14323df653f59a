"""IR files written by OpenVINO's own converter, generated at test time and cached for the session.

Sources: the nine `light_*` models shipped inside the `onnx` package (`openvino.convert_model`), the same
models with random weights (their own weights are all 0.02, which makes every output the same), and the
models of `helpers.models` built with `openvino.opset16`. Each is saved with `openvino.save_model`, once with
f32 weights and once with `compress_to_fp16=True`.
"""

from pathlib import Path
from types import ModuleType

import numpy as np

from .models import BUILT_MODELS

# The light models small enough to run again with random weights: VGG-19, AlexNet and ZFNet hold 60-140 M
# parameters (half a gigabyte of random f32 each) and add no op the others lack.
RANDOMIZED_LIGHT_MODEL_NAMES = (
    "light_densenet121",
    "light_inception_v1",
    "light_inception_v2",
    "light_resnet50",
    "light_shufflenet",
    "light_squeezenet",
)

# A light model with this suffix has its weights replaced by seeded random values (see `randomize_weights`).
RANDOM_SUFFIX = "@random"

LIGHT_MODEL_NAMES = (
    "light_bvlc_alexnet",
    "light_densenet121",
    "light_inception_v1",
    "light_inception_v2",
    "light_resnet50",
    "light_shufflenet",
    "light_squeezenet",
    "light_vgg19",
    "light_zfnet512",
)


def light_model_path(name: str) -> Path:
    """The .onnx file of a light model inside the installed onnx package."""
    import onnx

    path = (
        Path(onnx.__file__).parent
        / "backend"
        / "test"
        / "data"
        / "light"
        / f"{name}.onnx"
    )
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed onnx package")
    return path


def _fan_in(shape: list[int], consumer) -> int:
    """Inputs per output of a Conv filter [O, I, k...] or a Gemm matrix B ([K, N], or [N, K] under transB)."""
    if consumer.op_type == "Gemm":
        trans_b = any(a.name == "transB" and a.i for a in consumer.attribute)
        return shape[1] if trans_b else shape[0]
    return int(np.prod(shape[1:]))


def _random_weight(
    rng: np.random.Generator, shape: list[int], consumer, port: int
) -> np.ndarray:
    """He-scaled weights for Conv/Gemm filters, batch-norm-like statistics elsewhere."""
    if port == 1 and consumer.op_type in ("Conv", "Gemm"):
        return rng.standard_normal(shape) * np.sqrt(2.0 / _fan_in(shape, consumer))
    if consumer.op_type == "BatchNormalization" and port in (2, 3):
        return rng.standard_normal(shape) * 0.1
    if consumer.op_type == "BatchNormalization" and port == 1:
        # Scales below one keep residual stacks from growing until the final Softmax saturates.
        return rng.uniform(0.3, 0.7, shape)
    if port == 2 and consumer.op_type in ("Conv", "Gemm"):
        return rng.standard_normal(shape) * 0.1
    return rng.uniform(0.5, 1.5, shape)


def randomize_weights(model, seed: int = 3):
    """Replaces each ConstantOfShape weight of a light ONNX model by a seeded random initializer, in place."""
    from onnx import numpy_helper

    rng = np.random.default_rng(seed)
    shapes = {
        init.name: numpy_helper.to_array(init) for init in model.graph.initializer
    }
    consumers = {
        name: (node, port)
        for node in model.graph.node
        for port, name in enumerate(node.input)
    }
    kept = []
    for node in model.graph.node:
        if node.op_type != "ConstantOfShape" or node.input[0] not in shapes:
            kept.append(node)
            continue
        shape = [int(d) for d in shapes[node.input[0]]]
        consumer, port = consumers[node.output[0]]
        value = _random_weight(rng, shape, consumer, port).astype(np.float32)
        model.graph.initializer.append(numpy_helper.from_array(value, node.output[0]))
    del model.graph.node[:]
    model.graph.node.extend(kept)
    return model


class OpenVinoIrCache:
    """Writes each (model, compression) IR once into `directory` and hands back the .xml path."""

    def __init__(self, ov: ModuleType, directory: Path):
        self._ov, self._dir = ov, directory
        self._paths: dict[tuple[str, bool], Path] = {}

    def source_model(self, name: str):
        """The OpenVINO model of a light model or of a built test model."""
        if name in BUILT_MODELS:
            build, _ = BUILT_MODELS[name]
            return build(self._ov)
        base, randomized = (
            name.removesuffix(RANDOM_SUFFIX),
            name.endswith(RANDOM_SUFFIX),
        )
        if not randomized:
            return self._ov.convert_model(str(light_model_path(base)))
        import onnx

        path = self._dir / f"{base}_random.onnx"
        onnx.save(randomize_weights(onnx.load(str(light_model_path(base)))), str(path))
        return self._ov.convert_model(str(path))

    def xml(self, name: str, compress_to_fp16: bool) -> Path:
        """The .xml path of `name` saved by `openvino.save_model`, generating it on first use."""
        key = (name, compress_to_fp16)
        if key not in self._paths:
            suffix = "fp16" if compress_to_fp16 else "fp32"
            path = self._dir / f"{name}_{suffix}.xml"
            self._ov.save_model(
                self.source_model(name), str(path), compress_to_fp16=compress_to_fp16
            )
            self._paths[key] = path
        return self._paths[key]
