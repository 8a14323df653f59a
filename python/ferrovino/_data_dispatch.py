"""Input normalisation for ``InferRequest.infer`` and ``CompiledModel.__call__``, as OpenVINO's data dispatcher does.

Accepted containers: a dict keyed by input index, tensor name or port; a list or tuple in input order (a flat list
of numbers for a single-input model is one value); an ``OVDict``; or a single value for input 0. Accepted values:
``Tensor`` (used as is), numpy arrays and anything with ``__array__``, lists, and scalars. Arrays of the input's
dtype that are C-contiguous and writeable are shared without a copy when ``share_inputs`` is true; otherwise (and
whenever the dtype differs, which converts the values as OpenVINO does) the data are copied.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np

from ferrovino._native import ConstOutput, Tensor, Type
from ferrovino._ovdict import OVDict

Key = Union[int, str, ConstOutput]

_SCALARS = (bool, int, float, np.number, np.bool_)


def _is_flat_number_list(values: Any) -> bool:
    return isinstance(values, list) and all(isinstance(v, _SCALARS) for v in values)


class InputPorts:
    """A request's model inputs with what binding asks of them on every inference, looked up once: the input
    each tensor name designates, and the numpy dtype each input takes as is (None where values always go
    through a conversion: dynamic, bf16, packed and ml_dtypes types)."""

    __slots__ = ("ports", "index_of_name", "dtypes", "copies")

    def __init__(self, ports: list[ConstOutput]) -> None:
        self.ports = ports
        self.index_of_name: dict[str, int] = {}
        for i, port in enumerate(ports):
            for name in port.get_names():
                self.index_of_name.setdefault(name, i)
        self.dtypes = [_plain_dtype(port.get_element_type()) for port in ports]
        # Per input, the tensor binding last made to hold a copy of the caller's values, with a view of them.
        self.copies: list[Optional[tuple[Tensor, np.ndarray]]] = [None] * len(ports)

    def refill(self, request: Any, index: int, values: np.ndarray) -> bool:
        """Copies ``values`` into the tensor binding last made for input ``index`` when the request still reads
        that tensor and it has their shape, as OpenVINO copies into the request's own tensor: no new memory
        per inference. False where it cannot."""
        made = self.copies[index]
        if made is None or made[1].shape != values.shape or request.get_input_tensor(index) is not made[0]:
            return False
        np.copyto(made[1], values)
        return True

    def copy(self, index: int, values: np.ndarray) -> Tensor:
        """A new tensor holding a copy of ``values`` for input ``index``, remembered for ``refill``."""
        tensor = Tensor(values, shared_memory=False)
        self.copies[index] = (tensor, tensor.data)
        return tensor

    def index(self, key: Key) -> Optional[int]:
        """The input an index or a tensor name designates; None for other keys (ports) and unknown ones."""
        if type(key) is int:
            return key if 0 <= key < len(self.ports) else None
        if type(key) is str:
            return self.index_of_name.get(key)
        return None


def _plain_dtype(element_type: Type) -> Optional[np.dtype]:
    """The numpy dtype whose arrays hold an element type's values as they are, if there is one."""
    if element_type in (Type.dynamic, Type.bf16, Type.u4, Type.i4) or element_type.get_type_name() in _ML_DTYPES:
        return None
    try:
        return np.dtype(element_type.to_dtype())
    except (TypeError, RuntimeError, ValueError):
        return None


def _items(ports: list[ConstOutput], inputs: Any) -> list[tuple[Key, Any]]:
    """The ``(key, value)`` pairs an ``inputs`` argument stands for."""
    if isinstance(inputs, dict):
        return list(inputs.items())
    if isinstance(inputs, OVDict):
        return list(enumerate(inputs.values()))
    if isinstance(inputs, (list, tuple)):
        if len(ports) == 1 and _is_flat_number_list(inputs):
            return [(0, inputs)]
        return list(enumerate(inputs))
    return [(0, inputs)]


def _port(request: Any, key: Key) -> ConstOutput:
    """The model input a key designates (used to learn its element type and shape)."""
    ports = request.model_inputs
    if isinstance(key, bool) or not isinstance(key, (int, str, ConstOutput)):
        raise TypeError(f"Incompatible key type for input: {key}")
    if isinstance(key, int):
        if not 0 <= key < len(ports):
            raise IndexError(f"input index {key} is out of range: the model has {len(ports)} inputs")
        return ports[key]
    if isinstance(key, str):
        for port in ports:
            if key in port.get_names():
                return port
        return request.get_tensor(key)  # raises NotFoundError naming the key
    return key


