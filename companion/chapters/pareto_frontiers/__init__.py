"""Pareto frontiers in feature learning: data, compute, width and luck on offline sparse parity.

`experiment.py` trains the grid of (m, width, initialisation), `lottery.py` rewinds lottery tickets,
`tabular.py` compares wide sparse networks with dense ones and random forests on tabular data.
The other files follow the chapter pattern described in `companion.chapters`.
"""

from companion.core.lazy import names_from_parts

PARTS = ("experiment", "lottery", "tabular", "analysis", "page", "exercises", "figures")
__getattr__, __dir__ = names_from_parts(__name__, PARTS)
