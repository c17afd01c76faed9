"""The job limit: inside `at_most_jobs(1)`, or with COMPANION_JOBS=1, a sweep runs in the calling
process; without a limit it starts processes of its own. A cached sweep in one process passes over the
runs another process is computing."""

import os
from dataclasses import dataclass

import pytest

from companion.core import cache, sweeps
from companion.core.config import InputError

TWO_JOBS = [{}, {}]


def test_a_limit_of_one_keeps_a_sweep_in_the_calling_process(monkeypatch):
    monkeypatch.delenv(sweeps.JOBS_VARIABLE, raising=False)
    assert os.getpid() not in sweeps.sweep(os.getpid, TWO_JOBS, n_jobs=2)
    with sweeps.at_most_jobs(1):
        assert sweeps.sweep(os.getpid, TWO_JOBS, n_jobs=2) == [os.getpid()] * 2
        assert sweeps.sweep(os.getpid, TWO_JOBS, n_jobs=-1) == [os.getpid()] * 2
    assert sweeps.job_limit() is None
    monkeypatch.setenv(sweeps.JOBS_VARIABLE, "1")
    assert sweeps.sweep(os.getpid, TWO_JOBS, n_jobs=2) == [os.getpid()] * 2
    with sweeps.at_most_jobs(2):  # the innermost limit wins
        assert sweeps.job_limit() == 2


@pytest.mark.parametrize("text", ["0", "two", "-1", "1.5"])
def test_a_bad_limit_is_named(monkeypatch, text):
    monkeypatch.setenv(sweeps.JOBS_VARIABLE, text)
    with pytest.raises(InputError, match="COMPANION_JOBS must be a positive integer"):
        sweeps.sweep(os.getpid, TWO_JOBS, n_jobs=2)
    with pytest.raises(InputError, match="job limit must be a positive integer"):
        with sweeps.at_most_jobs(0):
            pass


def test_every_chapter_has_its_place_in_the_cost_order():
    from companion import topics

    assert sorted(topics.DEAREST_FIRST) == sorted(topics.CHAPTERS)


@dataclass(frozen=True)
class Run:
    index: int


def test_a_fill_in_one_process_passes_over_the_runs_another_process_is_computing(private_cache, monkeypatch):
    """With one job, `run_cached` leaves for last an entry whose lock another process holds, and
    computes the others meanwhile: the capstone then shares a chapter's runs with the chapter's own
    kernel instead of waiting behind it at every entry."""
    monkeypatch.setenv(sweeps.JOBS_VARIABLE, "1")
    runs = [Run(i) for i in range(3)]
    cache.prepare_root()
    elsewhere = cache._entry_lock(cache.entry_path("turns", 1, runs[0]))  # another process, computing run 0
    elsewhere.acquire()
    computed = []

    def run(config):
        def compute():
            computed.append(config.index)
            if config.index == 2:
                elsewhere.release()  # the other process ends without storing: run 0 is computed here
            return cache.Result(metrics={"index": config.index})
        return cache.cached("turns", 1, config, compute)

    results = sweeps.run_cached(run, runs, "turns", 1)
    assert computed == [1, 2, 0]
    assert [r.metrics["index"] for r in results] == [0, 1, 2]
