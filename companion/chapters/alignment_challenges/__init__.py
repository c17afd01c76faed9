"""The capstone: the foundational challenges of alignment and safety, seen through the book.

The chapter's public face: its notebook and the command line call every name through it.
`challenges.py` holds the map as data (the paper's eighteen challenges and the chapters that touch each);
`experiment.py` gathers the chapters' reports and reads off the facts each link cites; `analysis.py`
fills the links' sentences, checks their wording and the map, and writes the report `reproduce` returns;
`page.py` turns that report into the page's sentences and tables; `figures.py` draws the map, the
evidence panels and the filter. A name is looked up in the files in the order of PARTS, each file
imported only when the search reaches it.
"""

from companion.core.lazy import names_from_parts

PARTS = ("challenges", "experiment", "analysis", "page", "figures")
__getattr__, __dir__ = names_from_parts(__name__, PARTS)
