"""The graph side of pre- and post-processing: a :class:`State` (the current tensor with its layout and colour
format) and one function per step that adds ordinary ops (Convert, Transpose, Subtract, Multiply, Interpolate,
Slice, Pad, Gather) after it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional, Sequence

import numpy as np

from ferrovino import InvalidArgumentError, Layout, Output, Type
from ferrovino import opset13 as ops
from ferrovino.preprocess._enums import ColorFormat, PaddingMode, ResizeAlgorithm, color_name


@dataclass
class State:
    """The tensor a step works on: its port, layout (None when unknown) and colour format; ``planes`` lists the
    ports of every plane of a multi-plane image (the first one is ``port``) until a colour conversion joins them."""

    port: Output
    layout: Optional[Layout] = None
    color: ColorFormat = ColorFormat.UNDEFINED
    planes: list = field(default_factory=list)
    show_color: bool = False

    @property
    def element_type(self) -> Type:
        """The element type of the current tensor."""
        return self.port.get_element_type()

    @property
    def rank(self) -> int:
        """The rank of the current tensor (which must be known)."""
        return len(self.port.get_partial_shape())

    def with_port(self, node: Any, **changes: Any) -> "State":
        """This state moved to the output of ``node`` (a Node or Output), with other fields changed."""
        return replace(self, port=as_output(node), planes=[], **changes)

    def describe(self) -> str:
        """``[1,?,?,3], [N,H,W,C], u8, BGR`` as OpenVINO prints a step's input and output."""
        parts = [str(self.port.get_partial_shape()), layout_text(self.layout), self.element_type.get_type_name()]
        if self.show_color:
            parts.append(color_name(self.color))
        return ", ".join(parts)


@dataclass
class Target:
    """What the steps lead to: the type a plain ``convert_element_type()`` converts to (None: no conversion) and
    a function giving the model's (height, width) for ``resize`` without a size."""

    element_type: Optional[Type]
    size: Callable[[], tuple]


Step = Callable[[State, Target], State]
"""A step: the state before it (and the target) to the state after it."""


def as_output(value: Any) -> Output:
    """The port a step or custom function produced: an Output, or output 0 of a single-output Node."""
    if isinstance(value, Output):
        return value
    if hasattr(value, "output") and hasattr(value, "get_output_size"):
        if value.get_output_size() != 1:
            raise InvalidArgumentError(
                f"a pre/post-processing step must produce one output; {value} has {value.get_output_size()}"
            )
        return value.output(0)
    raise TypeError(f"a pre/post-processing step must return a Node or an Output, got {type(value).__name__}")


def layout_text(layout: Optional[Layout]) -> str:
    """A layout as OpenVINO prints it, ``<no layout>`` when unknown."""
    return "<no layout>" if layout is None or layout.empty else str(layout)


def fmt_values(values: Sequence[Any]) -> str:
    """``1,2,0.5``: numbers as C++ streams print them."""
    return ",".join(f"{float(v):g}" if isinstance(v, float) else str(v) for v in values)


# ---------------------------------------------------------------------------------------------------------------
# Layouts.


def layout_names(layout: Optional[Layout], rank: int) -> list:
    """The dimension names of ``layout`` for a tensor of ``rank`` (``?`` for unnamed ones); raises when the layout
    does not fit the rank."""
    if layout is None or layout.empty:
        raise InvalidArgumentError("the tensor has no layout; set one with set_layout (e.g. 'NCHW')")
    text = str(layout).strip("[]")
    names = [n.strip() for n in text.split(",")] if text else []
    if "..." in names:
        i = names.index("...")
        fill = rank - (len(names) - 1)
        if fill < 0:
            raise InvalidArgumentError(f"layout {layout} does not fit a tensor of rank {rank}")
        names = names[:i] + ["?"] * fill + names[i + 1 :]
    if len(names) != rank:
        raise InvalidArgumentError(f"layout {layout} has {len(names)} dimensions but the tensor has rank {rank}")
    return names


def axis_of(state: State, name: str, what: str) -> int:
    """The axis of dimension ``name`` (``C``, ``H``, ``W``) in the current layout; raises a clear error without."""
    if state.layout is None or not state.layout.has_name(name):
        raise InvalidArgumentError(
            f"{what} needs a layout with a '{name}' dimension; the tensor's layout is {layout_text(state.layout)} "
            "(set one with tensor().set_layout, e.g. 'NCHW')"
        )
    index = state.layout.get_index_by_name(name)
    return index + state.rank if index < 0 else index


