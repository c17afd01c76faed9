"""companion: the compute behind the book.

Two kinds of rooms. `companion.core` is the machinery every chapter shares (configs and scales, the
result cache, devices and seeds, the training loop, the models, sweeps, plots, explorers, live
widgets, exercise checks, student notebooks); it never imports a chapter. `companion.chapters` holds
one package per paper, named by its topic; chapters never import each other, and the capstone reads
the others' reports through `topics`.

A notebook imports a chapter by its topic: ``from companion import induction_heads as ih``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

from .core.cache import Result, cache_root, cached
from .core.config import SCALES, resolve_scale
from .core.runtime import keep_freed_memory_for_reuse, pick_device, set_seed

# every process that computes imports this package first: notebook kernels, the command line, and the
# joblib workers that unpickle a chapter's functions
keep_freed_memory_for_reuse()

__version__ = "0.1.0"
__all__ = ["Result", "cache_root", "cached", "SCALES", "resolve_scale", "pick_device", "set_seed"]

CORE_MODULES = ("cache", "checks", "config", "explorer", "lazy", "live", "models", "notebooks", "parity",
                "plotting", "runtime", "sweeps", "tables", "training")
CHAPTER_PACKAGES = ("induction_heads", "hidden_progress", "pareto_frontiers", "increasing_complexity",
                    "margin_features", "variable_creation", "watermark_sand", "transcendence",
                    "knowable_unknowable", "alignment_challenges")
# The first layout was flat (companion.plotting, companion.induction_heads, companion.exercises).
# Notebooks saved from it still run: each old name is the module that now holds its code.
MOVED = {**{name: f"companion.core.{name}" for name in CORE_MODULES},
         **{name: f"companion.chapters.{name}" for name in CHAPTER_PACKAGES},
         "exercises": "companion.chapters"}  # which offers every chapter's checks by name


def __getattr__(name: str):
    """``from companion import induction_heads``: the chapters (and old module names) load on demand."""
    if name in MOVED:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _OldModuleNames(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes ``import companion.plotting`` give the module ``companion.core.plotting`` itself (one
    module object under both names, so nothing is loaded twice)."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.partition(".")
        if package == __name__ and name in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def __init__(self):
        self.own_specs = {}

    def create_module(self, spec):
        module = importlib.import_module(MOVED[spec.name.partition(".")[2]])
        self.own_specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module):
        # the import system stamped the old name's spec on the module: give it back its own
        module.__spec__ = self.own_specs[module.__spec__.name]


if not any(isinstance(finder, _OldModuleNames) for finder in sys.meta_path):
    sys.meta_path.append(_OldModuleNames())
