"""`mlacc verify --backend iree`: every scheme lowered to upstream MLIR (`convert-la-to-linalg`), compiled by IREE
for the host CPU (llvm-cpu) and run by IREE's runtime in float32.

A variant of a case (the unabsorbed IR or one scheme) is up to four lowered functions: its step and its history
(the prefill that fills the caches), each with the precomposition of the products it reads. Every function of a
file goes into one module, once (so a file costs one iree-compile, the slow part). IREE is the optional `[iree]`
extra, imported only here and only when asked for; what it reports reaches the user as one line.

The interpreter holds weights as the DSL declares them; a lowered function takes each weight and product in the
layout `convert-la-to-linalg` chose for it (its `mlacc.layout`), so a call transposes each into that layout, and
a product returned by a precomposition back, as a serving engine lays out a checkpoint's weights once, offline.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from io import StringIO
from typing import Any

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import DenseArrayBase, DictionaryAttr, ModuleOp, StringAttr
from xdsl.ir import Operation
from xdsl.printer import Printer

from mlacc.diagnostics import InputError
from mlacc.interp import Array
from mlacc.pipeline import make_context
from passes.convert_la_to_linalg import CACHE_KEY, LAYOUT_KEY, PRECOMPOSED_KEY, WEIGHT_KEY, ConvertLaToLinalgPass

TOLERANCE = 1e-4
"""Largest relative difference accepted between IREE's float32 run and the float64 interpreter: float32 rounding
of the inputs and of reductions over a few thousand terms, with room to spare."""

FLAGS = ("--iree-llvmcpu-target-cpu=host",)
"""iree-compile options beside the llvm-cpu backend: code for this machine's CPU."""


class IreeError(InputError):
    """IREE could not compile or run a module: what it said, in one line."""


def _first_error(text: str) -> str:
    """The line of IREE's report that says what went wrong: its first error among the diagnostics, without the
    place in the generated text (which the user never sees)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if "Diagnostics:" in lines:
        lines = lines[lines.index("Diagnostics:") + 1 :]
        lines = lines[: lines.index("Invoked with:")] if "Invoked with:" in lines else lines
    line = next((line for line in lines if "error:" in line), lines[0] if lines else "no message")
    return re.sub(r"^\S*:\d+:\d+: error: ", "", line)


@dataclass(frozen=True)
class Routine:
    """A lowered step or history, with the function that precomposes the products it reads (if it reads any)."""

    function: func.FuncOp
    precompose: func.FuncOp | None


@dataclass(frozen=True)
class Lowered:
    """One variant's routines in the combined module."""

    step: Routine
    history: Routine | None


class Lowering:
    """Every variant of every case, lowered to upstream MLIR into one module (one iree-compile for a whole file).

    Variants often share functions (expand is the unabsorbed form; most schemes fill their caches alike), so a
    function whose text is already in the module is not added again."""

    def __init__(self, layout: str = ConvertLaToLinalgPass.layout) -> None:
        self.module = ModuleOp([])
        self._pass = ConvertLaToLinalgPass(layout=layout)
        self._ctx = make_context()
        self._by_text: dict[str, func.FuncOp] = {}

    def add(self, variants: Mapping[str, tuple[ModuleOp, ModuleOp | None]]) -> dict[str, Lowered]:
        lowered: dict[str, Lowered] = {}
        for label, (step, history) in variants.items():
            lowered[label] = Lowered(self._routine(step), self._routine(history) if history else None)
        return lowered

    def _routine(self, module: ModuleOp) -> Routine:
        module = module.clone()
        self._pass.apply(self._ctx, module)
        # the pass puts a precomposition right before the function it serves
        *precompose, function = [self._unique(f) for f in module.ops if isinstance(f, func.FuncOp)]
        return Routine(function, precompose[0] if precompose else None)

    def _unique(self, function: func.FuncOp) -> func.FuncOp:
        function.sym_name = StringAttr("f")
        text = _text(function)
        if text not in self._by_text:
            function.detach()
            function.sym_name = StringAttr(f"f{len(self._by_text)}")
            self.module.body.block.add_op(function)
            self._by_text[text] = function
        return self._by_text[text]


