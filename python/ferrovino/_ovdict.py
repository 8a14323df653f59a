"""``OVDict``: the read-only mapping of inference results, keyed by output port, index or tensor name."""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from typing import Union

import numpy as np

from ferrovino._native import ConstOutput

Key = Union[ConstOutput, int, str]


class OVDict(Mapping):
    """Inference results: ``{ConstOutput: numpy.ndarray}`` that can also be indexed by output index or name.

    Like a tuple it cannot be modified. ``to_dict()`` returns the underlying dict, ``to_tuple()`` the values.
    """

    __slots__ = ("_dict", "__weakref__")

    def __init__(self, results: dict[ConstOutput, np.ndarray]) -> None:
        self._dict = results

    def __iter__(self) -> Iterator[ConstOutput]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __repr__(self) -> str:
        return repr(self._dict)

    def _by_port(self, key: ConstOutput) -> np.ndarray:
        if key in self._dict:
            return self._dict[key]
        # A port of the original (uncompiled) model: match it by tensor name.
        names = key.get_names()
        for port, value in self._dict.items():
            if names & port.get_names():
                return value
        raise KeyError(key)

    def _by_index(self, key: int) -> np.ndarray:
        values = list(self._dict.values())
        if not -len(values) <= key < len(values):
            raise KeyError(key)
        return values[key]

    def _by_name(self, key: str) -> np.ndarray:
        for port, value in self._dict.items():
            if key in port.get_names():
                return value
        raise KeyError(key)

    def __getitem__(self, key: Key) -> np.ndarray:
        if isinstance(key, ConstOutput):
            return self._by_port(key)
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            return self._by_index(int(key))
        if isinstance(key, str):
            return self._by_name(key)
        raise TypeError(f"Unknown key type: {type(key)}")

    def keys(self) -> KeysView[ConstOutput]:
        return self._dict.keys()

    def values(self) -> ValuesView[np.ndarray]:
        return self._dict.values()

    def items(self) -> ItemsView[ConstOutput, np.ndarray]:
        return self._dict.items()

    def names(self) -> tuple[set[str], ...]:
        """The tensor names of every output, in order (an empty set for an unnamed output)."""
        return tuple(port.get_names() for port in self._dict)

    def to_dict(self) -> dict[ConstOutput, np.ndarray]:
        """The underlying dict (not a copy)."""
        return self._dict

    def to_tuple(self) -> tuple[np.ndarray, ...]:
        """The values in output order."""
        return tuple(self._dict.values())
