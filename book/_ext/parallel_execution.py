"""Execute the chapter notebooks side by side before Sphinx reads them.

myst-nb executes notebooks one at a time as it reads them. With ``execute_notebooks: cache`` it first
looks each notebook up in the jupyter-cache at ``nb_execution_cache_path``; this extension fills that
cache beforehand, one process per core, with jupyter-cache's own execution worker. Every build starts
from an empty jupyter-cache, so every notebook is executed afresh, as with ``force``; a notebook that
fails here is reported as a warning (the build's ``-W`` makes it an error) and myst-nb then executes it
again and shows its traceback.

The notebooks go out one at a time: the nine chapters, the dearest first (``topics.DEAREST_FIRST``),
then the capstone, and every kernel runs with ``COMPANION_JOBS=1``: its runs go one after another,
since the other core has a notebook of its own. jupyter-cache's own parallel executor hands notebooks out
through ``Pool.map`` in chunks of two, which put the two dearest chapters one after the other in one
process; a ``concurrent.futures`` pool takes them one at a time, in the order given.

The capstone reads every chapter's results from the result cache, so it goes out last, when the
other process is on the last chapter still running. Nothing is computed twice for that: where the
capstone asks for an entry that chapter is computing, it waits on the entry's lock and reads what the
chapter stored (``cache.cached``); and as nothing waits behind it in the queue, its waiting holds up no
other notebook. A warm build gains the time the capstone used to run alone at the end.

``COMPANION_SERIAL_BUILD=1`` leaves the notebooks to myst-nb, one at a time, which
benchmarks/run_benchmarks.py times against the parallel build. That build is serial only in name: myst-nb
executes the capstone first (Sphinx reads the pages alphabetically), and the capstone's
``chapter_reports`` trains the chapters side by side (benchmarks/RESULTS.md has both builds' times).
"""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from sphinx.util import logging

LOGGER = logging.getLogger(__name__)
DEFAULT_TIMEOUT = 900  # seconds per cell, as _config.yml's execute.timeout


def _notebooks(app) -> list[Path]:
    from companion.core import notebooks

    return notebooks.book_paths(Path(app.srcdir) / "book")


def _timeout(path: Path, default: int) -> int:
    metadata = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
    return int(metadata.get("mystnb", {}).get("execution_timeout", default))


def _fresh_cache(app) -> Path | None:
    """The build's jupyter-cache folder, emptied; None (with a warning) where it is not inside the
    build's output folder, which is the only place this extension may delete."""
    cache = Path(app.env.mystnb_config.execution_cache_path).resolve()  # myst-nb has resolved it by now
    build = Path(app.outdir).resolve().parent
    if not cache.is_relative_to(build):
        LOGGER.warning(f"parallel_execution: the jupyter-cache {cache} is outside {build}; executing serially")
        return None
    shutil.rmtree(cache, ignore_errors=True)
    return cache


def _execute(cache, paths: list[Path], records: dict, timeout: int, allow_errors: bool) -> list[Path]:
    """Execute the notebooks one per process, handed out in the order of `paths`, into the jupyter-cache;
    the paths of those that failed."""
    from jupyter_cache.executors.basic import ExecutionWorkerLocalMProc, ProcessData

    work = [ProcessData(records[path].pk, records[path].uri, cache, timeout, allow_errors) for path in paths]
    with ProcessPoolExecutor(max_workers=min(len(work), os.cpu_count() or 1)) as pool:
        outcomes = list(pool.map(ExecutionWorkerLocalMProc(), work))
    return [Path(uri) for status, uri in outcomes if status != 0]


def in_order(paths: list[Path]) -> list[Path]:
    """The chapters, the dearest first, then the notebooks that read their results (the capstone, the
    introduction's table)."""
    from companion import topics

    chapters = sorted((path for path in paths if path.stem in topics.CHAPTERS),
                      key=lambda path: topics.DEAREST_FIRST.index(path.stem))
    return chapters + [path for path in paths if path not in chapters]


@contextmanager
def _job_limit(jobs: str | None):
    """``COMPANION_JOBS`` for the kernels started inside the block, unless the builder set one."""
    from companion.core.sweeps import JOBS_VARIABLE

    if jobs is None or JOBS_VARIABLE in os.environ:
        yield
        return
    os.environ[JOBS_VARIABLE] = jobs
    try:
        yield
    finally:
        del os.environ[JOBS_VARIABLE]


def execute_in_parallel(app) -> None:
    config = app.env.mystnb_config
    if config.execution_mode != "cache" or os.environ.get("COMPANION_SERIAL_BUILD") == "1":
        return
    from jupyter_cache import get_cache

    folder = _fresh_cache(app)
    if folder is None:
        return
    cache = get_cache(folder)
    records = {path: cache.add_nb_to_project(str(path)) for path in _notebooks(app)}
    default = int(config.execution_timeout or DEFAULT_TIMEOUT)
    queue = in_order(list(records))
    if not queue:
        return
    with _job_limit("1"):
        failed = _execute(cache, queue, records, max(_timeout(path, default) for path in queue),
                          config.execution_allow_errors)
    for path in failed:
        LOGGER.warning(f"parallel_execution: {path.name} failed; myst-nb runs it again to show why")
    for record in cache.list_cache_records():
        LOGGER.info(f"parallel_execution: {Path(record.uri).name} executed in "
                    f"{record.data.get('execution_seconds', float('nan')):.1f} s")


def setup(app):
    # after myst-nb has resolved its configuration (at the default priority), before any source is read
    app.connect("builder-inited", execute_in_parallel, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
