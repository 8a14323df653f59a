"""The registry of ONNX op translators: (domain, op_type) → handlers by the opset version they appeared in.

A handler takes a :class:`~ferrovino.frontends.onnx.context.NodeContext` and returns the ferrovino outputs of the
node, one per ONNX output (``None`` for an output it does not produce). The model's opset import for the node's
domain picks the newest handler whose ``since`` is at most that version.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

Handler = Callable[[Any], list]

_HANDLERS: dict[tuple[str, str], list[tuple[int, Handler]]] = {}

DEFAULT_DOMAINS = ("", "ai.onnx")


def normalize_domain(domain: str) -> str:
    """``ai.onnx`` and the empty string name the same default domain."""
    return "" if domain in DEFAULT_DOMAINS else domain


def op(op_type: str, since: int = 1, domain: str = "") -> Callable[[Handler], Handler]:
    """Registers the decorated function as the translator of ``op_type`` from opset ``since`` on."""

    def register(fn: Handler) -> Handler:
        entries = _HANDLERS.setdefault((normalize_domain(domain), op_type), [])
        entries.append((since, fn))
        entries.sort(key=lambda e: e[0])
        return fn

    return register


def lookup(domain: str, op_type: str, version: int) -> Optional[Handler]:
    """The handler for ``op_type`` at opset ``version`` of ``domain``, or None."""
    best = None
    for since, fn in _HANDLERS.get((normalize_domain(domain), op_type), []):
        if since <= version:
            best = fn
    return best


def supported_ops() -> list[tuple[str, str, int]]:
    """Every registered (domain, op_type, since)."""
    return sorted((d, t, s) for (d, t), entries in _HANDLERS.items() for s, _ in entries)


def find(domain: str, op_type: str, version: int, extensions: Optional[dict] = None) -> Optional[Handler]:
    """The handler of a node: a Core extension's first (keyed by (domain, op_type), or ("*", op_type) for any
    custom domain), else the built-in translator."""
    domain = normalize_domain(domain)
    if extensions:
        handler = extensions.get((domain, op_type)) or (extensions.get(("*", op_type)) if domain else None)
        if handler is not None:
            return handler
    return lookup(domain, op_type, version)
