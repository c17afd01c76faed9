"""Distinguishing the knowable from the unknowable: probes that tell epistemic from aleatoric uncertainty.

`experiment.py` builds the world and trains the two models, `probes.py` labels the tokens and
measures the probes.
The other files follow the chapter pattern described in `companion.chapters`.
"""

from companion.core.lazy import names_from_parts

PARTS = ("experiment", "probes", "analysis", "page", "exercises", "figures")
__getattr__, __dir__ = names_from_parts(__name__, PARTS)
