"""``ferrovino.properties.streams``: ``streams.num`` and ``streams.Num`` (``AUTO``, ``NUMA`` or a count)."""

from __future__ import annotations

import operator
from typing import Any

from ferrovino.properties._properties import Property, one


class Num(int):
    """A number of streams: ``Num(4)``, ``Num.AUTO`` (-1) or ``Num.NUMA`` (-2)."""

    AUTO: "Num"
    NUMA: "Num"

    def to_integer(self) -> int:
        """The number as a plain ``int``."""
        return int(self)

    def __repr__(self) -> str:
        return {-1: "<Num: AUTO>", -2: "<Num: NUMA>"}.get(int(self), f"<Num: {int(self)}>")


Num.AUTO = Num(-1)
Num.NUMA = Num(-2)


def _as_num(value: Any) -> Num:
    return value if isinstance(value, Num) else Num(operator.index(value))


num = Property("NUM_STREAMS", one(_as_num, "arg0: Num | int"), "num")
