"""Translators of the ONNX recurrent ops RNN, GRU and LSTM, unrolled over the static sequence length with MatMul,
elementwise activations and Concat (the core has no RNN sequence ops).

Each direction runs the cell once per time step; ``sequence_lens`` is honoured by keeping a batch entry's state
and writing zeros to Y once its sequence has ended (in reverse, by starting it at its last valid step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ... import _native
from ... import opset16 as ops
from .ops_tensor_common import const_like, i64
from .registry import op

Activation = Callable[[_native.Output], _native.Output]


# name → (default alpha, default beta, builder(x, alpha, beta)); None where the function takes no such parameter.
_ACTIVATIONS = {
    "relu": (None, None, lambda x, a, b: ops.relu(x)),
    "tanh": (None, None, lambda x, a, b: ops.tanh(x)),
    "sigmoid": (None, None, lambda x, a, b: ops.sigmoid(x)),
    "softsign": (None, None, lambda x, a, b: ops.softsign(x)),
    "softplus": (None, None, lambda x, a, b: ops.softplus(x)),
    "affine": (1.0, 0.0, lambda x, a, b: ops.add(ops.multiply(x, const_like(a, x)), const_like(b, x))),
    "leakyrelu": (0.01, None, lambda x, a, b: ops.prelu(x, ops.convert_like(np.array([a], np.float32), x))),
    "thresholdedrelu": (
        1.0,
        None,
        lambda x, a, b: ops.select(ops.greater(x, const_like(a, x)), x, const_like(0.0, x)),
    ),
    "scaledtanh": (1.0, 1.0, lambda x, a, b: ops.multiply(ops.tanh(ops.multiply(x, const_like(b, x))), const_like(a, x))),
    "hardsigmoid": (0.2, 0.5, lambda x, a, b: ops.hard_sigmoid(x, const_like(a, x), const_like(b, x))),
    "elu": (1.0, None, lambda x, a, b: ops.elu(x, a)),
}


def _activations(ctx, defaults: list[str], directions: int) -> list[list[Activation]]:
    """The activation functions of each direction; activation_alpha/beta are consumed in order by the functions
    that take them, the rest use their defaults."""
    names = ctx.attr("activations") or defaults * directions
    if len(names) != len(defaults) * directions:
        raise _native.ParseError(f"expected {len(defaults) * directions} activations, got {len(names)}")
    alphas, betas = list(ctx.attr("activation_alpha") or []), list(ctx.attr("activation_beta") or [])
    funcs = []
    for name in names:
        spec = _ACTIVATIONS.get(name.lower())
        if spec is None:
            raise _native.UnsupportedError(f"activation '{name}' is not supported")
        default_alpha, default_beta, build = spec
        alpha = (alphas.pop(0) if alphas else default_alpha) if default_alpha is not None else None
        beta = (betas.pop(0) if betas else default_beta) if default_beta is not None else None
        funcs.append(lambda x, build=build, alpha=alpha, beta=beta: build(x, alpha, beta).output(0))
    n = len(defaults)
    return [funcs[d * n : (d + 1) * n] for d in range(directions)]


@dataclass
class _Direction:
    """One direction's weights: W (gates*H, I), R (gates*H, H), biases Wb and Rb (gates*H) and its activations."""

    w: _native.Output
    r: _native.Output
    wb: Optional[_native.Output]
    rb: Optional[_native.Output]
    peepholes: Optional[_native.Output]
    activations: list[Activation]


@dataclass
class _Recurrence:
    """What every recurrent op shares: the time-major input, sizes, directions, initial states and step masks."""

    ctx: object
    x: _native.Output  # (T, batch, input)
    steps: int
    hidden: int
    directions: list[_Direction]
    reverse: list[bool]
    valid: Optional[list[_native.Output]]  # per step, (batch, 1) booleans: the step is inside the sequence

    def initial(self, index: int, d: int) -> Optional[_native.Output]:
        """Initial state input ``index`` for direction ``d`` as (batch, hidden), or None when absent."""
        if not self.ctx.has_input(index):
            return None
        state = self.ctx.input(index)
        if self.ctx.attr("layout", 0):
            state = ops.transpose(state, i64([1, 0, 2])).output(0)
        return ops.gather(state, i64(d), i64(0)).output(0)

    def zeros(self) -> _native.Output:
        """A (batch, hidden) zero state."""
        batch = ops.gather(ops.shape_of(self.x), i64([1]), i64(0)).output(0)
        shape = ops.concat([batch, i64([self.hidden])], 0).output(0)
        return ops.broadcast(const_like(0.0, self.x), shape).output(0)

    def clip(self, x) -> _native.Output:
        """The pre-activation ``x`` clamped to [-clip, clip] when the clip attribute is given."""
        c = self.ctx.attr("clip")
        return x if c is None else ops.clamp(x, -c, c).output(0)

    def input_projection(self, d: _Direction) -> _native.Output:
        """X·Wᵀ + Wb for every step at once: (T, batch, gates*hidden)."""
        xw = ops.matmul(self.x, d.w, False, True).output(0)
        return xw if d.wb is None else ops.add(xw, d.wb).output(0)

    def keep(self, t: int, new, old) -> _native.Output:
        """``new`` where step ``t`` is inside the sequence, else ``old``."""
        return new if self.valid is None else ops.select(self.valid[t], new, old).output(0)


