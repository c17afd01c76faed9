"""The house style: a colour-blind-safe palette on opaque white figures, so every plot reads the
same in the book's light and dark themes."""

from __future__ import annotations

import io

import matplotlib
import matplotlib.pyplot as plt

# Okabe and Ito's palette, distinguishable under the common forms of colour blindness
PALETTE = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}
CYCLE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]

STYLE = {
    "axes.prop_cycle": matplotlib.cycler(color=CYCLE),
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.transparent": False,
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.figsize": (7.0, 3.6),
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "image.cmap": "viridis",
}


def use_style() -> None:
    """Apply the house style to every figure made after this call, and, in a notebook, have every
    figure carry its description (see `describe_figures_in_notebooks`)."""
    plt.rcParams.update(STYLE)
    describe_figures_in_notebooks()


def describe(fig) -> str:
    """A text alternative for a figure, from what it says about itself: its title, and each panel's
    title and axis labels."""
    parts = [fig._suptitle.get_text()] if getattr(fig, "_suptitle", None) is not None else []
    for ax in fig.axes:
        if not ax.get_visible() or not (ax.get_title() or ax.get_xlabel() or ax.get_ylabel()):
            continue  # colour bars and empty panels say nothing a reader needs
        axes = " against ".join(label for label in (ax.get_ylabel(), ax.get_xlabel()) if label)
        parts.append(f"{ax.get_title() or 'A panel'}{': ' + axes if axes else ''}")
    text = ". ".join(part.strip().rstrip(".") for part in parts if part.strip())
    return f"Figure. {text}." if text else "Figure."


def _png_with_description(fig):
    from IPython.core.pylabtools import print_figure

    metadata = {"Description": describe(fig)}
    try:
        return print_figure(fig, fmt="png", base64=True, bbox_inches="tight", metadata=metadata)
    except TypeError:  # IPython before 8 (Colab has had 7.34) takes no `base64` and returns bytes
        return print_figure(fig, fmt="png", bbox_inches="tight", metadata=metadata)


def describe_figures_in_notebooks() -> None:
    """In an IPython kernel, write each figure's description (`describe`) into the PNG it displays as,
    where the book's build (book/_ext/figure_alt.py) finds it and makes it the image's alt text."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return
    from matplotlib.figure import Figure

    shell.display_formatter.formatters["image/png"].for_type(Figure, _png_with_description)


def figure(ncols: int = 1, nrows: int = 1, width: float = 7.0, height: float = 3.6, **kwargs):
    """A new figure in the house style: ``fig, axes = figure(2)``."""
    use_style()
    made = plt.subplots(nrows, ncols, figsize=(width, height), constrained_layout=True, **kwargs)
    # the notebook's inline backend loads with the first figure and installs its own PNG formatter then
    describe_figures_in_notebooks()
    return made


def to_png(fig, dpi: int = 80, close: bool = True) -> bytes:
    """Render a figure to PNG bytes, and close it unless asked not to (explorers draw many frames)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    if close:
        plt.close(fig)
    return buffer.getvalue()


def step_axis(ax, x, cursor: int | None = None) -> None:
    """Finish an axis over training steps: log scale, label, and a cursor line at evaluation `cursor`.

    ``x`` are the plotted steps plus one (so step 0 has a place on the log axis). The cursor is the
    axis's last line, which explorers move from frame to frame.
    """
    if cursor is not None:
        ax.axvline(x[cursor], color=PALETTE["vermillion"], lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("training step + 1 (log scale)")


def seed_band(ax, steps, curves, colour, label):
    """Curves of several seeds on one axis: the median as a line, the lowest to the highest as a band."""
    import numpy as np

    curves = np.asarray(curves)
    ax.fill_between(steps, curves.min(0), curves.max(0), color=colour, alpha=0.2, lw=0)
    ax.plot(steps, np.median(curves, 0), color=colour, lw=2, label=label)

