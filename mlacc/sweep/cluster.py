"""Reaching a Dask cluster for `mlacc sweep --executor dask --scheduler ADDRESS`.

A sweep on a cluster must fail the way a local one does: one line, before any point is evaluated, when
the scheduler is not there, has no workers, or its workers run another mlacc (whose rows could differ).
distributed is imported only here, and only when a sweep asks for a cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from mlacc import __version__
from mlacc.diagnostics import InputError, UsageError

if TYPE_CHECKING:
    from distributed import Client

CONNECT_TIMEOUT_S = 5
"""How long to wait for the scheduler to answer, and then for its first worker to join."""


@contextmanager
def connect(address: str) -> Iterator[Client]:
    """A client of the scheduler at `address` whose workers run this mlacc; closed on the way out."""
    try:
        from distributed import Client
        from distributed.comm.addressing import get_address_host_port
    except ImportError:
        raise InputError("--executor dask needs distributed: pip install 'mlacc[dask]'") from None
    try:  # before a Client is built: one that fails on its address lingers and hangs the interpreter's exit
        get_address_host_port(address)
    except ValueError as e:
        raise UsageError(f"--scheduler: expected an address such as tcp://host:8786, got '{address}' ({e})") from None
    try:
        client = Client(address, timeout=f"{CONNECT_TIMEOUT_S}s", set_as_default=False)
    except OSError as e:
        raise InputError(f"cannot reach a Dask scheduler at {address}: {e}") from None
    with client:
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
        except TimeoutError:
            raise InputError(f"the Dask scheduler at {address} has no workers after {CONNECT_TIMEOUT_S} s") from None
        _check_versions(client, address)
        yield client


def _check_versions(client: Client, address: str) -> None:
    versions = client.get_versions(packages=["mlacc"])
    assert isinstance(versions, dict)  # a synchronous client's answer, not a coroutine
    found = {worker: (info or {}).get("packages", {}).get("mlacc") for worker, info in versions["workers"].items()}
    others = sorted(f"{worker} ({found[worker] or 'no mlacc'})" for worker in found if found[worker] != __version__)
    if others:
        raise InputError(
            f"workers of the Dask scheduler at {address} must run mlacc {__version__}, as this client does: "
            + ", ".join(others)
        )


def worker_processes(client: Client) -> int:
    """The chunks the cluster evaluates at once: one per worker process, whatever its threads (see
    `mlacc.sweep.run.evaluate_chunk`)."""
    return len(client.scheduler_info(n_workers=-1)["workers"])
