"""The onnx package's light models (`onnx/backend/test/data/light`) with the input and output shipped with them."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def light_dir() -> Path:
    import onnx

    return Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def light_names() -> list[str]:
    """Every light model's name (the file stem), or none without the onnx package."""
    try:
        return sorted(p.stem for p in light_dir().glob("light_*.onnx"))
    except ImportError:
        return []


def light_case(name: str) -> tuple[Path, np.ndarray, np.ndarray]:
    """The model file, the input the onnx backend runner feeds it (arange(n) / n in the input's shape) and the
    output shipped with it."""
    import onnx
    from onnx import numpy_helper

    path = light_dir() / f"{name}.onnx"
    model = onnx.load(str(path), load_external_data=False)
    inits = {t.name for t in model.graph.initializer}
    (vi,) = [i for i in model.graph.input if i.name not in inits]
    shape = tuple(d.dim_value if d.HasField("dim_value") else 1 for d in vi.type.tensor_type.shape.dim)
    n = int(np.prod(shape))
    x = (np.arange(n).reshape(shape) / n).astype(np.float32)
    expected = numpy_helper.to_array(onnx.load_tensor(str(light_dir() / f"{name}_output_0.pb")))
    return path, x, expected
