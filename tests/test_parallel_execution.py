"""The book build's notebook executor (book/_ext/parallel_execution.py), with a stand-in for jupyter-cache's
execution worker: notebooks go out one at a time in the order given (the chapters, dearest first, then the
capstone), and the kernels run with a job limit of one."""

import importlib.util
import json
import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import ROOT
from jupyter_cache.executors import basic

from companion import topics

SPEC = importlib.util.spec_from_file_location("parallel_execution", ROOT / "book" / "_ext" / "parallel_execution.py")
parallel_execution = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(parallel_execution)


class Record:
    def __init__(self, pk, uri):
        self.pk, self.uri = pk, uri


class LoggingWorker:
    """Sleeps as long as the notebook's name says and writes when it ran, where, and with which job limit."""

    def __init__(self, log: Path):
        self.log = log

    def __call__(self, data):
        started = time.monotonic()
        time.sleep(float(Path(data.uri).stem.split("-")[1]))
        entry = {"uri": data.uri, "started": started, "ended": time.monotonic(), "pid": os.getpid(),
                 "jobs": os.environ.get("COMPANION_JOBS")}
        (self.log / f"{data.pk}.json").write_text(json.dumps(entry))
        return (1 if "fails" in data.uri else 0), data.uri


@pytest.fixture
def worker_log(tmp_path, monkeypatch):
    monkeypatch.setattr(basic, "ExecutionWorkerLocalMProc", lambda: LoggingWorker(tmp_path))
    monkeypatch.delenv("COMPANION_JOBS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    return tmp_path


def run(paths, log):
    records = {path: Record(pk, str(path)) for pk, path in enumerate(paths)}
    failed = parallel_execution._execute(None, paths, records, timeout=60, allow_errors=False)
    return failed, {entry["uri"]: entry for entry in map(json.loads, (p.read_text() for p in log.glob("*.json")))}


def test_notebooks_go_out_one_at_a_time_in_the_order_given(worker_log):
    # the dearest first: with two processes, the second notebook must not wait for the first (jupyter-cache's
    # own executor hands them out two at a time, so it would)
    paths = [Path("/book/dear-1.5.ipynb"), Path("/book/cheap-0.1.ipynb"), Path("/book/cheap-0.2.ipynb"),
             Path("/book/fails-0.1.ipynb")]
    failed, ran = run(paths, worker_log)
    assert failed == [paths[3]]
    dear, first_cheap = ran[str(paths[0])], ran[str(paths[1])]
    assert first_cheap["started"] < dear["ended"] and first_cheap["pid"] != dear["pid"]
    later = [ran[str(path)] for path in paths[1:]]
    assert all(entry["pid"] == first_cheap["pid"] for entry in later)  # the cheap ones share the other process
    assert [entry["started"] for entry in later] == sorted(entry["started"] for entry in later)


def test_the_chapters_kernels_run_with_a_job_limit_of_one_unless_the_builder_set_one(worker_log, monkeypatch):
    paths = [Path("/book/a-0.ipynb"), Path("/book/b-0.ipynb")]
    with parallel_execution._job_limit("1"):
        _, ran = run(paths, worker_log)
    assert {entry["jobs"] for entry in ran.values()} == {"1"}
    assert "COMPANION_JOBS" not in os.environ  # restored after the chapters
    monkeypatch.setenv("COMPANION_JOBS", "2")
    with parallel_execution._job_limit("1"):
        assert os.environ["COMPANION_JOBS"] == "2"
    with parallel_execution._job_limit(None):
        assert os.environ["COMPANION_JOBS"] == "2"



def test_the_capstone_goes_out_last_in_the_same_queue_as_the_chapters(tmp_path, monkeypatch):
    # no barrier between chapters and the notebooks that read them: one queue, the capstone and the
    # introduction (its table of verdicts) at its end, every kernel at one job
    monkeypatch.delenv("COMPANION_JOBS", raising=False)
    monkeypatch.delenv("COMPANION_SERIAL_BUILD", raising=False)
    calls = []

    def execute(cache, paths, records, timeout, allow_errors):
        calls.append(([path.stem for path in paths], os.environ.get("COMPANION_JOBS")))
        return []

    monkeypatch.setattr(parallel_execution, "_execute", execute)
    config = SimpleNamespace(execution_mode="cache", execution_cache_path=str(tmp_path / "_build" / ".jupyter_cache"),
                             execution_timeout=900, execution_allow_errors=False)
    app = SimpleNamespace(env=SimpleNamespace(mystnb_config=config), srcdir=str(ROOT),
                          outdir=str(tmp_path / "_build" / "html"))
    parallel_execution.execute_in_parallel(app)
    [(queue, jobs)] = calls
    assert queue == [*topics.DEAREST_FIRST, "alignment-challenges", "intro"] and jobs == "1"
