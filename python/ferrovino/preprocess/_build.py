"""``PrePostProcessor.build`` for one input or output: new Parameters for the user's tensor, the steps (explicit,
then the implicit layout and type conversions), and the rewiring of the model; the same code, run on a copy with a
trace, gives ``str(ppp)``."""

from __future__ import annotations

from typing import Any, Optional

from ferrovino import InvalidArgumentError, Layout, PartialShape, Type
from ferrovino import opset13 as ops
from ferrovino.preprocess._enums import PLANES, YUV, ColorFormat, color_name
from ferrovino.preprocess._graph import (
    State,
    Target,
    convert_element_type,
    convert_layout,
    layout_text,
    permutation,
    same_layout,
)

_SHOWN_AS_MODEL = {ColorFormat.UNDEFINED, ColorFormat.RGB, ColorFormat.BGR, ColorFormat.GRAY}
"""Colour formats a model input may end up in."""


def port_layout(port: Any) -> Optional[Layout]:
    """The layout recorded in a port's runtime info, if any."""
    text = port.get_rt_info().get("layout")
    return Layout(text) if isinstance(text, str) and text not in ("", "[...]") else None


def port_label(port: Any) -> str:
    """How messages name a port: a tensor name, else its node's friendly name."""
    names = sorted(port.get_names())
    return names[0] if names else port.get_node().get_friendly_name()


def _dims(shape: PartialShape) -> list:
    """A partial shape as ints, -1 for dynamic dimensions."""
    return [d.get_length() if d.is_static else -1 for d in shape]


def _axis(layout: Optional[Layout], name: str, rank: int, what: str) -> int:
    """The axis of dimension ``name`` in ``layout``; raises a clear error when it has none."""
    if layout is None or layout.empty or not layout.has_name(name):
        raise InvalidArgumentError(f"{what} needs a layout with a '{name}' dimension, got {layout_text(layout)}")
    index = layout.get_index_by_name(name)
    return index + rank if index < 0 else index


def _image_dims(tensor: Any, model_shape: PartialShape, model_layout: Optional[Layout], layout: Optional[Layout]) -> list:
    """The user's image shape: the given shape, else the model's in the tensor layout with the spatial and colour
    settings applied."""
    if tensor.shape is not None:
        return _dims(tensor.shape)
    dims = _dims(model_shape)
    rank = len(dims)
    if not same_layout(model_layout, layout) and model_layout is not None and layout is not None:
        dims = [dims[i] for i in permutation(model_layout, layout, rank)]
    if tensor.spatial is not None:
        dims[_axis(layout, "H", rank, "set_spatial_*_shape")] = tensor.spatial[0]
        dims[_axis(layout, "W", rank, "set_spatial_*_shape")] = tensor.spatial[1]
    if tensor.color in (ColorFormat.RGBX, ColorFormat.BGRX):
        dims[_axis(layout, "C", rank, f"colour format {tensor.color.name}")] = 4
    return dims


def _plane_shapes(tensor: Any, dims: list, layout: Optional[Layout]) -> list:
    """The shape of each Parameter the user's tensor needs (several for a multi-plane YUV image)."""
    if tensor.color not in YUV:
        return [dims]
    if len(dims) != 4 or layout is None or str(layout) != "[N,H,W,C]":
        raise InvalidArgumentError(
            f"colour format {tensor.color.name} needs an NHWC tensor of rank 4, got {dims} in layout {layout_text(layout)}"
        )
    n, h, w = dims[0], dims[1], dims[2]
    if tensor.shape is not None and tensor.color not in PLANES:
        return [dims]

    def part(v: int, num: int, den: int) -> int:
        return -1 if v < 0 else v * num // den

    if tensor.color in PLANES:
        chroma = 2 if tensor.color == ColorFormat.NV12_TWO_PLANES else 1
        rest = [[n, part(h, 1, 2), part(w, 1, 2), chroma]] * (len(PLANES[tensor.color]) - 1)
        return [[n, h, w, 1]] + rest
    return [[n, part(h, 3, 2), w, 1]]


