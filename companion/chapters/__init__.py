"""One package per paper, named by its topic (see `companion.topics`); every one has the same rooms.

- `experiment.py` tells the paper's experiment top to bottom, up to `run` (one seed, one setting);
  a long story splits into more files before it, named in the chapter's `__init__.py`;
- `analysis.py` plans the chapter's runs, pools them over seeds and writes the report `reproduce`
  returns (the JSON that `python -m companion reproduce` writes);
- `page.py` turns a report into the page: `page_values(report)` gives one Markdown block per section
  and `claims(report)` the rows of the What-reproduced table, every word chosen by a computed check;
- `figures.py` draws (plots, explorers, live widgets) and `exercises.py` checks the exercises.

A chapter's `__init__.py` is its public face: the notebook and the command line call every name
through it, looked up in the files in the order of its PARTS, each file imported only when the search
reaches it, so the processes that only train never import the figures (nor matplotlib). Imports run
one way, story → analysis → page → figures; no chapter imports another, and the capstone reads the
others' reports through `companion.topics`. `tests/test_layout.py` holds every chapter to this.
"""

from __future__ import annotations

import importlib

from companion.topics import TOPICS


def __getattr__(name: str):
    """Every chapter's exercise checks by name, as the first layout's ``companion.exercises`` had them."""
    if name.startswith("check_"):
        for module in TOPICS.values():
            chapter = importlib.import_module(module)
            if hasattr(chapter, name):
                return getattr(chapter, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
