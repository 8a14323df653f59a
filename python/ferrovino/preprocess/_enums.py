"""The enums of ``openvino.preprocess``: colour formats, resize algorithms and padding modes."""

from __future__ import annotations

import enum


class ColorFormat(enum.Enum):
    """Colour format of an image tensor (``ColorFormat.NV12_TWO_PLANES`` …)."""

    UNDEFINED = 0
    NV12_SINGLE_PLANE = 1
    NV12_TWO_PLANES = 2
    I420_SINGLE_PLANE = 3
    I420_THREE_PLANES = 4
    RGB = 5
    BGR = 6
    GRAY = 7
    RGBX = 8
    BGRX = 9


class ResizeAlgorithm(enum.Enum):
    """Interpolation used by ``PreProcessSteps.resize``."""

    RESIZE_LINEAR = 0
    RESIZE_CUBIC = 1
    RESIZE_NEAREST = 2
    RESIZE_BILINEAR_PILLOW = 3
    RESIZE_BICUBIC_PILLOW = 4


class PaddingMode(enum.Enum):
    """How ``PreProcessSteps.pad`` fills the new elements."""

    CONSTANT = 0
    REFLECT = 1
    SYMMETRIC = 2


PLANES = {
    ColorFormat.NV12_TWO_PLANES: ("y", "uv"),
    ColorFormat.I420_THREE_PLANES: ("y", "u", "v"),
}
"""Planes of the multi-plane formats (one Parameter each)."""

YUV = {
    ColorFormat.NV12_SINGLE_PLANE,
    ColorFormat.NV12_TWO_PLANES,
    ColorFormat.I420_SINGLE_PLANE,
    ColorFormat.I420_THREE_PLANES,
}
"""Formats that hold Y and subsampled U/V planes."""

_NAMES = {
    ColorFormat.NV12_SINGLE_PLANE: "NV12 (single plane)",
    ColorFormat.NV12_TWO_PLANES: "NV12 (multi-plane)",
    ColorFormat.I420_SINGLE_PLANE: "I420 (single plane)",
    ColorFormat.I420_THREE_PLANES: "I420 (multi-plane)",
}


def color_name(fmt: ColorFormat) -> str:
    """The name OpenVINO prints for a colour format (``NV12 (multi-plane)``, ``BGR``)."""
    return _NAMES.get(fmt, fmt.name)
