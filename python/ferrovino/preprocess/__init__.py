"""``ferrovino.preprocess``: OpenVINO's ``PrePostProcessor`` API.

Describe the tensor the application has (``input().tensor()``), the steps that turn it into what the model expects
(``input().preprocess()``), and the conversions of the outputs (``output().postprocess()``); ``build()`` inserts
ordinary ops (Convert, Transpose, Subtract, Multiply, Interpolate, Slice, Pad, Gather …) into the model, so every
device runs them. See ``docs/preprocess.md``.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Union

from ferrovino import InvalidArgumentError, Layout, Model, Output, PartialShape, Type
from ferrovino.preprocess import _graph
from ferrovino.preprocess._build import build_input, build_output, describe_input, describe_output
from ferrovino.preprocess._color import convert_color
from ferrovino.preprocess._enums import ColorFormat, PaddingMode, ResizeAlgorithm
from ferrovino.preprocess._graph import fmt_values

__all__ = [
    "ColorFormat",
    "InputInfo",
    "InputModelInfo",
    "InputTensorInfo",
    "OutputInfo",
    "OutputModelInfo",
    "OutputTensorInfo",
    "PaddingMode",
    "PostProcessSteps",
    "PrePostProcessor",
    "PreProcessSteps",
    "ResizeAlgorithm",
]

TypeLike = Any
"""``Type``, a numpy dtype or an element-type name."""

LayoutLike = Union[Layout, str]
"""``Layout`` or a layout string."""


def _type(value: TypeLike) -> Type:
    """``value`` as a Type."""
    return value if isinstance(value, Type) else Type(value)


def _layout(value: LayoutLike) -> Layout:
    """``value`` as a Layout."""
    return value if isinstance(value, Layout) else Layout(value)


def _floats(values: Union[float, Sequence[float]]) -> list:
    """One number or a list of numbers as a list of floats."""
    return [float(v) for v in values] if isinstance(values, (list, tuple)) else [float(values)]


class InputTensorInfo:
    """What the application passes for an input: element type, layout, shape, colour format, memory type."""

    def __init__(self) -> None:
        self.element_type: Optional[Type] = None
        self.layout: Optional[Layout] = None
        self.shape: Optional[PartialShape] = None
        self.spatial: Optional[tuple] = None
        self.color = ColorFormat.UNDEFINED
        self.sub_names: list = []
        self.memory_type: Optional[str] = None

    def set_element_type(self, type: TypeLike) -> "InputTensorInfo":
        """The element type of the user's tensor."""
        self.element_type = _type(type)
        return self

    def set_layout(self, layout: LayoutLike) -> "InputTensorInfo":
        """The layout of the user's tensor."""
        self.layout = _layout(layout)
        return self

    def set_shape(self, shape: Any) -> "InputTensorInfo":
        """The shape of the user's tensor (static or partial)."""
        self.shape = shape if isinstance(shape, PartialShape) else PartialShape(list(shape))
        return self

    def set_spatial_dynamic_shape(self) -> "InputTensorInfo":
        """The user's tensor has any height and width (resize to the model's is then typical)."""
        self.spatial = (-1, -1)
        return self

    def set_spatial_static_shape(self, height: int, width: int) -> "InputTensorInfo":
        """The user's tensor has this height and width."""
        self.spatial = (int(height), int(width))
        return self

    def set_color_format(self, format: ColorFormat, sub_names: Sequence[str] = ()) -> "InputTensorInfo":
        """The colour format of the user's image; ``sub_names`` name the planes of a multi-plane format."""
        if not isinstance(format, ColorFormat):
            raise TypeError(f"set_color_format takes a ColorFormat, got {type(format).__name__}")
        self.color = format
        self.sub_names = list(sub_names)
        return self

    def set_memory_type(self, memory_type: str) -> "InputTensorInfo":
        """A device memory type hint (kept in the new parameter's runtime info as ``memory_type``)."""
        self.memory_type = str(memory_type)
        return self

    def set_from(self, runtime_tensor: Any) -> "InputTensorInfo":
        """Element type and shape of a Tensor or numpy array."""
        import numpy as np

        from ferrovino import Tensor

        if isinstance(runtime_tensor, Tensor):
            self.element_type = runtime_tensor.get_element_type()
            self.shape = PartialShape(list(runtime_tensor.get_shape()))
        elif isinstance(runtime_tensor, np.ndarray):
            self.element_type = Type(runtime_tensor.dtype)
            self.shape = PartialShape(list(runtime_tensor.shape))
        else:
            raise TypeError(f"set_from takes a Tensor or a numpy array, got {type(runtime_tensor).__name__}")
        return self

    def is_set(self) -> bool:
        """True when anything about the user's tensor was given."""
        return any(v is not None for v in (self.element_type, self.layout, self.shape, self.spatial, self.memory_type)) or (
            self.color != ColorFormat.UNDEFINED
        )