def _new_parameters(old: Any, shapes: list, element_type: Type, tensor: Any, layout: Optional[Layout]) -> list:
    """Parameters for the user's tensor: one named like ``old``, or one per plane named ``<old>/<sub_name>``."""
    old_port = old.output(0)
    if len(shapes) == 1:
        param = ops.parameter(PartialShape(shapes[0]), element_type, name=old.get_friendly_name())
        param.output(0).set_names(old_port.get_names())
        params = [param]
    else:
        subs = tensor.sub_names
        if subs and len(subs) != len(shapes):
            raise InvalidArgumentError(
                f"colour format {tensor.color.name} has {len(shapes)} planes but {len(subs)} sub_names were given"
            )
        params = [ops.parameter(PartialShape(s), element_type) for s in shapes]
        for param, sub in zip(params, subs):
            param.set_friendly_name(f"{old.get_friendly_name()}/{sub}")
            param.output(0).set_names({f"{name}/{sub}" for name in old_port.get_names()})
    for param in params:
        if layout is not None:
            param.output(0).set_rt_info(str(layout), "layout")
        if tensor.memory_type is not None:
            param.output(0).set_rt_info(tensor.memory_type, "memory_type")
    return params


def _model_size(shape: PartialShape, layout: Optional[Layout]) -> tuple:
    """The model input's (height, width), for a resize without a size."""
    rank = len(shape)
    axes = (_axis(layout, "H", rank, "resize to the model's size"), _axis(layout, "W", rank, "resize"))
    dims = [shape[a] for a in axes]
    if not all(d.is_static for d in dims):
        raise InvalidArgumentError(f"resize to the model's size needs a static height and width; the model has {shape}")
    return tuple(d.get_length() for d in dims)


def _run(steps: list, state: State, target: Target, trace: list, title: str) -> State:
    """Applies ``steps`` in order, recording ``label: (before) -> (after)`` lines under ``title``."""
    if steps:
        trace.append(f"    {title} ({len(steps)}):")
    for label, step in steps:
        trace.append(f"      {label}: ({state.describe()}")
        state = step(state, target)
        trace[-1] += f") -> ({state.describe()})"
    return state


def _implicit_input_steps(state: State, model_layout: Optional[Layout], model_type: Type) -> list:
    """The conversions OpenVINO adds after the user's steps: to the model's layout, then to its element type."""
    if state.color not in _SHOWN_AS_MODEL:
        raise InvalidArgumentError(
            "model shall have RGB/BGR/GRAY color format. Consider add 'convert_color' preprocessing operation to "
            f"convert current color format '{color_name(state.color)}' to RGB/BGR/GRAY"
        )
    steps = []
    if model_layout is not None and state.layout is not None and not same_layout(state.layout, model_layout):
        steps.append((f"convert layout {model_layout}", convert_layout(model_layout)))
    if state.element_type != model_type:
        steps.append((f"convert type ({model_type.get_type_name()})", convert_element_type(model_type)))
    return steps


def _replace_input(model: Any, old: Any, params: list, final: Any) -> None:
    """Feeds ``old``'s consumers from ``final`` and puts ``params`` in ``old``'s place among the parameters."""
    old_port = old.output(0)
    for node in model.get_ordered_ops():
        for inp in node.inputs():
            if inp.get_source_output() == old_port:
                inp.replace_source_output(final)
    index = model.get_parameter_index(old)
    tail = model.get_parameters()[index:]
    for param in tail:
        model.remove_parameter(param)
    model.add_parameters(params + tail[1:])


