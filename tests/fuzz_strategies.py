"""Hypothesis strategies for mlacc's two input languages, and the in-process harness that checks the property.

The property (tests/test_fuzz.py runs it in CI, benchmarks/fuzz.py at scale): every input
either compiles (exit 0, no `error:` line) or gets exactly one `error:` line and exit 1;
never exit 70 (an internal error), never a traceback, never more than 10 s or 2 GB.

- DSL files follow mlacc/frontend/grammar.lark production by production (`layer NAME :
  KIND { field* }`, `workload NAME { field* }`, `field: NAME = (INT | NAME) [,;]`), with
  valid layers (consistent shapes, from tiny to absurd sizes) and near-valid ones: any
  field with any value (zero, huge, suffixed `4k`, `_`-separated, negative, a name),
  duplicated, missing and unknown fields, unknown kinds, and single-character damage.
- Hugging Face config.json files start from tests/fixtures/hf/: attention fields dropped, set
  to small integers (which reach the layer verifiers) or to any JSON value, and damaged text.
- Hardware TOML starts from the bundled presets: valid variants (rescaled rates, fewer
  levels, optional tables dropped) and broken ones (missing levels, duplicate level or
  unit names, zero/negative/NaN/inf/huge numbers, wrong types, unknown keys, damaged text).
"""

from __future__ import annotations

import copy
import json
import math
import resource
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from functools import cache
from io import StringIO
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from mlacc.hardware import preset_names, preset_path

KINDS: dict[str, tuple[str, ...]] = {
    "mha": ("d_model", "heads", "head_dim"),
    "gqa": ("d_model", "heads", "kv_heads", "head_dim"),
    "mqa": ("d_model", "heads", "head_dim"),
    "mla": ("d_model", "heads", "q_rank", "kv_rank", "qk_nope_dim", "qk_rope_dim", "v_dim"),
    "mlp": ("d_model", "width"),
    "moe": ("d_model", "experts", "experts_per_token", "expert_width", "shared_experts"),
}
"""The layer kinds and their fields as docs/dsl.md documents them (tests/test_fuzz.py checks them against
dialects/attn.py, so a new kind or field fails loudly there rather than going unfuzzed)."""

WORKLOAD_FIELDS = ("phase", "batch", "context", "new_tokens")
DTYPES = ("fp32", "bf16", "fp16", "fp8", "int8")
SUFFIXES = {"k": 1024, "K": 1024, "m": 1024**2, "M": 1024**2}

HF_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "hf"
HF_ATTENTION_KEYS = (
    "model_type",
    "architectures",
    "_name_or_path",
    "hidden_size",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "q_lora_rank",
    "kv_lora_rank",
    "qk_nope_head_dim",
    "qk_rope_head_dim",
    "v_head_dim",
    "num_hidden_layers",
    "torch_dtype",
    "dtype",
    "quantization_config",
    "sliding_window",
)

# -- DSL -------------------------------------------------------------------------------------------------------------

_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True).filter(lambda n: n not in ("layer", "workload"))
_space = st.sampled_from([" ", "  ", "\n", "\t", " // note\n", " # note\n"])
_separator = st.sampled_from(["", ",", ";", "\n"])


@st.composite
def number_text(draw: st.DrawFn, value: int | None = None) -> str:
    """An INT token of the grammar for `value` (or any value): plain, `_`-separated, or with a k/K/m/M suffix."""
    if value is None:
        value = draw(
            st.one_of(
                st.integers(0, 16),
                st.sampled_from([2**k for k in range(4, 31)]),
                st.integers(0, 2**20),
                st.integers(2**31, 2**80),
            )
        )
    style = draw(st.sampled_from(["plain", "plain", "underscore", "suffix"]))
    if style == "suffix":
        suffix = draw(st.sampled_from(sorted(SUFFIXES)))
        if value % SUFFIXES[suffix] == 0 and value > 0:
            return f"{value // SUFFIXES[suffix]}{suffix}"
        return f"{max(value // SUFFIXES[suffix], 1)}{suffix}"
    if style == "underscore" and value >= 1000:
        return f"{value:_}"
    return str(value)


def _any_value() -> st.SearchStrategy[str]:
    """Anything after `=`: numbers of every size, names (dtypes, phases, typos), and what the grammar rejects."""
    return st.one_of(
        number_text(),
        st.sampled_from([*DTYPES, "decode", "prefill", "bogus", "bf17"]),
        _names,
        st.sampled_from(["-1", "-4096", "1.5", "4kk", "0x10", "1e3", '"bf16"', "", "4 k"]),
    )