class _Steps:
    """An ordered list of (label, step) pairs; each method adds one and returns self so calls chain.
    ``last_layout`` is the target of the last ``convert_layout`` to a Layout (the model's layout when not given)."""

    def __init__(self) -> None:
        self.steps: list = []
        self.last_layout: Optional[Layout] = None

    def _add(self, label: str, step: Callable) -> Any:
        self.steps.append((label, step))
        return self

    def _convert_element_type(self, type: Optional[TypeLike]) -> Any:
        target = None if type is None or _type(type).is_dynamic() else _type(type)
        label = f"convert type ({'dynamic' if target is None else target.get_type_name()})"
        return self._add(label, _graph.convert_element_type(target))

    def _convert_layout(self, layout: Union[LayoutLike, Sequence[int]]) -> Any:
        if isinstance(layout, (list, tuple)):
            order = [int(i) for i in layout]
            return self._add(f"convert layout ({fmt_values(order)})", _graph.transpose(order))
        dst = self.last_layout = _layout(layout)
        return self._add(f"convert layout {dst}", _graph.convert_layout(dst))

    def _custom(self, function: Callable[[Output], Any]) -> Any:
        if not callable(function):
            raise TypeError("custom takes a function from an Output to a Node or Output")
        return self._add("custom", _graph.custom(function))


class PreProcessSteps(_Steps):
    """The pre-processing steps of one input, applied in order."""

    def convert_element_type(self, type: Optional[TypeLike] = None) -> "PreProcessSteps":
        """Convert to ``type`` (default: the model's input type)."""
        return self._convert_element_type(type)

    def convert_layout(self, dst_layout: Union[LayoutLike, Sequence[int]]) -> "PreProcessSteps":
        """Transpose to ``dst_layout`` (a Layout, or a permutation list)."""
        return self._convert_layout(dst_layout)

    def convert_color(self, dst_format: ColorFormat) -> "PreProcessSteps":
        """Convert the colour format (NV12/I420 to RGB/BGR/GRAY, RGB <-> BGR, RGBX/BGRX to RGB/BGR, to GRAY)."""
        if not isinstance(dst_format, ColorFormat):
            raise TypeError(f"convert_color takes a ColorFormat, got {type(dst_format).__name__}")
        return self._add(f"convert color ({dst_format.name})", convert_color(dst_format))

    def mean(self, value: Union[float, Sequence[float]]) -> "PreProcessSteps":
        """Subtract ``value`` (one number, or one per channel)."""
        values = _floats(value)
        return self._add(f"mean ({fmt_values(values)})", _graph.mean(values))

    def scale(self, value: Union[float, Sequence[float]]) -> "PreProcessSteps":
        """Divide by ``value`` (one number, or one per channel)."""
        values = _floats(value)
        return self._add(f"scale ({fmt_values(values)})", _graph.scale(values))

    def resize(
        self, alg: ResizeAlgorithm, dst_height: Optional[int] = None, dst_width: Optional[int] = None
    ) -> "PreProcessSteps":
        """Resize height and width to (``dst_height``, ``dst_width``), or to the model's when not given."""
        if not isinstance(alg, ResizeAlgorithm):
            raise TypeError(f"resize takes a ResizeAlgorithm, got {type(alg).__name__}")
        if (dst_height is None) != (dst_width is None):
            raise TypeError("resize takes both dst_height and dst_width, or neither")
        if dst_height is None:
            return self._add("resize to model width/height", _graph.resize(alg, None))
        size = (int(dst_height), int(dst_width))
        return self._add(f"resize to ({size[0]}, {size[1]})", _graph.resize(alg, size))

    def crop(self, begin: Sequence[int], end: Sequence[int]) -> "PreProcessSteps":
        """Keep ``[begin, end)`` of the leading dimensions (negative values count from the end)."""
        b, e = [int(v) for v in begin], [int(v) for v in end]
        if len(b) != len(e):
            raise InvalidArgumentError(
                f"crop begin and end must have the same size, got begin {b} ({len(b)}) and end {e} ({len(e)})"
            )
        return self._add(f"Crop ([ {', '.join(map(str, b))} ],[ {', '.join(map(str, e))} ])", _graph.crop(b, e))

    def pad(
        self,
        pads_begin: Sequence[int],
        pads_end: Sequence[int],
        value: float,
        mode: PaddingMode,
    ) -> "PreProcessSteps":
        """Pad each dimension by ``pads_begin``/``pads_end`` elements, filled with ``value`` or by ``mode``."""
        if not isinstance(mode, PaddingMode):
            raise TypeError(f"pad takes a PaddingMode, got {type(mode).__name__}")
        b, e = [int(v) for v in pads_begin], [int(v) for v in pads_end]
        how = {
            PaddingMode.CONSTANT: f"with ({float(value):g})",
            PaddingMode.REFLECT: "reflected from tensor",
            PaddingMode.SYMMETRIC: "symmetrically added from tensor",
        }[mode]
        label = f"pad(begin ({fmt_values(b)}), end ({fmt_values(e)}), {how})"
        return self._add(label, _graph.pad(b, e, float(value), mode))

    def reverse_channels(self) -> "PreProcessSteps":
        """Reverse the order of the channels (needs a layout with ``C``)."""
        return self._add("reverse channels", _graph.reverse_channels())

    def custom(self, function: Callable[[Output], Any]) -> "PreProcessSteps":
        """A step of your own: ``function(Output) -> Node | Output``."""
        return self._custom(function)


