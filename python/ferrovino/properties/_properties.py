"""The machinery behind ``ferrovino.properties``: callable property keys, property enums and ``OVAny``.

A property is a ``str`` subclass holding its key (``props.cache_dir == "CACHE_DIR"``). Calling it with no argument
returns the key; calling a read-write property with a value returns the ``(key, OVAny(value))`` pair that
``Core.set_property`` and ``compile_model`` accept, after checking the value's type as OpenVINO does.
"""

from __future__ import annotations

import enum
import numbers
import operator
from typing import Any, Callable, Optional

from ferrovino._native import Model, Tensor, Type

#: Checks the arguments of a property call and returns the value they stand for (TypeError when they do not fit).
Check = Callable[[str, tuple], Any]


class OVAny:
    """A property value as OpenVINO's ``OVAny`` holds it (``.value``, ``get()``, ``set()``)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def get(self) -> Any:
        """The value."""
        return self.value

    def set(self, value: Any) -> None:
        """Replaces the value."""
        self.value = value

    def aslist(self) -> list:
        """The value as a list."""
        return list(self.value)

    def __eq__(self, other: object) -> bool:
        return self.value == (other.value if isinstance(other, OVAny) else other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "<OVAny class>"


class PropertyEnum(enum.Enum):
    """Base of the property enums: ``repr`` ``<PerformanceMode.THROUGHPUT: 2>``, ``int()`` gives the value."""

    def __int__(self) -> int:
        return int(self.value)

    def __index__(self) -> int:
        return int(self.value)

    def __hash__(self) -> int:
        return hash(self.value)


class Property(str):
    """A property key that is also a function: ``p()`` is the key, ``p(value)`` the ``(key, OVAny)`` pair."""

    _check: Optional[Check]
    _name: str

    def __new__(cls, key: str, check: Optional[Check] = None, name: str = "") -> "Property":
        instance = super().__new__(cls, key)
        instance._check = check
        instance._name = name or key.lower()
        return instance

    def __call__(self, *args: Any) -> Any:
        if not args:
            return str(self)
        if self._check is None:
            raise TypeError(f"{self._name}(): incompatible function arguments: the property {self} is read-only, "
                            f"call it with no argument to get its key")
        return str(self), OVAny(self._check(self._name, args))


def _incompatible(name: str, expected: str, args: tuple) -> TypeError:
    return TypeError(f"{name}(): incompatible function arguments. The supported forms are {name}() -> str and "
                     f"{name}({expected}) -> tuple[str, OVAny]; invoked with: {', '.join(map(repr, args))}")


def one(convert: Callable[[Any], Any], expected: str) -> Check:
    """A check for one argument that ``convert`` accepts (it raises TypeError or ValueError otherwise)."""

    def check(name: str, args: tuple) -> Any:
        if len(args) == 1:
            try:
                return convert(args[0])
            except (TypeError, ValueError):
                pass
        raise _incompatible(name, expected, args)

    return check


def _as_bool(value: Any) -> bool:
    if isinstance(value, (bool, int)) or type(value).__name__ == "bool_":
        return bool(value)
    raise TypeError


def _as_float(value: Any) -> float:
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError


def _as_str(value: Any) -> str:
    if isinstance(value, str):
        return str(value)
    raise TypeError


def _instance_of(cls: type) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if isinstance(value, cls):
            return value
        raise TypeError

    return convert


BOOL = one(_as_bool, "arg0: bool")
INT = one(operator.index, "arg0: int")
FLOAT = one(_as_float, "arg0: float")
STR = one(_as_str, "arg0: str")
TYPE = one(_instance_of(Type), "arg0: Type")
MODEL = one(_instance_of(Model), "arg0: Model")
TENSOR = one(_instance_of(Tensor), "arg0: Tensor")


def enum_of(cls: type) -> Check:
    """A check for one member of a property enum."""
    return one(_instance_of(cls), f"arg0: {cls.__name__}")


def set_of(cls: type) -> Check:
    """A check for a set of members of a property enum."""

    def convert(value: Any) -> set:
        if isinstance(value, (set, frozenset)) and all(isinstance(v, cls) for v in value):
            return set(value)
        raise TypeError

    return one(convert, f"arg0: set[{cls.__name__}]")


def strings(name: str, args: tuple) -> str:
    """``device.priorities("CPU", "GPU")``: the names joined as OpenVINO writes them (``"CPU,GPU,"``)."""
    if not all(isinstance(a, str) for a in args):
        raise TypeError(f"{name}(): incorrect passed value: {args!r}, expected string values")
    return "".join(f"{a}," for a in args)


def dicts(name: str, args: tuple) -> dict:
    """``device.properties({"CPU": {...}}, {"GPU": {...}})``: the dictionaries merged."""
    merged: dict = {}
    for a in args:
        if not isinstance(a, dict):
            raise TypeError(f"{name}(): incorrect passed value: {a!r}, expected a dictionary {{device: {{key: value}}}}")
        merged.update(a)
    return merged