def _field(key: str, value: str, draw: st.DrawFn) -> str:
    return f"{key}{draw(_space)}={draw(_space)}{value}{draw(_separator)}{draw(_space)}"


@st.composite
def layer_dims(draw: st.DrawFn, kind: str) -> dict[str, int]:
    """Consistent dimensions of a `kind` layer (heads divisible by kv_heads, even RoPE dims), tiny to absurd."""
    scale = draw(st.sampled_from([1, 1, 1, 2**4, 2**8, 2**12]))
    heads = draw(st.integers(1, 8)) * draw(st.sampled_from([1, 1, scale]))
    even = 2 * draw(st.integers(1, 8)) * draw(st.sampled_from([1, scale]))
    dims = {"d_model": 8 * draw(st.integers(1, 16)) * draw(st.sampled_from([1, scale]))}
    if kind == "mlp":
        dims["width"] = 8 * draw(st.integers(1, 16)) * draw(st.sampled_from([1, scale]))
    if kind == "moe":
        dims["experts"] = draw(st.integers(1, 16)) * draw(st.sampled_from([1, 1, 16]))
        dims["experts_per_token"] = draw(st.integers(1, min(dims["experts"], 8)))
        dims["expert_width"] = 8 * draw(st.integers(1, 16)) * draw(st.sampled_from([1, scale]))
        dims["shared_experts"] = draw(st.integers(0, 2))
    if kind in ("mlp", "moe"):
        return dims
    dims["heads"] = heads
    if kind in ("mha", "mqa", "gqa"):
        dims["head_dim"] = even
    if kind == "gqa":
        dims["kv_heads"] = draw(st.sampled_from([d for d in range(1, heads + 1) if heads % d == 0][:8]))
    if kind == "mla":
        dims["kv_rank"] = draw(st.integers(1, dims["d_model"]))
        dims["q_rank"] = draw(st.one_of(st.just(0), st.integers(1, dims["d_model"])))
        dims["qk_nope_dim"] = draw(st.integers(1, 64))
        dims["qk_rope_dim"] = even
        dims["v_dim"] = draw(st.integers(1, 64))
    return dims


@st.composite
def layer_block(draw: st.DrawFn, valid: bool) -> str:
    kind = draw(st.sampled_from(sorted(KINDS)))
    dims = draw(layer_dims(kind))
    fields: list[tuple[str, str]] = [(k, draw(number_text(v))) for k, v in dims.items()]
    if draw(st.booleans()):
        fields.append(("dtype", draw(st.sampled_from(DTYPES))))
    if not valid:
        mutations = draw(st.lists(st.sampled_from(["value", "drop", "duplicate", "unknown", "kind"]), max_size=3))
        for mutation in mutations:
            i = draw(st.integers(0, len(fields) - 1)) if fields else 0
            if mutation == "value" and fields:
                fields[i] = (fields[i][0], draw(_any_value()))
            elif mutation == "drop" and fields:
                fields.pop(i)
            elif mutation == "duplicate" and fields:
                fields.insert(i, fields[i])
            elif mutation == "unknown":
                fields.insert(i, (draw(st.sampled_from(["heads_", "rope", "context", "layers", "Heads"])), "4"))
            elif mutation == "kind":
                kind = draw(st.sampled_from(["mhx", "MLA", "attention", "gqa2", "mqa"]))
    fields = draw(st.permutations(fields))
    body = "".join(_field(k, v, draw) for k, v in fields)
    return f"layer {draw(_names)}{draw(_space)}:{draw(_space)}{kind} {{{draw(_space)}{body}}}\n"


@st.composite
def workload_block(draw: st.DrawFn, valid: bool) -> str:
    phase = draw(st.sampled_from(["decode", "prefill"]))
    tokens = st.one_of(st.integers(1, 64), st.sampled_from([4096, 32768, 131072, 10**6, 10**9]))
    fields: list[tuple[str, str]] = [("phase", phase)]
    if draw(st.booleans()):
        fields.append(("batch", draw(number_text(draw(st.integers(1, 64))))))
    if phase == "decode":
        fields.append(("context", draw(number_text(draw(tokens)))))
        if draw(st.booleans()):
            fields.append(("new_tokens", draw(number_text(draw(st.integers(1, 8))))))
    else:
        fields.append(("new_tokens", draw(number_text(draw(tokens)))))
    if not valid:
        for mutation in draw(st.lists(st.sampled_from(["value", "drop", "duplicate", "unknown"]), max_size=3)):
            i = draw(st.integers(0, len(fields) - 1)) if fields else 0
            if mutation == "value" and fields:
                fields[i] = (draw(st.sampled_from([*WORKLOAD_FIELDS, fields[i][0]])), draw(_any_value()))
            elif mutation == "drop" and fields:
                fields.pop(i)
            elif mutation == "duplicate" and fields:
                fields.insert(i, fields[i])
            elif mutation == "unknown":
                fields.insert(i, (draw(st.sampled_from(["tokens", "ctx", "heads", "Batch"])), "1"))
    fields = draw(st.permutations(fields))
    body = "".join(_field(k, v, draw) for k, v in fields)
    return f"workload {draw(_names)} {{{draw(_space)}{body}}}\n"


