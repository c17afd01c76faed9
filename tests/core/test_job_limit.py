"""The job limit: inside `at_most_jobs(1)`, or with COMPANION_JOBS=1, a sweep runs in the calling
process; without a limit it starts processes of its own."""

import os

import pytest

from companion.core import sweeps
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
