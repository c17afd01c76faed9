"""Watermarks in the sand: a random walk of small edits erases a watermark while the text stays good.

The story is told in `corpus.py`, `language_models.py`, `watermarks.py`, `attack.py` and `quality.py`,
and `experiment.py` runs it for one seed (its docstring has the order).
The other files follow the chapter pattern described in `companion.chapters`.
"""

from companion.core.lazy import names_from_parts

PARTS = ("corpus", "language_models", "watermarks", "attack", "quality", "experiment", "analysis", "page",
         "exercises", "figures")
__getattr__, __dir__ = names_from_parts(__name__, PARTS)