@st.composite
def damage(draw: st.DrawFn, text: str) -> str:
    """One character deleted, replaced or inserted, or the text cut short: what a typo does."""
    if not text:
        return text
    i = draw(st.integers(0, len(text) - 1))
    how = draw(st.sampled_from(["delete", "replace", "insert", "truncate"]))
    char = draw(st.sampled_from(list("{}=:;,#/-._ \n0kMx\x00é")))
    if how == "delete":
        return text[:i] + text[i + 1 :]
    if how == "replace":
        return text[:i] + char + text[i + 1 :]
    if how == "insert":
        return text[:i] + char + text[i:]
    return text[:i]


@st.composite
def dsl_files(draw: st.DrawFn) -> str:
    """A DSL file: valid, near-valid (fields and values mutated), or damaged by a typo."""
    valid = draw(st.booleans())
    blocks = draw(st.lists(layer_block(valid), min_size=0 if not valid else 1, max_size=3))
    blocks += draw(st.lists(workload_block(valid), min_size=0 if not valid else 1, max_size=3))
    text = "".join(draw(st.permutations(blocks)))
    if not valid and draw(st.integers(0, 3)) == 0:
        text = draw(damage(text))
    return text


# -- Hugging Face config.json --------------------------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=4,
)


@st.composite
def config_files(draw: st.DrawFn) -> str:
    """A config.json: a fixture with attention fields dropped or changed, sometimes damaged by a typo."""
    fixture = draw(st.sampled_from(sorted(HF_FIXTURES.glob("*.json"))))
    config = json.loads(fixture.read_text())
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(HF_ATTENTION_KEYS))
        how = draw(st.sampled_from(["drop", "small", "any"]))
        if how == "drop":
            config.pop(key, None)
        else:
            config[key] = draw(st.integers(-2, 130) if how == "small" else _json_values)
    text = json.dumps(config, indent=draw(st.sampled_from([None, 2])))
    if draw(st.integers(0, 4)) == 0:
        text = draw(damage(text))
    return text


# -- Hardware TOML ---------------------------------------------------------------------------------------------------


@cache
def presets() -> dict[str, dict[str, Any]]:
    """The bundled presets, parsed once per process (every hardware draw deep-copies one)."""
    return {name: tomllib.loads(preset_path(name).read_text()) for name in preset_names()}


def _key(key: str) -> str:
    return key if key and all(c.isalnum() or c in "_-" for c in key) else json.dumps(key)