def build_input(model: Any, info: Any, parameter: Any = None, trace: Optional[list] = None) -> None:
    """Inserts the pre-processing of ``info`` (for ``parameter``, default the one it was made for) into ``model``."""
    old = parameter if parameter is not None else info.parameter
    trace = [] if trace is None else trace
    tensor, steps = info.tensor(), info.preprocess().steps
    old_port = old.output(0)
    model_type, model_shape = old_port.get_element_type(), old_port.get_partial_shape()
    model_layout = info.model().layout or port_layout(old_port) or info.preprocess().last_layout
    if not tensor.is_set() and not steps:
        if model_layout is not None:
            old_port.set_rt_info(str(model_layout), "layout")
        return
    layout = tensor.layout or (Layout("NHWC") if tensor.color != ColorFormat.UNDEFINED else model_layout)
    model_layout = model_layout or layout
    shapes = _plane_shapes(tensor, _image_dims(tensor, model_shape, model_layout, layout), layout)
    params = _new_parameters(old, shapes, tensor.element_type or model_type, tensor, layout)
    ports = [p.output(0) for p in params]
    shown = tensor.color != ColorFormat.UNDEFINED
    state = State(ports[0], layout, tensor.color, ports if len(ports) > 1 else [], shown)
    _describe_user_input(trace, port_label(old_port), state, ports, tensor.color)
    trace.append(f"    Model's expected tensor: {model_shape}, {layout_text(model_layout)}, {model_type.get_type_name()}")
    target = Target(model_type, lambda: _model_size(model_shape, model_layout))
    state = _run(steps, state, target, trace, "Pre-processing steps")
    implicit = _implicit_input_steps(state, model_layout, model_type)
    state = _run(implicit, state, target, trace, "Implicit pre-processing steps")
    final = state.port
    if not final.get_partial_shape().compatible(model_shape) or final.get_element_type() != model_type:
        raise InvalidArgumentError(
            f"input '{port_label(old_port)}': after pre-processing the tensor is {final.get_partial_shape()} "
            f"{final.get_element_type().get_type_name()} but the model expects {model_shape} "
            f"{model_type.get_type_name()}"
        )
    _replace_input(model, old, params, final)


def _describe_user_input(trace: list, name: str, state: State, ports: list, color: ColorFormat) -> None:
    """The header of an input's dump: its name, colour format and the user's tensor (or planes)."""
    trace.append(f'Input "{name}"' + (f" (color {color_name(color)}):" if state.show_color else ":"))
    if len(ports) == 1:
        trace.append(f"    User's input tensor: {State(ports[0], state.layout).describe()}")
        return
    trace.append(f"    {len(ports)} user's tensors expected for each plane:")
    for i, port in enumerate(ports):
        trace.append(f"       {i}: {State(port, state.layout).describe()}")


def build_output(info: Any, result: Any = None, trace: Optional[list] = None) -> None:
    """Inserts the post-processing of ``info`` before ``result`` (default: the Result it was made for)."""
    result = result if result is not None else info.result
    trace = [] if trace is None else trace
    tensor, steps = info.tensor(), info.postprocess().steps
    src = result.input_value(0)
    model_layout = info.model().layout or port_layout(src)
    layout = tensor.layout or model_layout
    state = State(src, model_layout)
    trace.append(f'Output "{port_label(src)}":')
    trace.append(f"    Model's data tensor: {state.describe()}")

    def no_size() -> tuple:
        raise InvalidArgumentError("post-processing has no resize")

    target = Target(tensor.element_type, no_size)
    state = _run(steps, state, target, trace, "Post-processing steps")
    implicit = []
    if layout is not None and state.layout is not None and not same_layout(state.layout, layout):
        implicit.append((f"convert layout {layout}", convert_layout(layout)))
    if tensor.element_type is not None and tensor.element_type != state.element_type:
        implicit.append((f"convert type ({tensor.element_type.get_type_name()})", convert_element_type(None)))
    state = _run(implicit, state, target, trace, "Post-processing implicit steps")
    trace.append(f"    User's output tensor: {state.describe()}")
    final = state.port
    if final == src:
        return
    names = src.get_names()
    src.set_names(set())
    final.set_names(names)
    final.get_node().set_friendly_name(f"{src.get_node().get_friendly_name()}.{src.get_index()}")
    result.input(0).replace_source_output(final)
    if layout is not None:
        final.set_rt_info(str(layout), "layout")


def _describe(build: Any, *args: Any) -> list:
    """The trace of a build on a copy; a failing step ends it with ``Error occurred: …`` as OpenVINO's does."""
    trace: list = []
    try:
        build(*args, trace=trace)
    except Exception as err:  # noqa: BLE001 - the dump reports any failure of a step, as OpenVINO's does
        trace.append(f"Error occurred: {err}")
    return trace


def describe_input(model: Any, info: Any, parameter: Any) -> list:
    """The dump of an input's pre-processing, built on ``model`` (a copy) for its ``parameter``."""
    return _describe(build_input, model, info, parameter)


def describe_output(info: Any, result: Any) -> list:
    """The dump of an output's post-processing, built before ``result`` (of a copy)."""
    return _describe(build_output, info, result)