class PostProcessSteps(_Steps):
    """The post-processing steps of one output, applied in order."""

    def convert_element_type(self, type: Optional[TypeLike] = None) -> "PostProcessSteps":
        """Convert to ``type`` (default: the user's output tensor type)."""
        return self._convert_element_type(type)

    def convert_layout(self, dst_layout: Union[LayoutLike, Sequence[int]]) -> "PostProcessSteps":
        """Transpose to ``dst_layout`` (a Layout, or a permutation list)."""
        return self._convert_layout(dst_layout)

    def custom(self, function: Callable[[Output], Any]) -> "PostProcessSteps":
        """A step of your own: ``function(Output) -> Node | Output``."""
        return self._custom(function)


class _ModelInfo:
    """The model's side of an input or output: its layout."""

    def __init__(self) -> None:
        self.layout: Optional[Layout] = None

    def set_layout(self, layout: LayoutLike) -> Any:
        """The layout of the model's tensor."""
        self.layout = _layout(layout)
        return self


class InputModelInfo(_ModelInfo):
    """The layout of a model input."""


class OutputModelInfo(_ModelInfo):
    """The layout of a model output."""


class OutputTensorInfo:
    """What the application receives for an output: element type and layout."""

    def __init__(self) -> None:
        self.element_type: Optional[Type] = None
        self.layout: Optional[Layout] = None

    def set_element_type(self, type: TypeLike) -> "OutputTensorInfo":
        """The element type of the user's output tensor."""
        self.element_type = _type(type)
        return self

    def set_layout(self, layout: LayoutLike) -> "OutputTensorInfo":
        """The layout of the user's output tensor."""
        self.layout = _layout(layout)
        return self


class InputInfo:
    """Pre-processing of one model input: ``tensor()``, ``preprocess()`` and ``model()``."""

    def __init__(self, parameter: Any) -> None:
        self.parameter = parameter
        self._tensor = InputTensorInfo()
        self._steps = PreProcessSteps()
        self._model = InputModelInfo()

    def tensor(self) -> InputTensorInfo:
        """The user's tensor."""
        return self._tensor

    def preprocess(self) -> PreProcessSteps:
        """The pre-processing steps."""
        return self._steps

    def model(self) -> InputModelInfo:
        """The model's input."""
        return self._model


class OutputInfo:
    """Post-processing of one model output: ``model()``, ``postprocess()`` and ``tensor()``."""

    def __init__(self, result: Any) -> None:
        self.result = result
        self._tensor = OutputTensorInfo()
        self._steps = PostProcessSteps()
        self._model = OutputModelInfo()

    def tensor(self) -> OutputTensorInfo:
        """The user's output tensor."""
        return self._tensor

    def postprocess(self) -> PostProcessSteps:
        """The post-processing steps."""
        return self._steps

    def model(self) -> OutputModelInfo:
        """The model's output."""
        return self._model


class PrePostProcessor:
    """Adds pre- and post-processing to a model: configure ``input()``/``output()``, then ``build()``."""

    def __init__(self, model: Model) -> None:
        if not isinstance(model, Model):
            raise TypeError(f"PrePostProcessor takes a Model, got {type(model).__name__}")
        self._model = model
        self._inputs: dict = {}
        self._outputs: dict = {}

    def input(self, key: Union[int, str, None] = None) -> InputInfo:
        """The pre-processing of an input, by index or tensor name (no argument: the only input)."""
        port = self._model.input() if key is None else self._model.input(key)
        if port not in self._inputs:
            self._inputs[port] = InputInfo(port.get_node())
        return self._inputs[port]

    def output(self, key: Union[int, str, None] = None) -> OutputInfo:
        """The post-processing of an output, by index or tensor name (no argument: the only output)."""
        port = self._model.output() if key is None else self._model.output(key)
        if port not in self._outputs:
            self._outputs[port] = OutputInfo(port.get_node())
        return self._outputs[port]

    def build(self) -> Model:
        """Inserts the steps into the model (which it changes and returns)."""
        for info in self._inputs.values():
            build_input(self._model, info)
        for info in self._outputs.values():
            build_output(info)
        self._model.validate_nodes_and_infer_types()
        return self._model

    def __str__(self) -> str:
        """A readable dump of every input's and output's steps with the tensor before and after each."""
        copy = self._model.clone()
        params, results = copy.get_parameters(), copy.get_results()
        original_results = [r.output(0) for r in self._model.get_results()]
        lines: list = []
        for info in self._inputs.values():
            index = self._model.get_parameter_index(info.parameter)
            if index >= 0:
                lines += describe_input(copy, info, params[index])
        for port, info in self._outputs.items():
            if port in original_results:
                lines += describe_output(info, results[original_results.index(port)])
        return "\n".join(lines) + ("\n" if lines else "")

    def __repr__(self) -> str:
        return f"<PrePostProcessor: {self}>"