def _step_masks(ctx, steps: int) -> Optional[list[_native.Output]]:
    """Per step, (batch, 1) booleans: t < sequence_lens[b]; None when sequence_lens is absent."""
    if not ctx.has_input(4):
        return None
    lens = ops.unsqueeze(ops.convert(ctx.input(4), "i64"), i64(1)).output(0)
    return [ops.less(i64(t), lens).output(0) for t in range(steps)]


def _recurrence(ctx, defaults: list[str]) -> _Recurrence:
    """Reads the inputs and attributes shared by RNN, GRU and LSTM."""
    x = ctx.input(0)
    if ctx.attr("layout", 0):
        x = ops.transpose(x, i64([1, 0, 2])).output(0)
    shape = x.get_partial_shape()
    if shape.rank.is_dynamic or shape.rank.get_length() != 3 or shape[0].is_dynamic:
        raise _native.UnsupportedError("X must be 3-D with a static sequence length (it is unrolled step by step)")
    direction = ctx.attr("direction", "forward")
    reverse = {"forward": [False], "reverse": [True], "bidirectional": [False, True]}.get(direction)
    if reverse is None:
        raise _native.ParseError(f"direction must be forward, reverse or bidirectional, got '{direction}'")
    hidden = ctx.attr("hidden_size")
    r_shape = ctx.input(2).get_partial_shape()
    if hidden is None:
        if r_shape.rank.is_dynamic or r_shape[2].is_dynamic:
            raise _native.ParseError("hidden_size is needed when R's last dimension is not static")
        hidden = r_shape[2].get_length()
    funcs = _activations(ctx, defaults, len(reverse))
    dirs = [_direction(ctx, d, funcs[d]) for d in range(len(reverse))]
    steps = shape[0].get_length()
    return _Recurrence(ctx, x, steps, hidden, dirs, reverse, _step_masks(ctx, steps))


def _direction(ctx, d: int, activations: list[Activation]) -> _Direction:
    """Direction ``d``'s weights, biases and peepholes (LSTM input 7)."""
    w = ops.gather(ctx.input(1), i64(d), i64(0)).output(0)
    r = ops.gather(ctx.input(2), i64(d), i64(0)).output(0)
    wb = rb = peep = None
    if ctx.has_input(3):
        b = ops.gather(ctx.input(3), i64(d), i64(0)).output(0)
        halves = ops.split(b, i64(0), 2)
        wb, rb = halves.output(0), halves.output(1)
    if ctx.node.op_type == "LSTM" and ctx.has_input(7):
        peep = ops.gather(ctx.input(7), i64(d), i64(0)).output(0)
    return _Direction(w, r, wb, rb, peep, activations)


def _gates(x, parts: int) -> list[_native.Output]:
    """``x`` split into ``parts`` equal pieces along the last axis."""
    s = ops.split(x, i64(-1), parts)
    return [s.output(i) for i in range(parts)]


def _stack_outputs(rec: _Recurrence, per_direction: list[list[_native.Output]]) -> _native.Output:
    """Y from each direction's per-step (batch, hidden) outputs: (T, D, batch, hidden), or (batch, T, D, hidden)
    with layout 1."""
    columns = []
    for outputs in per_direction:
        steps = [ops.unsqueeze(h, i64([0, 1])).output(0) for h in outputs]
        columns.append(ops.concat(steps, 0).output(0))
    y = ops.concat(columns, 1).output(0)
    return ops.transpose(y, i64([2, 0, 1, 3])).output(0) if rec.ctx.attr("layout", 0) else y


def _stack_states(rec: _Recurrence, states: list[_native.Output]) -> _native.Output:
    """Final states (batch, hidden) per direction as (D, batch, hidden), or (batch, D, hidden) with layout 1."""
    axis = 1 if rec.ctx.attr("layout", 0) else 0
    return ops.concat([ops.unsqueeze(s, i64(axis)).output(0) for s in states], axis).output(0)


def _or_zeros(rec: _Recurrence, state: Optional[_native.Output]) -> _native.Output:
    """``state``, or a zero state when it is absent."""
    return rec.zeros() if state is None else state


def _unroll(rec: _Recurrence, cell, state_inputs: list[int]) -> list[_native.Output]:
    """Runs ``cell(rec, direction, projected_x_t, states) -> new states`` over every step of every direction.
    The first state is the hidden state that Y collects. Returns [Y, final state 0, final state 1, ...]."""
    outputs, finals = [], []
    for index, d in enumerate(rec.directions):
        projected = rec.input_projection(d)
        states = [_or_zeros(rec, rec.initial(i, index)) for i in state_inputs]
        ys: list[Optional[_native.Output]] = [None] * rec.steps
        order = range(rec.steps - 1, -1, -1) if rec.reverse[index] else range(rec.steps)
        for t in order:
            xt = ops.gather(projected, i64(t), i64(0)).output(0)
            new = cell(rec, d, xt, states)
            states = [rec.keep(t, n, s) for n, s in zip(new, states)]
            ys[t] = rec.keep(t, new[0], const_like(0.0, new[0]))
        outputs.append(ys)
        finals.append(states)
    y = _stack_outputs(rec, outputs)
    return [y] + [_stack_states(rec, [f[i] for f in finals]) for i in range(len(state_inputs))]


