"""Feature emergence via margin maximisation: Fourier features, parity supports, group representations.

`experiment.py` trains one network and measures its features and margin, `explicit_networks.py`
writes down the networks the theory says attain the maximum margin.
The other files follow the chapter pattern described in `companion.chapters`.
"""

from companion.core.lazy import names_from_parts

PARTS = ("experiment", "explicit_networks", "analysis", "page", "exercises", "figures")
__getattr__, __dir__ = names_from_parts(__name__, PARTS)
