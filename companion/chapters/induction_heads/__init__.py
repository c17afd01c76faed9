"""Statistical induction heads: transformers learning Markov chains in context.

`experiment.py` tells the experiment as a story, up to `run`.
The other files follow the chapter pattern described in `companion.chapters`.
"""

from companion.core.lazy import names_from_parts

PARTS = ("experiment", "analysis", "page", "exercises", "figures")
__getattr__, __dir__ = names_from_parts(__name__, PARTS)