def _recurrent(h, d: _Direction) -> _native.Output:
    """H·Rᵀ + Rb."""
    hr = ops.matmul(h, d.r, False, True).output(0)
    return hr if d.rb is None else ops.add(hr, d.rb).output(0)


def _rnn_cell(rec: _Recurrence, d: _Direction, xt, states) -> list[_native.Output]:
    """Hₜ = f(Xₜ·Wᵀ + Hₜ₋₁·Rᵀ + Wb + Rb)."""
    (h,) = states
    return [d.activations[0](rec.clip(ops.add(xt, _recurrent(h, d)).output(0)))]


def _lstm_cell(rec: _Recurrence, d: _Direction, xt, states) -> list[_native.Output]:
    """The LSTM cell (gates i, o, f, c; optional peepholes p_i, p_o, p_f; input_forget couples f to 1 - i)."""
    h, c = states
    f, g, hact = d.activations
    i_in, o_in, f_in, c_in = _gates(ops.add(xt, _recurrent(h, d)).output(0), 4)
    p_i = p_o = p_f = None
    if d.peepholes is not None:
        p_i, p_o, p_f = _gates(d.peepholes, 3)

    def peep(x, p, cell):
        return x if p is None else ops.add(x, ops.multiply(p, cell)).output(0)

    i = f(rec.clip(peep(i_in, p_i, c)))
    if rec.ctx.attr("input_forget", 0):
        forget = ops.subtract(const_like(1.0, i), i).output(0)
    else:
        forget = f(rec.clip(peep(f_in, p_f, c)))
    candidate = g(rec.clip(c_in))
    c_new = ops.add(ops.multiply(forget, c), ops.multiply(i, candidate)).output(0)
    o = f(rec.clip(peep(o_in, p_o, c_new)))
    return [ops.multiply(o, hact(c_new)).output(0), c_new]


def _gru_cell(rec: _Recurrence, d: _Direction, xt, states) -> list[_native.Output]:
    """The GRU cell (gates z, r, h); linear_before_reset applies r after H·Rhᵀ + Rbh."""
    (h,) = states
    f, g = d.activations
    x_z, x_r, x_h = _gates(xt, 3)
    r_zr, r_h = _gates_rows(d.r, rec.hidden)
    rb_zr = rb_h = None
    if d.rb is not None:
        rb_zr, rb_h = _gates_rows(d.rb, rec.hidden)
    h_zr = ops.matmul(h, r_zr, False, True).output(0)
    if rb_zr is not None:
        h_zr = ops.add(h_zr, rb_zr).output(0)
    h_z, h_r = _gates(h_zr, 2)
    z = f(rec.clip(ops.add(x_z, h_z).output(0)))
    r = f(rec.clip(ops.add(x_r, h_r).output(0)))
    if rec.ctx.attr("linear_before_reset", 0):
        hidden_part = ops.matmul(h, r_h, False, True).output(0)
        if rb_h is not None:
            hidden_part = ops.add(hidden_part, rb_h).output(0)
        hidden_part = ops.multiply(r, hidden_part).output(0)
    else:
        hidden_part = ops.matmul(ops.multiply(r, h), r_h, False, True).output(0)
        if rb_h is not None:
            hidden_part = ops.add(hidden_part, rb_h).output(0)
    candidate = g(rec.clip(ops.add(x_h, hidden_part).output(0)))
    keep_old = ops.multiply(z, h).output(0)
    take_new = ops.multiply(ops.subtract(const_like(1.0, z), z), candidate).output(0)
    return [ops.add(take_new, keep_old).output(0)]


def _gates_rows(x, hidden: int) -> tuple[_native.Output, _native.Output]:
    """The first two gates' rows of ``x`` (z and r) and the last gate's (h), split along axis 0."""
    s = ops.variadic_split(x, i64(0), i64([2 * hidden, hidden]))
    return s.output(0), s.output(1)


def _outputs(ctx, results: list[_native.Output]) -> list[Optional[_native.Output]]:
    """The results for the ONNX outputs the node declares."""
    return results[: max(ctx.output_count(), 1)]


@op("RNN", since=7)
def _rnn(ctx):
    rec = _recurrence(ctx, ["Tanh"])
    return _outputs(ctx, _unroll(rec, _rnn_cell, [5]))


@op("GRU", since=7)
def _gru(ctx):
    rec = _recurrence(ctx, ["Sigmoid", "Tanh"])
    return _outputs(ctx, _unroll(rec, _gru_cell, [5]))


@op("LSTM", since=7)
def _lstm(ctx):
    rec = _recurrence(ctx, ["Sigmoid", "Tanh", "Tanh"])
    return _outputs(ctx, _unroll(rec, _lstm_cell, [5, 6]))
