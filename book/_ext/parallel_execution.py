"""Execute the chapter notebooks side by side before Sphinx reads them.

myst-nb executes notebooks one at a time as it reads them. With ``execute_notebooks: cache`` it first
looks each notebook up in the jupyter-cache at ``nb_execution_cache_path``; this extension fills that
cache beforehand with jupyter-cache's own parallel executor (one process per core): the nine chapters
first, then the capstone, which reads the chapters' results from the result cache and must never race
them for an entry. Every build starts from an empty jupyter-cache, so every notebook is executed
afresh, as with ``force``; a notebook that fails here is reported as a warning (the build's ``-W`` makes
it an error) and myst-nb then executes it again and shows its traceback.

``COMPANION_SERIAL_BUILD=1`` leaves the notebooks to myst-nb, one at a time: the build as it was before
this extension, which benchmarks/run_benchmarks.py times against the parallel one.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from sphinx.util import logging

LOGGER = logging.getLogger(__name__)
DEFAULT_TIMEOUT = 900  # seconds per cell, as _config.yml's execute.timeout


def _notebooks(app) -> list[Path]:
    from companion.core import notebooks

    return notebooks.chapter_paths(Path(app.srcdir) / "book")


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


def execute_in_parallel(app) -> None:
    config = app.env.mystnb_config
    if config.execution_mode != "cache" or os.environ.get("COMPANION_SERIAL_BUILD") == "1":
        return
    from jupyter_cache import get_cache
    from jupyter_cache.executors import load_executor

    from companion import topics

    folder = _fresh_cache(app)
    if folder is None:
        return
    cache = get_cache(folder)
    records = {path: cache.add_nb_to_project(str(path)) for path in _notebooks(app)}
    executor = load_executor("local-parallel", cache=cache)
    default = int(config.execution_timeout or DEFAULT_TIMEOUT)
    chapters = [path for path in records if path.stem in topics.CHAPTERS]
    capstone = [path for path in records if path not in chapters]
    for group in (chapters, capstone):
        if not group:
            continue
        timeout = max(_timeout(path, default) for path in group)
        outcome = executor.run_and_cache(filter_pks=[records[path].pk for path in group], timeout=timeout,
                                         allow_errors=config.execution_allow_errors)
        for uri in outcome.excepted + outcome.errored:
            LOGGER.warning(f"parallel_execution: {Path(uri).name} failed; myst-nb runs it again to show why")


def setup(app):
    # after myst-nb has resolved its configuration (at the default priority), before any source is read
    app.connect("builder-inited", execute_in_parallel, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
