"""Numbers and sentences a notebook hands to the book's prose (`{glue:text}` roles), without the book.

The book's build glues through myst-nb. A reader's kernel (Colab, a plain Jupyter) has no myst-nb,
and needs none: there `glue` keeps quiet when asked not to display, and otherwise shows the value.
"""

from __future__ import annotations

from IPython.display import display as show

try:
    from myst_nb import glue as _myst_glue
except ImportError:  # a reader's kernel: the package's own dependencies only
    _myst_glue = None


def glue(name: str, value, display: bool = True) -> None:
    """Store `value` under `name` for the page (myst-nb's `glue`) or, without myst-nb, show it if asked."""
    if _myst_glue is not None:
        _myst_glue(name, value, display=display)
    elif display:
        show(value)