def static_dim(state: State, axis: int, what: str) -> int:
    """The length of ``axis``; raises when it is dynamic."""
    dim = state.port.get_partial_shape()[axis]
    if not dim.is_static:
        raise InvalidArgumentError(f"{what} needs a static dimension {axis}; the tensor is {state.describe()}")
    return dim.get_length()


def permutation(src: Layout, dst: Layout, rank: int) -> list:
    """The Transpose order taking a tensor in layout ``src`` to layout ``dst``."""
    s, d = layout_names(src, rank), layout_names(dst, rank)
    order = []
    for i, name in enumerate(d):
        if name == "?":
            if s[i] != "?":
                raise InvalidArgumentError(f"cannot convert layout {src} to {dst}: dimension {i} is unnamed in {dst}")
            order.append(i)
        elif name in s:
            order.append(s.index(name))
        else:
            raise InvalidArgumentError(f"cannot convert layout {src} to {dst}: {src} has no dimension '{name}'")
    if sorted(order) != list(range(rank)):
        raise InvalidArgumentError(f"cannot convert layout {src} to {dst}: the dimensions do not match")
    return order


def permuted_layout(layout: Optional[Layout], order: Sequence[int], rank: int) -> Optional[Layout]:
    """``layout`` after a Transpose by ``order`` (None when the layout is unknown)."""
    if layout is None or layout.empty:
        return layout
    names = layout_names(layout, rank)
    return Layout("[" + ",".join(names[i] for i in order) + "]")


def same_layout(a: Optional[Layout], b: Optional[Layout]) -> bool:
    """True when both layouts are unknown or equal."""
    return (a is None or a.empty) == (b is None or b.empty) and (a is None or a.empty or a == b)


# ---------------------------------------------------------------------------------------------------------------
# Steps.


def convert_element_type(element_type: Optional[Type]) -> Step:
    """Convert to ``element_type`` (None: to the target's type); no op when the tensor already has it."""

    def step(state: State, target: Target) -> State:
        dst = element_type or target.element_type
        if dst is None or state.element_type == dst:
            return state
        return state.with_port(ops.convert(state.port, dst.get_type_name()))

    return step


def transpose(order: Sequence[int]) -> Step:
    """Transpose by ``order``; the layout follows."""

    def step(state: State, target: Target) -> State:
        rank = state.rank
        if sorted(order) != list(range(rank)):
            raise InvalidArgumentError(f"convert_layout: {list(order)} is not a permutation of a rank-{rank} tensor")
        if list(order) == list(range(rank)):
            return state
        node = ops.transpose(state.port, ops.constant(np.array(order, dtype=np.int64)))
        return state.with_port(node, layout=permuted_layout(state.layout, order, rank))

    return step


def convert_layout(dst: Layout) -> Step:
    """Transpose from the current layout to ``dst``."""

    def step(state: State, target: Target) -> State:
        if state.layout is None or state.layout.empty:
            raise InvalidArgumentError(f"convert_layout to {dst} needs the tensor's layout; set it with tensor().set_layout")
        order = permutation(state.layout, dst, state.rank)
        return replace(transpose(order)(state, target), layout=dst)

    return step


def per_channel(state: State, values: Sequence[float], what: str) -> np.ndarray:
    """``values`` as a constant of the tensor's (real) type that broadcasts over its channel axis."""
    if not state.element_type.is_real():
        raise InvalidArgumentError(
            f"{what} can be applied to floating-point tensors only; the tensor is "
            f"{state.element_type.get_type_name()} (add convert_element_type before it)"
        )
    dtype = state.element_type.to_dtype()
    if len(values) == 1:
        return np.array(values, dtype=dtype)
    axis = axis_of(state, "C", f"{what} with {len(values)} values")
    channels = state.port.get_partial_shape()[axis]
    if channels.is_static and channels.get_length() != len(values):
        raise InvalidArgumentError(f"{what} got {len(values)} values but the tensor has {channels.get_length()} channels")
    shape = [1] * state.rank
    shape[axis] = len(values)
    return np.array(values, dtype=dtype).reshape(shape)


def mean(values: Sequence[float]) -> Step:
    """Subtract ``values`` (one, or one per channel)."""

    def step(state: State, target: Target) -> State:
        return state.with_port(ops.subtract(state.port, ops.constant(per_channel(state, values, "mean"))))

    return step


def scale(values: Sequence[float]) -> Step:
    """Divide by ``values``, as a multiplication by their reciprocals (the graph OpenVINO's build produces)."""

    def step(state: State, target: Target) -> State:
        if any(v == 0 for v in values):
            raise InvalidArgumentError(f"scale values must not be zero, got {fmt_values(values)}")
        divisors = per_channel(state, values, "scale")
        return state.with_port(ops.multiply(state.port, ops.constant(np.reciprocal(divisors))))

    return step


