"""`mlacc sweep --executor dask`: a LocalCluster of two worker processes gives the local executor's rows, bit for bit,
and a cluster that cannot be used is one error line before any point is evaluated."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlacc import __version__, cli
from mlacc.sweep import cluster
from mlacc.sweep.run import run_sweep
from mlacc.sweep.space import Chip, DesignPoint, SweepInput
from passes import SCHEMES
from tests.conftest import SMALL_ATTN, TINY_TOML

pytestmark = pytest.mark.timeout(120)  # a cluster that stops answering fails the test instead of hanging CI

SMALL = SMALL_ATTN
TINY = TINY_TOML
UNREACHABLE = "tcp://127.0.0.1:9"
"""The discard port: nothing listens there, so connecting times out."""


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """The address of a LocalCluster of two single-threaded worker processes, shut down after the module."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as local:
        yield local.scheduler_address


def sweep(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["sweep", str(SMALL), "--hw", str(TINY), *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cluster_rows_equal_the_local_rows(scheduler: str):
    sweep_input = SweepInput(str(SMALL), SMALL.read_text(), SCHEMES, ops=True)
    points = [
        DesignPoint(Chip(str(TINY), (("dram.read_bandwidth_bytes_per_cycle", bw),)), "d", phase, batch)
        for bw in (8, 32)
        for phase in ("decode", "prefill")
        for batch in (1, 4)
    ]
    assert run_sweep(sweep_input, points, quiet=True, scheduler=scheduler) == run_sweep(sweep_input, points, quiet=True)


def test_cli_writes_the_local_file(scheduler: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    axes = ("--batch", "1,4", "--context", "4,16", "--phase", "decode,prefill", "-q")
    local, distributed = tmp_path / "local.parquet", tmp_path / "dask.parquet"
    assert sweep(capsys, *axes, "-o", str(local)) == (0, "", "")
    assert sweep(capsys, *axes, "--executor", "dask", "--scheduler", scheduler, "-o", str(distributed)) == (0, "", "")
    assert distributed.read_bytes() == local.read_bytes()


def test_remarks_are_relayed_once(scheduler: str, capsys: pytest.CaptureFixture[str]):
    code, out, err = sweep(capsys, "--batch", "1..8:x2", "--executor", "dask", "--scheduler", scheduler)
    assert (code, out) == (0, sweep(capsys, "--batch", "1..8:x2")[1])
    assert err == f"{SMALL}:3:7: remark: absorb: @g.d is a gqa layer; MLA schemes do not apply, unchanged\n"


def test_bad_input_on_a_worker_is_its_one_line(scheduler: str, capsys: pytest.CaptureFixture[str]):
    """A chip without an interconnect cannot run a collective: the worker's error is the sweep's one line. (A layout
    the layer or node cannot take is a skipped row, not an error: tests/mlacc/sweep/test_sweep.py.)"""
    code, out, err = sweep(capsys, "--tp", "2", "--executor", "dask", "--scheduler", scheduler, "-q")
    assert (code, out) == (1, "")
    assert err == (
        "error: hardware 'tiny' has no [interconnect] to run mesh.all_reduce over 2 devices: use a node preset "
        "(h100x8, h200x8) or add [interconnect] to the TOML\n"
    )


def test_workers_of_another_mlacc_are_refused(
    scheduler: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setattr(cluster, "__version__", "0.0.0")
    code, out, err = sweep(capsys, "--executor", "dask", "--scheduler", scheduler)
    assert (code, out) == (1, "")
    assert err.startswith(f"error: workers of the Dask scheduler at {scheduler} must run mlacc 0.0.0, as this client")
    assert err.count("\n") == 1 and err.endswith(f"({__version__})\n")


@pytest.fixture
def short_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Waits of 2 s instead of `CONNECT_TIMEOUT_S` (5 s), for the tests that wait them out."""
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 2)


def test_a_scheduler_without_workers_is_one_line(short_timeout: None, capsys: pytest.CaptureFixture[str]):
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, dashboard_address=":0") as empty:
        code, out, err = sweep(capsys, "--executor", "dask", "--scheduler", empty.scheduler_address)
    assert (code, out) == (1, "")
    assert cluster.CONNECT_TIMEOUT_S == 2
    assert err == f"error: the Dask scheduler at {empty.scheduler_address} has no workers after 2 s\n"


def test_an_unreachable_scheduler_is_one_line(short_timeout: None, capsys: pytest.CaptureFixture[str]):
    code, out, err = sweep(capsys, "--executor", "dask", "--scheduler", UNREACHABLE)
    assert (code, out) == (1, "")
    assert err == (
        f"error: cannot reach a Dask scheduler at {UNREACHABLE}: "
        f"Timed out trying to connect to {UNREACHABLE} after {cluster.CONNECT_TIMEOUT_S} s\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--executor", "dask"), "--executor dask needs --scheduler ADDRESS (on this machine alone, use --jobs N)"),
        (("--scheduler", UNREACHABLE), "--scheduler is for --executor dask"),
        (
            ("--executor", "dask", "--scheduler", UNREACHABLE, "--jobs", "2"),
            "--jobs is for --executor local: a Dask cluster runs as many chunks as it has workers",
        ),
        (
            ("--executor", "dask", "--scheduler", "host"),
            "--scheduler: expected an address such as tcp://host:8786, got 'host' "
            "(missing port number in address 'host')",
        ),
    ],
)
def test_bad_usage_is_one_line(argv: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]):
    assert sweep(capsys, *argv) == (2, "", f"error: {message}\n")