def _inline(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    raise TypeError(value)


def to_toml(data: dict[str, Any]) -> str:
    """A TOML document for `data` in the presets' layout: scalars, then `[table]`s, then `[[array]]`s."""
    lines = [f"{_key(k)} = {_inline(v)}" for k, v in data.items() if not isinstance(v, dict | list) or _mixed(v)]
    for key, value in data.items():
        if isinstance(value, dict) and not _mixed(value):
            lines += ["", f"[{_key(key)}]"]
            lines += [f"{_key(k)} = {_inline(v)}" for k, v in value.items()]
    for key, value in data.items():
        if isinstance(value, list) and not _mixed(value):
            for table in value:
                lines += ["", f"[[{_key(key)}]]"]
                lines += [f"{_key(k)} = {_inline(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _mixed(value: Any) -> bool:
    """Written inline: anything but a table of values or a non-empty list of tables."""
    if isinstance(value, dict):
        return False
    return not (isinstance(value, list) and value and all(isinstance(t, dict) for t in value))


_BAD_NUMBERS: tuple[Any, ...] = (0, -1, -0.5, math.nan, math.inf, -math.inf, 1e308, 2**70, 0.0, 1e-300)
_WRONG_TYPES: tuple[Any, ...] = ("fast", True, [1, 2], {"x": 1}, "")


@st.composite
def _number_path(draw: st.DrawFn, data: dict[str, Any]) -> tuple[Any, str]:
    """A (container, key) holding a number somewhere in `data`."""
    spots: list[tuple[Any, str]] = [(data, "frequency_hz")]
    for table in ("compute", "memory"):
        for entry in _tables(data, table):
            spots += [(entry, k) for k, v in entry.items() if isinstance(v, int | float) and not isinstance(v, bool)]
            if isinstance(entry.get("macs_per_cycle"), dict):
                spots += [(entry["macs_per_cycle"], k) for k in entry["macs_per_cycle"]]
    for table in ("cores", "efficiency"):
        if isinstance(data.get(table), dict):
            spots += [(data[table], k) for k in data[table]]
    energy = data.get("energy")
    mac = energy.get("mac_pj") if isinstance(energy, dict) else None
    spots += [(mac, k) for k in mac] if isinstance(mac, dict) else []
    return draw(st.sampled_from(spots))


def _tables(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The `[[key]]` tables of `data` that an earlier breakage left tables."""
    value = data.get(key)
    return [t for t in value if isinstance(t, dict)] if isinstance(value, list) else []


_MUST_FAIL_NUMBERS: tuple[Any, ...] = (-1, -0.5, math.nan, math.inf, -math.inf, 2**70)
"""Of _BAD_NUMBERS, those no field accepts (0 is a valid energy; 1e308 and 1e-300 are absurd but finite; 2**70
only in an integer count)."""


def _break(draw: st.DrawFn, data: dict[str, Any]) -> bool:
    """Breaks `data` in one way; True if no valid description can result (the loader must refuse it)."""
    how = draw(
        st.sampled_from(
            ["number", "number", "type", "unknown", "drop", "levels", "duplicate-level", "duplicate-unit", "dtype"]
        )
    )
    if how == "number":
        container, key = draw(_number_path(data))
        container[key] = draw(st.sampled_from(_BAD_NUMBERS))
        value = container[key]
        if value == 2**70:  # too large for a count; a rate or an energy may be absurd and still a number
            return key in ("count", "capacity_bytes", "array_rows", "array_cols")
        return any(value is v or value == v for v in _MUST_FAIL_NUMBERS)
    if how == "type":
        container, key = draw(st.one_of(_number_path(data), st.just((data, "name")), st.just((data, "memory"))))
        container[key] = value = draw(st.sampled_from(_WRONG_TYPES))
        return not (key == "name" and isinstance(value, str) and value)  # "fast" is a fine name
    if how == "unknown":
        container = draw(st.sampled_from([data, *_tables(data, "memory"), *_tables(data, "compute")]))
        container[draw(st.sampled_from(["bandwidth", "capacity", "Name", "frequency", "levels"]))] = 1
        return True
    if how == "drop":
        container = draw(st.sampled_from([data, *_tables(data, "memory"), *_tables(data, "compute")]))
        if container:
            del container[draw(st.sampled_from(sorted(container)))]
        return False  # dropping `description` or an optional table leaves a valid file
    if how == "levels" and _tables(data, "memory"):
        data["memory"] = _tables(data, "memory")[: draw(st.integers(0, 1))]
        return True
    if how == "duplicate-level" and _tables(data, "memory"):
        data["memory"].insert(1, copy.deepcopy(_tables(data, "memory")[0]))
        return True
    if how == "duplicate-unit" and _tables(data, "compute"):
        data["compute"].append(copy.deepcopy(_tables(data, "compute")[0]))
        return True
    if how == "dtype" and _tables(data, "compute"):
        _tables(data, "compute")[0]["macs_per_cycle"] = draw(st.sampled_from([{}, {"bf32": 1}, {"bf16": math.nan}]))
        return True
    return False


def _vary(draw: st.DrawFn, data: dict[str, Any]) -> None:
    """A change that keeps the description valid."""
    how = draw(st.sampled_from(["scale", "scale", "drop-level", "drop-optional", "none"]))
    if how == "scale":
        container, key = draw(_number_path(data))
        if container.get(key, 0) > 0 and key != "count":
            factor = draw(st.sampled_from([1e-6, 0.5, 2.0, 1e6]))
            scaled = container[key] * factor
            if container is data.get("efficiency") and not key.endswith("_cycles"):
                scaled = min(scaled, 1.0)  # a fraction of peak stays one
            # Rescaled twice by 1e6, an integer can pass the 64 bits the loader takes: a valid case stays within.
            container[key] = min(max(int(scaled), 1), 2**63 - 1) if isinstance(container[key], int) else scaled
    elif how == "drop-level" and len(data["memory"]) > 2:
        data["memory"].pop(draw(st.integers(0, len(data["memory"]) - 2)))
    elif how == "drop-optional":
        for key in ("cores", "efficiency"):
            data.pop(key, None)


@dataclass(frozen=True)
class HardwareCase:
    text: str
    valid: bool
    """Derived to be valid: it must load (a compile may still refuse it, in one line)."""
    must_fail: bool
    """Broken in a way no valid description is (NaN, a duplicate level name, ...): the loader must refuse it."""


@st.composite
def hardware_files(draw: st.DrawFn) -> HardwareCase:
    """TOML text derived from a bundled preset, valid or broken."""
    data = copy.deepcopy(draw(st.sampled_from(list(presets().values()))))
    valid = draw(st.booleans())
    must_fail = False
    if valid:
        for _ in range(draw(st.integers(0, 3))):
            _vary(draw, data)
    else:  # one break: a second could undo the first (a NaN overwritten by a finite number)
        must_fail = _break(draw, data)
    text = to_toml(data)
    if not valid and draw(st.integers(0, 7)) == 0:
        text = draw(damage(text))
        must_fail = False  # a typo may land in a comment or a description
    return HardwareCase(text, valid, must_fail)


# -- Harness ---------------------------------------------------------------------------------------------------------

TIME_LIMIT_S = 10.0
MEMORY_LIMIT_BYTES = 2 * 2**30


@dataclass(frozen=True)
class Outcome:
    argv: tuple[str, ...]
    code: int
    out: str
    err: str
    seconds: float

    def problem(self) -> str | None:
        """What breaks the property, or None."""
        errors = [line for line in self.err.splitlines() if "error:" in line]
        if self.code == 70:
            return f"internal error: {self.err.strip()}"
        if "Traceback" in self.err:
            return "traceback on stderr"
        if self.seconds > TIME_LIMIT_S:
            return f"took {self.seconds:.1f} s"
        if self.code == 0 and errors:
            return f"exit 0 with an error line: {errors[0]}"
        if self.code == 1 and len(errors) != 1:
            return f"exit 1 with {len(errors)} error lines: {self.err!r}"
        if self.code not in (0, 1):
            return f"exit {self.code}: {self.err.strip()}"
        return None


def run_in_process(main: Callable[[Sequence[str]], int], argv: Sequence[str]) -> Outcome:
    """Runs a CLI `main` with captured stdout and stderr; argparse's SystemExit becomes the exit code."""
    out, err = StringIO(), StringIO()
    start = time.perf_counter()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    return Outcome(tuple(argv), code, out.getvalue(), err.getvalue(), time.perf_counter() - start)


def _vm_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


@contextmanager
def memory_limit(extra: int = MEMORY_LIMIT_BYTES) -> Iterator[None]:
    """Caps the address space at what the process has now plus `extra`: a larger allocation raises MemoryError,
    which mlacc reports as an internal error (exit 70), so the property catches it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _vm_bytes() + extra
    if not cap or (hard != resource.RLIM_INFINITY and cap > hard):
        yield
        return
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


DSL_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("--emit", "la"),
    ("--counts",),
    ("--emit", "absorbed", "--scheme", "reuse"),
)
"""What a fuzzed DSL file is compiled with: the hardware-independent stages, which are fast."""

SMALL_MLA = (
    "layer s : mla { d_model = 64 heads = 2 q_rank = 16 kv_rank = 8 qk_nope_dim = 8 qk_rope_dim = 4 v_dim = 8 }\n"
    "workload d { phase = decode context = 4k }\n"
)
"""What a fuzzed hardware file that loads compiles (absorb{auto} estimates every scheme on it)."""


def check_dsl(main: Callable[[Sequence[str]], int], folder: Path, text: str, command: Sequence[str]) -> Outcome:
    path = folder / "fuzz.attn"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return run_in_process(main, ["compile", str(path), *command, "-q"])


def check_config(main: Callable[[Sequence[str]], int], folder: Path, text: str) -> Outcome:
    path = folder / "config.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return run_in_process(main, ["import", str(path)])


def check_hardware(
    main: Callable[[Sequence[str]], int], folder: Path, text: str, compile_small: bool = True
) -> list[Outcome]:
    """`hw show` (text and JSON) and, where it loads, a compile of a small MLA layer on it (unless not
    `compile_small`: the compile costs ten times what the two `hw show` runs do)."""
    path = folder / "fuzz.toml"
    path.write_text(text, encoding="utf-8")
    outcomes = [run_in_process(main, ["hw", "show", str(path)])]
    if outcomes[0].code == 0:
        outcomes.append(run_in_process(main, ["hw", "show", str(path), "--format", "json"]))
        if not compile_small:
            return outcomes
        small = folder / "small.attn"
        small.write_text(SMALL_MLA)
        outcomes.append(run_in_process(main, ["compile", str(small), "--hw", str(path), "--scheme", "auto", "-q"]))
    return outcomes