_MODES = {
    ResizeAlgorithm.RESIZE_LINEAR: "linear",
    ResizeAlgorithm.RESIZE_CUBIC: "cubic",
    ResizeAlgorithm.RESIZE_NEAREST: "nearest",
    ResizeAlgorithm.RESIZE_BILINEAR_PILLOW: "bilinear_pillow",
    ResizeAlgorithm.RESIZE_BICUBIC_PILLOW: "bicubic_pillow",
}


_CUBE_COEFF = {ResizeAlgorithm.RESIZE_BICUBIC_PILLOW: -0.5}
"""OpenVINO's CPU plugin computes bicubic_pillow with Pillow's a = -0.5 whatever cube_coeff says; ferrovino's
Interpolate honours the attribute, so the step passes Pillow's value to get the same numbers."""


def resize(algorithm: ResizeAlgorithm, size: Optional[tuple]) -> Step:
    """Interpolate-11 on the H and W axes to ``size`` (height, width), or to the model's when None."""

    def step(state: State, target: Target) -> State:
        h, w = axis_of(state, "H", "resize"), axis_of(state, "W", "resize")
        sizes = np.array(size or target.size(), dtype=np.int64)
        node = ops.interpolate(
            state.port,
            ops.constant(sizes),
            mode=_MODES[algorithm],
            shape_calculation_mode="sizes",
            axes=ops.constant(np.array([h, w], dtype=np.int64)),
            cube_coeff=_CUBE_COEFF.get(algorithm, -0.75),
        )
        return state.with_port(node)

    return step


def slice_axes(port: Any, begin: Sequence[int], end: Sequence[int], axes: Sequence[int], step: int = 1) -> Any:
    """Slice-8 of ``port`` from ``begin`` to ``end`` on ``axes`` (bounds may be nodes)."""
    as_input = lambda v: v if not isinstance(v, (list, tuple)) else np.array(v, dtype=np.int64)  # noqa: E731
    return ops.slice(
        port,
        as_input(begin),
        as_input(end),
        np.full(len(axes), step, dtype=np.int64),
        np.array(axes, dtype=np.int64),
    )


def crop(begin: Sequence[int], end: Sequence[int]) -> Step:
    """Keep ``[begin, end)`` of the leading ``len(begin)`` axes (negative bounds count from the end)."""

    def step(state: State, target: Target) -> State:
        if len(begin) > state.rank:
            raise InvalidArgumentError(
                f"crop bounds have {len(begin)} values but the tensor has rank {state.rank}: {state.describe()}"
            )
        return state.with_port(slice_axes(state.port, list(begin), list(end), list(range(len(begin)))))

    return step


def pad(begin: Sequence[int], end: Sequence[int], value: float, mode: PaddingMode) -> Step:
    """Pad-12 by ``begin``/``end`` elements per axis, filled by ``mode`` (``value`` for CONSTANT)."""

    def step(state: State, target: Target) -> State:
        if len(begin) != state.rank or len(end) != state.rank:
            raise InvalidArgumentError(
                f"pad needs one value per dimension: begin {list(begin)}, end {list(end)}, tensor rank {state.rank}"
            )
        fill = np.array(value, dtype=state.element_type.to_dtype())
        node = ops.pad(
            state.port,
            np.array(begin, dtype=np.int64),
            np.array(end, dtype=np.int64),
            mode.name.lower(),
            ops.constant(fill) if mode == PaddingMode.CONSTANT else None,
        )
        return state.with_port(node)

    return step


def gather_channels(state: State, order: Sequence[int]) -> Any:
    """The tensor's channels picked in ``order`` (a Gather on the channel axis)."""
    axis = axis_of(state, "C", "reordering channels")
    return ops.gather(state.port, np.array(order, dtype=np.int32), np.array([axis], dtype=np.int32))


def reverse_channels() -> Step:
    """Reverse the channel order (RGB <-> BGR)."""

    def step(state: State, target: Target) -> State:
        axis = axis_of(state, "C", "reverse_channels")
        channels = static_dim(state, axis, "reverse_channels")
        return state.with_port(gather_channels(state, list(range(channels - 1, -1, -1))))

    return step


def custom(function: Callable[[Output], Any]) -> Step:
    """A user function from the current Output to a Node or Output."""

    def step(state: State, target: Target) -> State:
        return state.with_port(function(state.port))

    return step
