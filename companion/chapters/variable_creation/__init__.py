"""Sparse variable creation in self-attention: the samples a transformer needs grow with log T.

`experiment.py` trains one cell (a model, T and m, over seeds), `search.py` finds the critical
sample size m* of one (model, T).
The other files follow the chapter pattern described in `companion.chapters`.
"""

from companion.core.lazy import names_from_parts

PARTS = ("experiment", "search", "analysis", "page", "exercises", "figures")
__getattr__, __dir__ = names_from_parts(__name__, PARTS)
