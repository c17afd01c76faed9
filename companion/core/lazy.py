"""A package whose names live in its parts (submodules), each part imported only when needed."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Sequence


def names_from_parts(package: str, parts: Sequence[str]):
    """``__getattr__`` and ``__dir__`` for `package`: a name is looked up in each of its `parts` in
    turn, and a part is imported only when the search reaches it. So ``ih.run`` loads the experiment
    alone, and only a name found in no earlier part (a figure) loads the figures and matplotlib."""

    missing = object()

    def part(name: str) -> types.ModuleType:
        return importlib.import_module(f"{package}.{name}")

    def __getattr__(name: str):
        if name in parts:
            return part(name)
        if not name.startswith("_"):
            for each in parts:
                value = getattr(part(each), name, missing)
                if value is not missing and not isinstance(value, types.ModuleType):
                    setattr(sys.modules[package], name, value)  # found once, then an ordinary attribute
                    return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        found = {n for each in parts for n, v in vars(part(each)).items()
                 if not n.startswith("_") and not isinstance(v, types.ModuleType)}
        return sorted(found | set(parts))

    return __getattr__, __dir__
