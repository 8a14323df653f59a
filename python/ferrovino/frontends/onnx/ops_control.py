"""Control flow: If (If-8 with both branches as bodies), Loop (Loop-5) and Scan (a Loop over the sequence axis).

Sub-graphs are translated by a nested :class:`GraphConverter`; the outer values a body reads become extra body
Parameters fed from outside (invariant inputs of a Loop).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ... import _native
from ... import opset16 as ops
from .converter import GraphConverter
from .registry import op


def _const(value: np.ndarray) -> _native.Output:
    """A Constant output of ``value``."""
    return _native.make_constant(value).output(0)


class _Body:
    """One translated sub-graph: its converter, parameters (graph inputs, then captured values) and outputs."""

    def __init__(self, ctx, graph, bound: Optional[dict[str, _native.Output]] = None, setup=None):
        outer = ctx.converter
        self.conv = GraphConverter(outer.opsets, outer.base_dir, outer=outer)
        self.bound_params: list[_native.Node] = []
        if setup is not None:
            bound = setup(self)
        self.params, self.outputs = self.conv.convert_graph(graph, bound)
        self.params = self.bound_params + self.params

    def parameter(self, value: _native.Output, name: str) -> _native.Output:
        """A body Parameter shaped like ``value`` (set up before the graph's own inputs)."""
        p = _native.make_parameter(value.get_element_type(), value.get_partial_shape(), name)
        self.bound_params.append(p)
        return p.output(0)

    def model(self, outputs: list[_native.Output]) -> _native.Model:
        """The body Model returning ``outputs``, with every captured value as a trailing Parameter."""
        results = [_native.make_node("Result", 1, [o], {}) for o in outputs]
        return _native.Model(results, self.params + [p for _, p in self.conv.captured], "body")

    def captured_inputs(self) -> list[tuple[_native.Output, int]]:
        """(outer value, body Parameter index) of each captured value."""
        base = len(self.params)
        return [(outer, base + i) for i, (outer, _) in enumerate(self.conv.captured)]


class _Inline(GraphConverter):
    """Translates a sub-graph straight into the enclosing graph (outer values are used as they are)."""

    def lookup(self, name: str) -> Optional[_native.Output]:
        """The output named ``name`` here or in an enclosing graph."""
        return self.values[name] if name in self.values else self.outer.lookup(name)


def _inline(ctx, graph) -> list:
    """The outputs of ``graph`` translated in place."""
    outer = ctx.converter
    return _Inline(outer.opsets, outer.base_dir, outer=outer).convert_graph(graph)[1]


@op("If", since=1)
def if_(ctx) -> list:
    """If: a condition known at compile time inlines its branch (the other may not even be valid for these
    shapes); otherwise both branches become bodies, and an outer value either reads feeds each one that reads it."""
    known = _native.known_value(ctx.input(0))
    if known is not None:
        if len(known) != 1:
            raise _native.ParseError(f"the condition has {len(known)} elements, expected 1")
        return _inline(ctx, ctx.attr("then_branch" if known[0] else "else_branch"))
    then_b = _Body(ctx, ctx.attr("then_branch"))
    else_b = _Body(ctx, ctx.attr("else_branch"))
    if len(then_b.outputs) != len(else_b.outputs):
        raise _native.ParseError(f"then_branch gives {len(then_b.outputs)} outputs, else_branch {len(else_b.outputs)}")
    feeds: list[list] = []
    for side, body in ((1, then_b), (2, else_b)):
        for outer, index in body.captured_inputs():
            entry = next((f for f in feeds if f[0] == outer), None)
            if entry is None:
                entry = [outer, None, None]
                feeds.append(entry)
            entry[side] = index
    n = len(then_b.outputs)
    node = _native.make_if(
        ctx.input(0),
        then_b.model(then_b.outputs),
        else_b.model(else_b.outputs),
        [tuple(f) for f in feeds],
        [(i, i) for i in range(n)],
    )
    return [node.output(i) for i in range(n)]


def _unsqueezed(outputs: list[_native.Output], axes: list[int]) -> list[_native.Output]:
    """Each output with a new axis (a per-iteration slice of a concatenated output)."""
    return [ops.unsqueeze(o, np.array([a], np.int64)).output(0) for o, a in zip(outputs, axes)]


@op("Loop", since=1)
def loop(ctx) -> list:
    """Loop: M and cond (either may be absent), carried values as merged inputs, scan outputs stacked on axis 0."""
    graph = ctx.attr("body")
    carried = len(ctx.node.input) - 2
    body = _Body(ctx, graph)
    if len(body.params) != carried + 2:
        raise _native.ParseError(f"the body has {len(body.params)} inputs, expected {carried + 2}")
    scans = len(body.outputs) - 1 - carried
    outs = body.outputs[: 1 + carried] + _unsqueezed(body.outputs[1 + carried :], [0] * scans)
    trip = ctx.input(0) if ctx.has_input(0) else _const(np.array(-1, np.int64))
    cond = ctx.input(1) if ctx.has_input(1) else _const(np.array(True))
    inputs = [(cond, 1, 0)] + [(ctx.input(2 + i), 2 + i, 1 + i) for i in range(carried)]
    inputs += [(outer, index, None) for outer, index in body.captured_inputs()]
    node = _native.make_loop(
        trip,
        cond,
        body.model(outs),
        inputs,
        [(1 + i, None) for i in range(carried)] + [(1 + carried + k, 0) for k in range(scans)],
        current_iteration=0,
        body_condition=0,
    )
    return [node.output(i) for i in range(carried + scans)]


def _reversed(x: _native.Output, axis: int) -> _native.Output:
    """``x`` reversed along ``axis``."""
    return _native.make_node("Reverse", 1, [x, np.array([axis], np.int64)], {"mode": "index"}).output(0)


def _length(x: _native.Output, axis: int) -> _native.Output:
    """The length of ``x`` along ``axis`` as an i64 scalar."""
    return ops.gather(ops.shape_of(x), np.array(axis, np.int64), np.array(0, np.int64)).output(0)


def _normalized(axes: list[int], values: list[_native.Output], extra: int, what: str) -> list[int]:
    """Axes made non-negative against the ranks of ``values`` plus ``extra`` (ranks are only needed for
    negative axes)."""
    out = []
    for a, v in zip(axes, values):
        if a < 0:
            rank = v.get_partial_shape().rank
            if rank.is_dynamic:
                raise _native.UnsupportedError(f"{what} {a} is negative and the rank is not known")
            a += rank.get_length() + extra
        out.append(a)
    return out


def _scan(ctx, graph, states: list, xs: list, in_axes: list, in_dirs: list, out_axes: list, out_dirs: list) -> list:
    """Runs the Scan body over the sequence axis of ``xs`` as a Loop: each iteration gathers its slice of every
    scan input (counting from the end for reverse directions) and its scan outputs are concatenated."""
    in_axes = _normalized(in_axes, xs, 0, "scan_input_axes")
    names = [vi.name for vi in graph.input[len(states) :]]

    def setup(body: _Body) -> dict[str, _native.Output]:
        it = body.parameter(_const(np.array(0, np.int64)), "iteration")
        full = [body.parameter(x, f"scan_input_{i}") for i, x in enumerate(xs)]
        bound = {}
        for name, x, axis, rev in zip(names, full, in_axes, in_dirs):
            index = ops.subtract(ops.subtract(_length(x, axis), it), np.array(1, np.int64)) if rev else it
            bound[name] = ops.gather(x, index, np.array(axis, np.int64)).output(0)
        return bound

    body = _Body(ctx, graph, setup=setup)
    n, k = len(states), len(body.outputs) - len(states)
    out_axes = _normalized(out_axes or [0] * k, body.outputs[n:], 1, "scan_output_axes")
    outs = body.outputs[:n] + _unsqueezed(body.outputs[n:], out_axes)
    first = 1 + len(xs)
    inputs = [(x, 1 + i, None) for i, x in enumerate(xs)]
    inputs += [(s, first + i, i) for i, s in enumerate(states)]
    inputs += [(outer, index, None) for outer, index in body.captured_inputs()]
    node = _native.make_loop(
        _length(xs[0], in_axes[0]),
        _const(np.array(True)),
        body.model(outs),
        inputs,
        [(i, None) for i in range(n)] + [(n + j, out_axes[j]) for j in range(k)],
        current_iteration=0,
    )
    results = [node.output(i) for i in range(n + k)]
    for j in range(k):
        if (out_dirs or [0] * k)[j]:
            results[n + j] = _reversed(results[n + j], out_axes[j])
    return results


@op("Scan", since=9)
def scan9(ctx) -> list:
    """Scan-9+: scan inputs sliced along their scan_input_axes, in their directions."""
    m = ctx.attr("num_scan_inputs")
    n = len(ctx.node.input) - m
    return _scan(
        ctx,
        ctx.attr("body"),
        [ctx.input(i) for i in range(n)],
        [ctx.input(n + i) for i in range(m)],
        ctx.attr("scan_input_axes", [0] * m),
        ctx.attr("scan_input_directions", [0] * m),
        ctx.attr("scan_output_axes", []),
        ctx.attr("scan_output_directions", []),
    )


@op("Scan", since=8)
def scan8(ctx) -> list:
    """Scan-8: batch axis 0, sequence axis 1; the body runs per batch element (the batch must be static) and
    sequence_lens (input 0) is not supported unless absent."""
    if ctx.has_input(0):
        raise _native.UnsupportedError("Scan-8 with sequence_lens is not supported")
    m = ctx.attr("num_scan_inputs")
    n = len(ctx.node.input) - 1 - m
    values = [ctx.input(1 + i) for i in range(n + m)]
    batch = values[0].get_partial_shape()[0]
    if not batch.is_static:
        raise _native.UnsupportedError("Scan-8 needs a static batch dimension")
    dirs = ctx.attr("directions", [0] * m)
    per_batch = []
    for b in range(batch.get_length()):
        taken = [ops.gather(v, np.array(b, np.int64), np.array(0, np.int64)).output(0) for v in values]
        per_batch.append(_scan(ctx, ctx.attr("body"), taken[:n], taken[n:], [0] * m, dirs, [], []))
    return [
        ops.concat([ops.unsqueeze(r[i], np.array([0], np.int64)) for r in per_batch], 0).output(0)
        for i in range(len(per_batch[0]))
    ]
