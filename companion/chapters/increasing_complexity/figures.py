"""Figures, explorers and live widgets of the increasing-complexity chapter."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.gridspec import GridSpec

from companion.core.cache import Result
from companion.core.explorer import Explorer, cached_explorer
from companion.core.live import retrain_panel
from companion.core.plotting import CYCLE, PALETTE, figure, seed_band, step_axis, use_style

from .analysis import early_evaluations
from .experiment import NAME, boundary_curve, config_for, run


def plot_information(result: Result, ax=None, cursor: int | None = None, title: str | None = None):
    """I(F;Y), mu and I(F;Y|L) over training, with I(L;Y) for reference."""
    m = result.metrics
    if ax is None:
        fig, ax = figure()
    steps = [s + 1 for s in m["step"]]
    ax.plot(steps, m["I_FY"], color=PALETTE["black"], lw=2, label="I(F;Y)")
    ax.plot(steps, m["mu"], color=PALETTE["blue"], lw=2, label="mu = I(F;Y) - I(F;Y|L)")
    ax.plot(steps, m["I_FY_given_L"], color=PALETTE["orange"], lw=2, label="I(F;Y|L)")
    ax.axhline(m["I_LY"], color=PALETTE["blue"], ls="--", lw=1, label="I(L;Y)")
    step_axis(ax, steps, cursor)
    ax.set_ylabel("bits (held-out data)")
    noise = m["config"]["noise"]
    condition = "no label noise" if noise == 0 else f"{noise:.0%} of training labels flipped"
    ax.set_title(title or f"{m['config']['dataset']}: {condition}")
    ax.legend(fontsize=8, loc="upper left")
    return ax.figure


def plot_information_over_seeds(results: list[Result], ax=None, title: str | None = None):
    """I(F;Y), mu and I(F;Y|L) over training for every seed: the median as a line, the range as a band."""
    first = results[0].metrics
    if ax is None:
        fig, ax = figure()
    steps = [s + 1 for s in first["step"]]
    for key, colour, label in (("I_FY", PALETTE["black"], "I(F;Y)"), ("mu", PALETTE["blue"], "mu"),
                               ("I_FY_given_L", PALETTE["orange"], "I(F;Y|L)")):
        seed_band(ax, steps, [r.metrics[key] for r in results], colour, label)
    ax.axhline(np.median([r.metrics["I_LY"] for r in results]), color=PALETTE["blue"], ls="--", lw=1,
               label="I(L;Y), median")
    step_axis(ax, steps)
    ax.set_ylabel("bits (held-out data)")
    ax.set_title(title or f"{first['config']['dataset']}: {len(results)} seeds (line: median; band: range)")
    ax.legend(fontsize=8, loc="upper left")
    return ax.figure


def plot_nulls(results: list[Result], ax=None):
    """The share of F's information that L accounts for, against held-out accuracy: the network's early
    evaluations (every seed) beside the nulls of the first seed (trees, k-NN, independent errors)."""
    if ax is None:
        fig, ax = figure()
    first = results[0].metrics
    labels = {"tree": "decision trees (2 to 64 leaves)", "knn": "k-nearest neighbours (k from 1 to the training set)",
              "independent": "errors independent of L's"}
    for family, colour, marker in (("tree", PALETTE["green"], "s"), ("knn", PALETTE["orange"], "^"),
                                   ("independent", PALETTE["sky"], None)):
        curve = first["null_curves"][family]
        order = np.argsort(curve["acc"])
        ax.plot(np.asarray(curve["acc"])[order], np.asarray(curve["ratio"], dtype=float)[order], color=colour,
                marker=marker, ms=3, lw=0.8 if marker else 1.5, ls="-" if marker else "--", label=labels[family])
    for i, result in enumerate(results):
        m = result.metrics
        keep = early_evaluations(m)
        ax.scatter([m["acc_F"][j] for j in keep], [m["mu"][j] / m["I_FY"][j] for j in keep], s=14,
                   color=PALETTE["black"], zorder=3, label="network, early evaluations (all seeds)" if i == 0 else None)
    ax.axvline(first["acc_L"], color=PALETTE["blue"], ls=":", lw=1, label="accuracy of L")
    ax.set_xlabel("held-out accuracy")
    ax.set_ylabel("mu / I(F;Y)")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"{first['config']['dataset']}: how much of a classifier L explains, at each accuracy")
    ax.legend(fontsize=7, loc="lower left")
    return ax.figure


def plot_noise(noise: dict[float, list[Result]], clean: list[Result]):
    """mu over training without label noise and at each noise rate (median and range over seeds), and the
    training accuracy on the partly flipped labels."""
    fig, (left, right) = figure(2, width=10, height=3.6)
    steps = [s + 1 for s in clean[0].metrics["step"]]
    colours = [PALETTE["blue"], PALETTE["orange"], PALETTE["vermillion"]]
    for colour, (rate, results) in zip(colours, [(0.0, clean), *noise.items()]):
        seed_band(left, steps, [r.metrics["mu"] for r in results], colour, f"{rate:.0%} flipped")
        seed_band(right, steps, [r.metrics["train_acc"] for r in results], colour, f"{rate:.0%} flipped")
    for ax, label in ((left, "mu (bits, held-out)"), (right, "accuracy on the training labels")):
        step_axis(ax, steps)
        ax.set_ylabel(label)
        ax.legend(fontsize=8, loc="lower right")
    left.set_title(f"{clean[0].metrics['config']['dataset']}: mu under label noise")
    right.set_title("memorising the flipped labels")
    return fig


def plot_accuracy(result: Result, ax=None):
    m = result.metrics
    if ax is None:
        fig, ax = figure()
    steps = [s + 1 for s in m["step"]]
    ax.plot(steps, m["acc_F"], color=PALETTE["black"], lw=2, label="network F, held-out")
    ax.plot(steps, m["train_acc"], color=PALETTE["purple"], lw=1.5, ls="-.", label="network F, training labels")
    ax.axhline(m["acc_L"], color=PALETTE["blue"], ls="--", lw=1, label="linear L, held-out")
    step_axis(ax, steps)
    ax.set_ylabel("accuracy")
    ax.set_title(f"{m['config']['dataset']}: accuracy (noise {m['config']['noise']:.0%})")
    ax.legend(fontsize=8, loc="lower right")
    return ax.figure


def plot_ladder(result: Result):
    """mu(F; L_d) / I(L_d; Y) for each polynomial degree d: when SGD passes each classifier."""
    m = result.metrics
    fig, ax = figure()
    steps = [s + 1 for s in m["step"]]
    for colour, (degree, reference) in zip(CYCLE, m["ladder"].items()):
        share = [v / reference["I_LY"] for v in m[f"mu_degree_{degree}"]]
        ax.plot(steps, share, color=colour, lw=2, label=f"degree {degree} (accuracy {reference['acc']:.2f})")
    ax.axhline(0.9, color="grey", ls=":", lw=1)
    step_axis(ax, steps)
    ax.set_ylim(-0.05, 1.1)
    ax.set_ylabel("mu(F; L_d) / I(L_d; Y)")
    ax.set_title("SGD catches up with classifiers of rising complexity, in order")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def plot_boundaries(result: Result, evaluation: int = -1, axes=None):
    """F's decision regions at one evaluation beside L's, over the training points of the 2-D task."""
    if axes is None:
        fig, axes = figure(2, width=8.0, height=4.0)
    cmap = ListedColormap(["#dceefa", "#fbe3cc"])
    x, y = result.arrays["train_x"].numpy(), result.arrays["train_y"].numpy()
    images = []
    for ax, regions, title in ((axes[0], result.arrays["boundary"][evaluation], "network F"),
                               (axes[1], result.arrays["reference_boundaries"][0], "linear classifier L")):
        images.append(ax.imshow(regions.numpy(), origin="lower", extent=(-1, 1, -1, 1), cmap=cmap, vmin=0, vmax=1))
        ax.scatter(x[:, 0], x[:, 1], c=np.where(y == 1, PALETTE["vermillion"], PALETTE["blue"]), s=3, lw=0)
        curve = np.linspace(-1, 1, 200)
        ax.plot(curve, boundary_curve(curve), color="black", lw=1, ls="--")
        ax.set_xlim(-1, 1)
        ax.set_ylim(-1, 1)
        ax.set_aspect("equal")
        ax.grid(False)
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
        ax.set_title(title)
    step = result.metrics["step"][evaluation]
    axes[0].figure.suptitle(f"Decision regions at step {step} (dashed: the true boundary)")
    return axes[0].figure


EXPLORER_VERSION = 2


def explorer(result: Result):
    """Scrub through training on the 2-D task: F's regions, L's regions, and the information curves."""
    steps = result.metrics["step"]
    boundary = result.arrays["boundary"]

    def build() -> Explorer:
        use_style()
        fig = plt.figure(figsize=(9.5, 7.0), constrained_layout=True)
        grid = GridSpec(2, 2, figure=fig, height_ratios=[1.2, 1])
        left, right, bottom = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1]), fig.add_subplot(grid[1, :])
        plot_boundaries(result, evaluation=0, axes=[left, right])
        plot_information(result, ax=bottom, cursor=0, title="Information on held-out data")
        cursor, image = bottom.lines[-1], left.images[0]

        def update(index: int) -> None:
            image.set_data(boundary[index].numpy())
            cursor.set_xdata([steps[index] + 1] * 2)
            fig.suptitle(f"Decision regions at step {steps[index]} (dashed: the true boundary)")

        shown = sorted(set(range(0, len(steps), 2)) | {len(steps) - 1})  # every other evaluation keeps the page light
        return Explorer.from_updates(fig, update, shown, name="step", label=lambda i: str(steps[i]), dpi=60,
                                     title="Scrub through training: the network's regions and the information curves")

    return cached_explorer(f"{NAME}-explorer", EXPLORER_VERSION, build, run=result.metrics["config"])


def live_widget(scale: str = "book"):
    """Controls to retrain on the 2-D task with another noise rate, width and learning rate."""
    noise = widgets.FloatSlider(value=0.0, min=0.0, max=0.4, step=0.05, description="label noise")
    width = widgets.Dropdown(options=[16, 64, 256, 1024], value=256, description="width")
    lr = widgets.FloatLogSlider(value=0.05, base=10, min=-3, max=0, description="learning rate")

    def retrain():
        result = run(config_for(scale, "sine", noise=noise.value, width=width.value, lr=lr.value))
        m = result.metrics
        print(f"final: accuracy {m['acc_F'][-1]:.3f} (linear {m['acc_L']:.3f}), mu {m['mu'][-1]:.3f} bits "
              f"(I(L;Y) = {m['I_LY']:.3f})")
        fig, (left, right) = figure(2, width=10, height=3.6)
        plot_information(result, ax=left)
        plot_accuracy(result, ax=right)
        plt.show()

    return retrain_panel([[noise, width, lr]], retrain)

