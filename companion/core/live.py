"""Live controls for readers with a kernel: rows of ipywidgets and a Retrain button.

The rendered book has no kernel, so chapters tag these cells to be left out of the HTML; explorers
(``companion.core.explorer``) are what a reader of the static page can move.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets
from IPython.display import clear_output


def retrain_panel(rows: list[list], retrain: Callable[[], None]):
    """Rows of controls above a Retrain button and an output area.

    ``retrain()`` reads the controls, trains (or loads from the cache) and prints or plots; its output
    lands in the area below the button. A ValueError, which the configs raise for settings outside
    their ranges, is shown as its message instead of a traceback.
    """
    button = widgets.Button(description="Retrain", button_style="primary")
    output = widgets.Output()

    def on_click(_):
        with output:
            clear_output()
            try:
                retrain()
            except ValueError as err:
                print(err)

    button.on_click(on_click)
    return widgets.VBox([*(widgets.HBox(row) for row in rows), widgets.HBox([button]), output])