def _text(op: Operation) -> str:
    out = StringIO()
    Printer(stream=out).print_op(op)
    return out.getvalue()


class Compiled:
    """A module compiled by iree-compile for llvm-cpu and loaded into IREE's runtime."""

    def __init__(self, module: ModuleOp):
        try:
            import iree.compiler
            import iree.runtime
        except ImportError:
            raise InputError("--backend iree needs IREE's compiler and runtime: pip install 'mlacc[iree]'") from None
        try:
            binary = iree.compiler.compile_str(_text(module), target_backends=["llvm-cpu"], extra_args=list(FLAGS))
        except iree.compiler.CompilerToolError as e:
            raise IreeError(f"iree-compile: {_first_error(str(e))}") from None
        assert isinstance(binary, bytes)
        self.module: Any = iree.runtime.load_vm_flatbuffer(binary, driver="local-sync")

    def call(self, function: func.FuncOp, x: Array | None, inputs: Mapping[str, Mapping[str, Array]]) -> list[Array]:
        """Runs `function` on its arguments: the untagged one is the hidden states `x`, a tagged one `{key = name}`
        is `inputs[key][name]` (in the DSL's layout), transposed into its `mlacc.layout` if it has one; returns
        its results as float64 arrays, in the DSL's layout."""
        assert function.arg_attrs is not None and function.res_attrs is not None
        args: list[Array] = []
        for attrs in function.arg_attrs.data:
            if attrs.data:
                key, name, layout = _tag(attrs)
                args.append(np.transpose(inputs[key][name], layout) if layout else inputs[key][name])
            else:
                assert x is not None
                args.append(x)
        try:
            results = self.module[function.sym_name.data](*(a.astype(np.float32) for a in args))
        except RuntimeError as e:
            raise IreeError(f"IREE runtime: {_first_error(str(e))}") from None
        results = results if isinstance(results, tuple | list) else (results,)
        arrays = [np.asarray(r.to_host(), dtype=np.float64) for r in results]
        layouts = [_tag(attrs)[2] if attrs.data else None for attrs in function.res_attrs.data]
        return [np.transpose(a, np.argsort(layout)) if layout else a for a, layout in zip(arrays, layouts, strict=True)]


def _tag(attrs: DictionaryAttr) -> tuple[str, str, tuple[int, ...] | None]:
    """An argument's or result's (key, name) and its layout (a permutation of the DSL's dimensions), if any."""
    fields = dict(attrs.data)
    layout = fields.pop(LAYOUT_KEY, None)
    ((key, value),) = fields.items()
    assert isinstance(value, StringAttr)
    if layout is None:
        return key, value.data, None
    assert isinstance(layout, DenseArrayBase)
    return key, value.data, tuple(int(d) for d in layout.get_values())


def _results_by_tag(function: func.FuncOp, results: list[Array]) -> dict[str, Array]:
    assert function.res_attrs is not None
    return {_tag(attrs)[1]: r for attrs, r in zip(function.res_attrs.data, results, strict=True) if attrs.data}


def run_variant(compiled: Compiled, lowered: Lowered, weights: Mapping[str, Array], past: Array, new: Array) -> Array:
    """One variant end to end in IREE: precompose, fill the caches with the history, run the step; its output."""
    caches: dict[str, Array] = {}
    if lowered.history is not None:
        caches = _results_by_tag(lowered.history.function, _run(compiled, lowered.history, past, weights, {}))
    return _run(compiled, lowered.step, new, weights, caches)[0]


def _run(
    compiled: Compiled, routine: Routine, x: Array, weights: Mapping[str, Array], caches: Mapping[str, Array]
) -> list[Array]:
    products: dict[str, Array] = {}
    if routine.precompose is not None:
        products = _results_by_tag(routine.precompose, compiled.call(routine.precompose, None, {WEIGHT_KEY: weights}))
    return compiled.call(routine.function, x, {WEIGHT_KEY: weights, CACHE_KEY: caches, PRECOMPOSED_KEY: products})