def _bf16_bits(values: np.ndarray) -> np.ndarray:
    """Rounds values to bfloat16 (to nearest even) and returns the bits in a float16 array, as bf16 tensors hold them."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return bits.astype(np.uint16).view(np.float16)


def _pack_nibbles(values: np.ndarray, signed: bool) -> np.ndarray:
    """Packs 4-bit values two per byte, low nibble first, as u4/i4 tensors hold them."""
    v = np.ascontiguousarray(values).astype(np.int8 if signed else np.uint8).reshape(-1)
    if not signed and (v > 15).any() or signed and ((v < -8) | (v > 7)).any():
        raise ValueError("value out of the 4-bit range")
    nibbles = v.astype(np.uint8) & 0xF
    if nibbles.size % 2:
        nibbles = np.append(nibbles, np.uint8(0))
    return (nibbles[0::2] | (nibbles[1::2] << 4)).astype(np.uint8)


def _as_array(value: Any, key: Key) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (list, tuple)) or isinstance(value, _SCALARS) or hasattr(value, "__array__"):
        return np.asarray(value)
    raise TypeError(f"Incompatible inputs of type: {type(value)} under {key} key!")


def _to_tensor(value: Any, port: ConstOutput, key: Key, share: bool) -> Tensor:
    """A tensor for one input value: shared when allowed and possible, otherwise converted and copied."""
    if isinstance(value, Tensor):
        return value
    array = _as_array(value, key)
    element_type = port.get_element_type()
    if element_type == Type.dynamic:
        return Tensor(array, shared_memory=share and array.flags.c_contiguous and array.flags.writeable)
    if element_type == Type.bf16:
        return Tensor(_bf16_bits(array).reshape(array.shape), array.shape, Type.bf16)
    if element_type.get_type_name() in _ML_DTYPES:
        return _narrow_tensor(array, element_type, key)
    if element_type in (Type.u4, Type.i4):
        try:
            packed = _pack_nibbles(array, signed=element_type == Type.i4)
        except ValueError as e:
            raise TypeError(f"input {key!r} expects {element_type.type_name} values: {e}") from None
        return Tensor(packed, array.shape, element_type)
    dtype = element_type.to_dtype()
    if array.dtype != dtype:
        if array.dtype.kind in "OSUV":
            raise TypeError(
                f"input {key!r} expects {element_type.type_name} values; got an array of dtype {array.dtype}"
            )
        array = array.astype(dtype)
    elif share and array.flags.c_contiguous and array.flags.writeable:
        return Tensor(array, shared_memory=True)
    if array.ndim == 0 and port.get_partial_shape().is_static and len(port.get_partial_shape()) > 0:
        array = array.reshape(port.get_shape())
    return Tensor(array, shared_memory=False)


# ml_dtypes' names of ferrovino's narrow types (one value per byte there; ferrovino packs 2- and 4-bit ones).
_ML_DTYPES = {
    "f8e4m3": "float8_e4m3fn",
    "f8e5m2": "float8_e5m2",
    "f8e8m0": "float8_e8m0fnu",
    "f4e2m1": "float4_e2m1fn",
    "f8e4m3fnuz": "float8_e4m3fnuz",
    "f8e5m2fnuz": "float8_e5m2fnuz",
    "i2": "int2",
    "u2": "uint2",
}


def _narrow_tensor(array: np.ndarray, element_type: Type, key: Key) -> Tensor:
    """A tensor of a narrow type: uint8 arrays of an 8-bit float type are its codes (as in OpenVINO); other arrays
    are converted to the ml_dtypes type of the same name (values, as ml_dtypes rounds them) and copied."""
    if element_type.bitwidth == 8 and array.dtype == np.uint8:
        return Tensor(np.ascontiguousarray(array), array.shape, element_type)
    if array.dtype.kind in "OSU":
        raise TypeError(f"input {key!r} expects {element_type.type_name} values; got an array of dtype {array.dtype}")
    try:
        import ml_dtypes
    except ImportError:
        raise TypeError(f"input {key!r} of type {element_type.type_name} needs ml_dtypes to convert values") from None
    return Tensor(array.astype(getattr(ml_dtypes, _ML_DTYPES[element_type.get_type_name()])))


def dispatch(request: Any, inputs: Any, share_inputs: bool) -> None:
    """Binds ``inputs`` to the request's input tensors (``request._inputs()`` describes its model inputs). An
    array of an input's own dtype (the common case) is bound without the general conversions and, when it is
    not shared, copied into the tensor the previous inference's copy made where the request still reads it."""
    if inputs is None:
        return
    ports: InputPorts = request._inputs()
    for key, value in _items(ports.ports, inputs):
        index = ports.index(key)
        if index is None:
            tensor = _to_tensor(value, _port(request, key), key, share_inputs)
            if isinstance(key, int):
                request.set_input_tensor(key, tensor)
            else:
                request.set_tensor(key, tensor)
            continue
        dtype = ports.dtypes[index]
        if dtype is not None and type(value) is np.ndarray and value.dtype == dtype and value.ndim > 0:
            flags = value.flags
            if share_inputs and flags.c_contiguous and flags.writeable:
                tensor = Tensor(value, shared_memory=True)
            elif ports.refill(request, index, value):
                continue
            else:
                tensor = ports.copy(index, value)
        else:
            tensor = _to_tensor(value, ports.ports[index], key, share_inputs)
        request.set_input_tensor(index, tensor)
