"""mlacc's xDSL dialects, one per file, registered lazily by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xdsl.ir import Dialect


def get_all_dialects() -> dict[str, Callable[[], Dialect]]:
    """Dialect name -> factory, so a tool loads only the dialects its input uses."""

    def get_attn() -> Dialect:
        from dialects.attn import Attn

        return Attn

    def get_la() -> Dialect:
        from dialects.la import La

        return La

    def get_hw() -> Dialect:
        from dialects.hw import Hw

        return Hw

    def get_mem() -> Dialect:
        from dialects.mem import Mem

        return Mem

    def get_sched() -> Dialect:
        from dialects.sched import Sched

        return Sched

    def get_mesh() -> Dialect:
        from dialects.mesh import Mesh

        return Mesh

    return {"attn": get_attn, "la": get_la, "hw": get_hw, "mem": get_mem, "sched": get_sched, "mesh": get_mesh}
