"""mlacc's passes, one per file, registered lazily by their pipeline names.

Light on purpose: a command line imports this table (and the names of the MLA
schemes) to build its options, and only the passes it runs are imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xdsl.passes import ModulePass

from passes.schemes import SCHEMES, Scheme

__all__ = ["SCHEMES", "Scheme", "get_all_passes"]


def get_all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    """Pass name -> factory returning the pass class, as xDSL's opt main expects."""

    def get_lower_attn() -> type[ModulePass]:
        from passes.lower_attn import LowerAttnPass

        return LowerAttnPass

    def get_absorb() -> type[ModulePass]:
        from passes.absorb import AbsorbPass

        return AbsorbPass

    def get_tile() -> type[ModulePass]:
        from passes.tile import TilePass

        return TilePass

    def get_place() -> type[ModulePass]:
        from passes.place import PlacePass

        return PlacePass

    def get_schedule() -> type[ModulePass]:
        from passes.schedule import SchedulePass

        return SchedulePass

    def get_shard() -> type[ModulePass]:
        from passes.shard import ShardPass

        return ShardPass

    def get_convert_la_to_linalg() -> type[ModulePass]:
        from passes.convert_la_to_linalg import ConvertLaToLinalgPass

        return ConvertLaToLinalgPass

    return {
        "lower-attn": get_lower_attn,
        "absorb": get_absorb,
        "shard": get_shard,
        "tile": get_tile,
        "place": get_place,
        "schedule": get_schedule,
        "convert-la-to-linalg": get_convert_la_to_linalg,
    }
