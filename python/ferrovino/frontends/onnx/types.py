"""ONNX element types and shapes as ferrovino sees them."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

_ONNX_TO_FERROVINO = {
    TensorProto.FLOAT: "f32",
    TensorProto.FLOAT16: "f16",
    TensorProto.BFLOAT16: "bf16",
    TensorProto.DOUBLE: "f64",
    TensorProto.INT4: "i4",
    TensorProto.INT8: "i8",
    TensorProto.INT16: "i16",
    TensorProto.INT32: "i32",
    TensorProto.INT64: "i64",
    TensorProto.UINT4: "u4",
    TensorProto.UINT8: "u8",
    TensorProto.UINT16: "u16",
    TensorProto.UINT32: "u32",
    TensorProto.UINT64: "u64",
    TensorProto.BOOL: "boolean",
    TensorProto.UINT2: "u2",
    TensorProto.INT2: "i2",
    TensorProto.FLOAT8E4M3FN: "f8e4m3",
    TensorProto.FLOAT8E5M2: "f8e5m2",
    TensorProto.FLOAT8E8M0: "f8e8m0",
    TensorProto.FLOAT4E2M1: "f4e2m1",
    TensorProto.FLOAT8E4M3FNUZ: "f8e4m3fnuz",
    TensorProto.FLOAT8E5M2FNUZ: "f8e5m2fnuz",
}


class UnsupportedType(Exception):
    """An ONNX element type ferrovino has no equivalent for."""


def element_type(onnx_type: int) -> str:
    """The ferrovino element-type name of an ONNX ``TensorProto`` data type."""
    try:
        return _ONNX_TO_FERROVINO[onnx_type]
    except KeyError:
        raise UnsupportedType(f"ONNX element type {TensorProto.DataType.Name(onnx_type)} is not supported") from None


def value_info_shape(vi: onnx.ValueInfoProto) -> Any:
    """The partial shape of a graph input/output: dim_value → length, dim_param or unknown → -1, no shape →
    dynamic rank (``None``)."""
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]


def _mapped_external(t: onnx.TensorProto, base_dir: str) -> Any:
    """A read-only memory map of a tensor stored in an external file, or None when numpy has no plain dtype for
    it (the caller then reads it through onnx). The map may be misaligned for its dtype (numpy reads such arrays;
    the Constant made of it reads the file region itself and copies it only if a kernel needs aligned values)."""
    info = {e.key: e.value for e in t.external_data}
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type))
    except (KeyError, TypeError, ValueError):
        return None
    if dtype.kind not in "biuf" or dtype.name in ("bfloat16",):
        return None
    path = os.path.join(base_dir, info["location"])
    shape = tuple(t.dims)
    count = int(np.prod(shape)) if shape else 1
    if "length" in info and int(info["length"]) != count * dtype.itemsize:
        raise OSError(f"external data of '{t.name}' in {path} holds {info['length']} bytes, expected "
                      f"{count * dtype.itemsize}")
    if count == 0:
        return np.zeros(shape, dtype)
    offset = int(info.get("offset", 0))
    if os.path.getsize(path) < offset + count * dtype.itemsize:
        raise OSError(f"external data of '{t.name}' in {path} ends before the {count * dtype.itemsize} bytes at "
                      f"offset {offset}")
    return np.memmap(path, dtype=dtype.newbyteorder("<"), mode="r", offset=offset, shape=shape)


def tensor_to_array(t: onnx.TensorProto, base_dir: str = "") -> np.ndarray:
    """The numpy value of an initializer or Constant tensor. Data in an external file next to the model
    (``base_dir``) is memory-mapped, not read, where numpy can view it directly."""
    element_type(t.data_type)  # rejects types ferrovino cannot hold before numpy sees them
    if t.data_location == TensorProto.EXTERNAL and base_dir:
        mapped = _mapped_external(t, base_dir)
        if mapped is not None:
            return mapped
    return numpy_helper.to_array(t, base_dir)
