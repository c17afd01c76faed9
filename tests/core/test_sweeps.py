"""Sweeps on a real dask cluster whose workers keep their own caches: every entry comes back to the
caller's cache, and the results equal a run on this machine bit for bit."""

import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT

from companion import hidden_progress as hp
from companion import pareto_frontiers as pf
from companion.chapters.pareto_frontiers import analysis as pareto_analysis
from companion.core import cache, sweeps

distributed = pytest.importorskip("distributed")


class ScratchCache(distributed.WorkerPlugin):
    """Gives each worker a cache folder of its own, as on machines that share no disk."""

    def __init__(self, base: str):
        self.base = base

    def setup(self, worker):
        os.environ["COMPANION_CACHE"] = os.path.join(self.base, str(worker.name))


def entries(root) -> set[str]:
    return {f"{e.parent.name}/{e.name}" for e in root.glob("*/*") if cache.ENTRY_KEY.match(e.name)}


def same_result(a: cache.Result, b: cache.Result) -> bool:
    """Equal numbers and tensors; only the measured wall time may differ."""
    def numbers(result):
        return {key: value for key, value in result.metrics.items() if key != "wall_seconds"}
    return numbers(a) == numbers(b) and a.arrays.keys() == b.arrays.keys() and all(
        torch.equal(a.arrays[name], b.arrays[name]) for name in a.arrays)


def pareto_lotteries() -> list:
    return [pf.LotteryConfig(source, pf.LOTTERY["test"]["ticket_width"]) for source in pf.lottery_sources("test")]


def pareto_jobs() -> list[dict]:
    """The pareto chapter's tabular runs and its lotteries (each trains its source network inside its job)."""
    return ([{"kind": "tabular", "config": c} for c in pf.tabular_configs("test")]
            + [{"kind": "lottery", "config": lottery} for lottery in pareto_lotteries()])


def pareto_results() -> list[cache.Result]:
    return [*(pf.tabular_run(c) for c in pf.tabular_configs("test")),
            *(pf.lottery_experiment(lottery.source, lottery.ticket_width) for lottery in pareto_lotteries())]


@pytest.mark.slow
def test_a_sweep_on_a_cluster_brings_every_entry_home(tmp_path, monkeypatch):
    """Two chapters' test-scale sweeps: hidden progress through `run_cached`, and the pareto chapter's
    tabular and lottery jobs through a plain `sweep` whose jobs store entries (one inside another)."""
    local = [*hp.run_many(hp.scaling_configs("test")), *pareto_results()]  # the session's cache
    home = tmp_path / "home"
    monkeypatch.setenv("COMPANION_CACHE", str(home))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  worker_class=distributed.Nanny) as cluster, distributed.Client(cluster) as client:
        client.register_plugin(ScratchCache(str(tmp_path / "workers")))
        with sweeps.on_cluster(client):
            remote_hp = hp.run_many(hp.scaling_configs("test"))
            sweeps.sweep(pareto_analysis._fill, pareto_jobs(), n_jobs=2)  # as pf.experiments does
    remote = [*remote_hp, *pareto_results()]  # read from the caller's cache: no compute here
    assert all(result.from_cache for result in remote)
    worker_entries = set().union(*(entries(folder) for folder in (tmp_path / "workers").iterdir()))
    assert worker_entries and worker_entries <= entries(home)  # every entry a worker made came home
    assert any(entry.startswith(f"{pf.NAME}/") for entry in worker_entries)  # the lottery's grid cell too
    assert all(same_result(a, b) for a, b in zip(local, remote, strict=True))


def test_a_packed_entry_is_checked_before_it_is_stored(private_cache):
    result = hp.fourier_gap_check("test")
    path = next(p for p in private_cache.glob("*/*") if cache.ENTRY_KEY.match(p.name))
    packed = cache.entry_files(path)
    other = private_cache.parent / "other"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COMPANION_CACHE", str(other))
        assert cache.store_entry_files(**packed) is True
        assert cache.store_entry_files(**packed) is False  # already there
        stored = cache.cached(path.parent.name, hp.VERSION, hp.FourierCheck(**hp.FOURIER_CHECK["test"]),
                              lambda: pytest.fail("recomputed"))
        assert stored.metrics == result.metrics
        tampered = {**packed, "files": {**packed["files"], "metrics.json": b'{"rows": []}'}}
        with pytest.raises(ValueError, match="checksum"):
            cache.store_entry_files(**tampered)
        with pytest.raises(ValueError, match="does not hold the config"):
            cache.store_entry_files(**{**packed, "key": "0" * 20})
        with pytest.raises(ValueError, match="not a cache entry"):
            cache.store_entry_files(**{**packed, "experiment": "../escape"})


def test_a_bad_cluster_address_is_named_before_any_compute(tmp_path):
    done = subprocess.run([sys.executable, "-m", "companion", "reproduce", "hidden-progress", "--scale", "test",
                           "--out", str(tmp_path), "--cluster", "http://nowhere:1"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 2 and "--cluster must be an address starting with one of" in done.stderr
    assert not (tmp_path / "hidden-progress.json").exists()
