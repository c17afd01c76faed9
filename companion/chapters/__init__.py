"""One package per paper, named by its topic (see `companion.topics`).

Each has `experiment.py` (the paper's experiment, top to bottom, and `reproduce`), `figures.py`
(plots, explorers, live widgets) and `exercises.py` (the checks of its exercises); its `__init__.py`
is what the notebook and the command line call. A long story splits `experiment.py` further
(transcendence). No chapter imports another; the capstone reads the others' reports through
`companion.topics`.
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
