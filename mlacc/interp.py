"""A float64 numpy interpreter for `la`, on xDSL's interpreter framework.

It runs one lowered layer function on given hidden states, weights and
KV-cache contents, and returns the output and the entries the step stored
into each cache. `mlacc verify` uses it to show that every execution scheme
computes the function that the unabsorbed form computes.

Semantics that the IR leaves to the runtime, fixed here:
- RoPE rotates interleaved pairs (x[2i], x[2i+1]) by position * base^(-2i/dim),
  base 10000, as DeepSeek's reference `apply_rotary_emb` does;
- a causal softmax lets query i of S see keys 0 .. T - S + i (queries are the
  last S of T tokens);
- `la.kv_load` returns the cache's entries as given; `la.kv_store` records the
  new entries (a step stores into each cache at most once).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.interpreter import Interpreter, InterpreterFunctions, PythonValues, impl, register_impls
from xdsl.interpreters.func import FuncFunctions

from dialects import la

ROPE_BASE = 10000.0

Array = np.ndarray[Any, np.dtype[np.float64]]


class InterpreterInputError(Exception):
    """The inputs given to a run do not match what the IR reads (a missing weight, a wrong shape)."""


def _checked(what: str, value: Array | None, op_type: object) -> Array:
    assert isinstance(op_type, TensorType)
    expected = tuple(op_type.get_shape())
    if value is None:
        raise InterpreterInputError(f"no value given for {what}")
    if value.shape != expected:
        raise InterpreterInputError(f"{what} has shape {value.shape}, the IR reads {expected}")
    return value


def rope(x: Array, seq_dim: int, offset: int, base: float = ROPE_BASE) -> Array:
    """Rotates interleaved pairs of the last axis by angle position x base^(-2i/dim)."""
    dim = x.shape[-1]
    inv_freq = base ** (-np.arange(0, dim, 2, dtype=np.float64) / dim)
    positions = offset + np.arange(x.shape[seq_dim], dtype=np.float64)
    shape = [1] * x.ndim
    shape[seq_dim], shape[-1] = x.shape[seq_dim], dim // 2
    angles = (positions[:, None] * inv_freq[None, :]).reshape(shape)
    cos, sin = np.cos(angles), np.sin(angles)
    even, odd = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out


def softmax(x: Array, scale: float, causal: bool) -> Array:
    """softmax(scale * x) over the last axis; causal: query i of S sees keys 0 .. T - S + i."""
    scaled = x * scale
    if causal:
        queries, keys = x.shape[-2], x.shape[-1]
        visible = np.arange(keys)[None, :] <= (keys - queries + np.arange(queries))[:, None]
        scaled = np.where(visible, scaled, -np.inf)
    shifted = np.exp(scaled - scaled.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def rmsnorm(x: Array, gamma: Array, eps: float) -> Array:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * gamma


@register_impls
@dataclass
class LaFunctions(InterpreterFunctions):
    """numpy implementations of the `la` ops; weights and caches are the run's inputs."""

    weights: Mapping[str, Array]
    caches: Mapping[str, Array]
    stored: dict[str, Array] = field(default_factory=lambda: {})

    @impl(la.WeightOp)
    def run_weight(self, interpreter: Interpreter, op: la.WeightOp, args: PythonValues) -> PythonValues:
        name = op.weight.data
        return (_checked(f"weight '{name}'", self.weights.get(name), op.result.type),)

    @impl(la.KvLoadOp)
    def run_kv_load(self, interpreter: Interpreter, op: la.KvLoadOp, args: PythonValues) -> PythonValues:
        name = op.cache.data
        return (_checked(f"cache '{name}'", self.caches.get(name), op.result.type),)

    @impl(la.KvStoreOp)
    def run_kv_store(self, interpreter: Interpreter, op: la.KvStoreOp, args: PythonValues) -> PythonValues:
        if op.cache.data in self.stored:
            raise InterpreterInputError(f"cache '{op.cache.data}' is stored twice in one step")
        self.stored[op.cache.data] = args[0]
        return ()

    @impl(la.ConcatOp)
    def run_concat(self, interpreter: Interpreter, op: la.ConcatOp, args: PythonValues) -> PythonValues:
        return (np.concatenate(args, axis=op.dim.value.data),)

    @impl(la.EinsumOp)
    def run_einsum(self, interpreter: Interpreter, op: la.EinsumOp, args: PythonValues) -> PythonValues:
        return (np.einsum(op.spec.data, *args, optimize=True),)

    @impl(la.PrecomposeOp)
    def run_precompose(self, interpreter: Interpreter, op: la.PrecomposeOp, args: PythonValues) -> PythonValues:
        return (np.einsum(op.spec.data, *args, optimize=True),)

    @impl(la.SoftmaxOp)
    def run_softmax(self, interpreter: Interpreter, op: la.SoftmaxOp, args: PythonValues) -> PythonValues:
        return (softmax(args[0], op.scale.value.data, op.causal is not None),)

    @impl(la.RopeOp)
    def run_rope(self, interpreter: Interpreter, op: la.RopeOp, args: PythonValues) -> PythonValues:
        return (rope(args[0], op.seq_dim.value.data, op.offset.value.data),)

    @impl(la.RmsNormOp)
    def run_rmsnorm(self, interpreter: Interpreter, op: la.RmsNormOp, args: PythonValues) -> PythonValues:
        return (rmsnorm(args[0], args[1], op.eps.value.data),)

    @impl(la.BroadcastOp)
    def run_broadcast(self, interpreter: Interpreter, op: la.BroadcastOp, args: PythonValues) -> PythonValues:
        dim, size = op.dim.value.data, op.size.value.data
        return (np.repeat(np.expand_dims(args[0], dim), size, axis=dim),)

    @impl(la.AddOp)
    def run_add(self, interpreter: Interpreter, op: la.AddOp, args: PythonValues) -> PythonValues:
        return (args[0] + args[1],)


@dataclass(frozen=True)
class StepResult:
    output: Array
    stored: dict[str, Array]


def run_function(
    module: ModuleOp,
    function: func.FuncOp,
    x: Array,
    weights: Mapping[str, Array],
    caches: Mapping[str, Array] | None = None,
) -> StepResult:
    """Runs `function` (a lowered layer of `module`) on hidden states `x` in float64."""
    (input_type,) = function.function_type.inputs.data
    x = _checked("the hidden states", x.astype(np.float64), input_type)
    interpreter = Interpreter(module)
    interpreter.register_implementations(FuncFunctions())
    ops = LaFunctions(weights, caches or {})
    interpreter.register_implementations(ops)
    (output,) = interpreter.call_op(function, (x,))
    return StepResult(output, ops.stored)
