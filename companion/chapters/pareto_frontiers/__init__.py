"""Pareto frontiers in feature learning: data, compute, width and luck on offline sparse parity.

The chapter's public face: its notebook and the command line call every name through it. A name is
looked up in `experiment.py`, `exercises.py`, `figures.py`, in that order, each file imported only
when the search reaches it, so the processes that only train never import the figures (nor
matplotlib).
"""

from companion.core.lazy import names_from_parts

__getattr__, __dir__ = names_from_parts(__name__, ("experiment", "exercises", "figures"))
