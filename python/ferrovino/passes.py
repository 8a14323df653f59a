"""Model passes with ``openvino.passes``'s API: a :class:`Manager` runs registered passes over a model in order.
:class:`MakeStateful` turns chosen (Parameter, Result) pairs into variables of a stateful model."""

from __future__ import annotations

from typing import Any, Union

from ferrovino._native import Model

__all__ = ["Manager", "MakeStateful", "ModelPass"]


class ModelPass:
    """A pass over a whole model: subclasses override :meth:`run_on_model` and return True when they changed it."""

    def run_on_model(self, model: Model) -> bool:
        """Rewrites ``model`` in place; returns whether it changed anything."""
        raise NotImplementedError


class MakeStateful(ModelPass):
    """Replaces each (Parameter, Result) pair by a variable: the Parameter's readers read a ReadValue, and the
    Result's value is written back by an Assign, so each inference sees the previous one's value (zeros at first).

    ``pairs_to_replace`` is ``{parameter tensor name: result tensor name}`` (the variable id is the two names
    joined) or a list of ``(Parameter node, Result node)`` tuples (the friendly names joined)."""

    def __init__(self, pairs_to_replace: Union[dict, list]) -> None:
        if isinstance(pairs_to_replace, dict):
            self._pairs = [(str(p), str(r)) for p, r in pairs_to_replace.items()]
        else:
            self._pairs = [tuple(pair) for pair in pairs_to_replace]

    def run_on_model(self, model: Model) -> bool:
        model._make_stateful(self._pairs)
        return bool(self._pairs)


class Manager:
    """Runs registered passes over a model, in registration order."""

    def __init__(self) -> None:
        self._passes: list = []

    def register_pass(self, model_pass: Any) -> Any:
        """Adds a pass (an instance); returns it."""
        if not callable(getattr(model_pass, "run_on_model", None)):
            raise TypeError(f"register_pass() needs a pass object, got {type(model_pass).__name__}")
        self._passes.append(model_pass)
        return model_pass

    def set_per_pass_validation(self, enabled: bool) -> None:
        """Accepted for compatibility: every pass leaves a validated model."""
        del enabled

    def run_passes(self, model: Model) -> None:
        """Runs every registered pass on ``model``."""
        for model_pass in self._passes:
            model_pass.run_on_model(model)
