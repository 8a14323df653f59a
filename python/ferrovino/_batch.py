"""``get_batch`` and ``set_batch``: the batch dimension of a model, found through the ``N`` of its input layouts
(``parameter.set_layout(Layout("NCHW"))``), as ``openvino.get_batch`` / ``openvino.set_batch`` do."""

from __future__ import annotations

from typing import Any, Optional, Union

from ferrovino._native import Dimension, InvalidArgumentError, Model


def _batch_axis(parameter: Any) -> Optional[int]:
    """The axis of ``N`` in the layout of ``parameter`` (None when its layout has none or the rank is unknown)."""
    layout = parameter.get_layout()
    shape = parameter.get_output_partial_shape(0)
    if layout.empty or not layout.has_name("N") or shape.rank.is_dynamic:
        return None
    axis = layout.get_index_by_name("N")
    return axis + shape.rank.get_length() if axis < 0 else axis


def _merge(a: Dimension, b: Dimension) -> Optional[Dimension]:
    """The intersection of two dimensions, None when they conflict."""
    lo = max(a.get_min_length(), b.get_min_length())
    highs = [d.get_max_length() for d in (a, b) if d.get_max_length() >= 0]
    hi = min(highs) if highs else -1
    if hi >= 0 and lo > hi:
        return None
    return Dimension(lo) if lo == hi else Dimension(lo, hi)


def _describe(index: int, parameter: Any, detail: str) -> str:
    shape = parameter.get_output_partial_shape(0)
    return f"{index}: {{ name='{parameter.get_friendly_name()}', shape={shape}, layout={parameter.get_layout()}, {detail} }}"


def get_batch(model: Model) -> Dimension:
    """The batch dimension of ``model``: the ``N`` dimension of every input whose layout names one, merged. Raises
    when no input layout has ``N`` or the inputs disagree."""
    parameters = model.get_parameters()
    batch: Optional[Dimension] = None
    lines = []
    conflict = False
    for i, p in enumerate(parameters):
        axis = _batch_axis(p)
        if axis is None:
            lines.append(_describe(i, p, "no batch specified"))
            continue
        dim = p.get_output_partial_shape(0)[axis]
        lines.append(_describe(i, p, f"batch={dim}"))
        merged = dim if batch is None else _merge(batch, dim)
        conflict |= merged is None
        batch = merged if merged is not None else batch
    if batch is None:
        raise InvalidArgumentError(
            "Get original batch size fails due to batch is not set in any layout for any input. Available inputs:\n"
            + "\n".join(lines)
            + "\n---\nPlease use 'set_layout' API to set layout with batch dimension, e.g. "
            '`Model->get_parameters()[index]->set_layout("NCHW");`'
        )
    if conflict:
        with_batch = [line for line in lines if "batch=" in line]
        raise InvalidArgumentError(
            "Get original batch size fails due to conflicting batch values for inputs:\n"
            + "\n".join(with_batch)
            + "\n---\nPlease ensure that N(Batch) dimension is set correctly for listed parameters"
        )
    return batch


def set_batch(model: Model, batch_size: Union[int, Dimension] = -1) -> None:
    """Reshapes ``model`` so that the ``N`` dimension of every input whose layout names one is ``batch_size`` (an
    int, -1 meaning dynamic, or a Dimension such as ``Dimension(1, 8)``). Raises as :func:`get_batch` does when the
    layouts give no batch or the inputs disagree."""
    if not isinstance(batch_size, Dimension):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int):
            raise TypeError(f"set_batch() takes an int or a Dimension, got {type(batch_size).__name__}")
        batch_size = Dimension(batch_size)
    get_batch(model)
    shapes = {}
    for i, p in enumerate(model.get_parameters()):
        axis = _batch_axis(p)
        if axis is None:
            continue
        shape = p.get_output_partial_shape(0)
        dims = [shape[k] for k in range(shape.rank.get_length())]
        dims[axis] = batch_size
        shapes[i] = dims
    model.reshape(shapes)
