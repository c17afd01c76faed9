"""Figures, explorers and live widgets of the chapter on hidden progress."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.gridspec import GridSpec

from companion.core.cache import Result
from companion.core.explorer import Explorer, cached_explorer
from companion.core.live import retrain_panel
from companion.core.plotting import CYCLE, PALETTE, figure, seed_band, use_style

from .analysis import control_config, scaling_exponents, sq_reference
from .experiment import CHANCE_LOSS, LOSSES, NAME, SOLVED_LOSS, config_for, run_many


def _cursor(ax, x) -> None:
    ax.axvline(x, color=PALETTE["vermillion"], lw=1)


def _seed_lines(ax, steps, curves, colour: str, label: str, highlight: int | None) -> None:
    """One line per seed; with `highlight`, that seed in bold and the others faint."""
    for i, curve in enumerate(curves):
        strong = highlight is None or i == highlight
        ax.plot(steps, curve, color=colour, lw=1.6 if strong else 0.8, alpha=1.0 if strong else 0.35,
                label=label if i == 0 else None)


def plot_loss_curves(main: Result, ax=None, cursor_step: int | None = None, highlight: int | None = None):
    """Test loss of every seed over training, with each seed's t_c marked."""
    if ax is None:
        fig, ax = figure()
    m = main.metrics
    steps = m["steps"]
    _seed_lines(ax, steps, main.arrays["loss"], PALETTE["blue"], "test loss, one line per seed", highlight)
    for i, t_c in enumerate(m["t_c"]):
        if t_c is not None:
            ax.plot([t_c], [SOLVED_LOSS], "o", color=PALETTE["vermillion"], ms=4,
                    label=f"t_c: loss reaches {SOLVED_LOSS}" if i == 0 else None)
    ax.axhline(CHANCE_LOSS[m["config"]["loss"]], color="grey", ls="--", lw=1, label="chance (predict 0)")
    if cursor_step is not None:
        _cursor(ax, cursor_step)
    ax.set_xlabel("training step")
    ax.set_ylabel(f"{m['config']['loss']} loss on held-out data")
    ax.set_title(f"({m['config']['n']}, {m['config']['k']})-parity: a long plateau, then a sudden drop")
    ax.legend(fontsize=8, loc="lower left")
    return ax.figure


def plot_support_share(main: Result, control: Result, ax=None, cursor_step: int | None = None,
                       highlight: int | None = None):
    """Share of first-layer weight on the support for every seed, beside the random-label control."""
    if ax is None:
        fig, ax = figure()
    config = main.metrics["config"]
    for result, colour, name in ((control, "grey", "control: random labels"),
                                 (main, PALETTE["green"], "parity labels")):
        _seed_lines(ax, result.metrics["steps"], result.arrays["support_weight_share"], colour, name, highlight)
    ax.axhline(config["k"] / config["n"], color=PALETTE["black"], ls=":", lw=1, label="chance k/n")
    if cursor_step is not None:
        _cursor(ax, cursor_step)
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("share of squared first-layer weight on S")
    ax.set_title("Under the flat loss, weight gathers on the support")
    ax.legend(fontsize=8, loc="upper left")
    return ax.figure


def plot_aligned(main: Result, control: Result):
    """Loss and support share against step / t_c: every seed's hidden progress on one time axis."""
    fig, (left, right) = figure(2, width=9.5, height=3.6)
    steps = np.array(main.metrics["steps"])
    control_max = control.arrays["support_weight_share"].max(1).values
    for i, t_c in enumerate(main.metrics["t_c"]):
        if t_c is None:
            continue
        x = steps / t_c
        left.plot(x, main.arrays["loss"][i], color=PALETTE["blue"], lw=1, alpha=0.6)
        right.plot(x, main.arrays["support_weight_share"][i] / control_max[i], color=PALETTE["green"], lw=1,
                   alpha=0.6)
    for ax in (left, right):
        ax.axvline(1, color=PALETTE["vermillion"], lw=1, label="t_c")
        ax.axvspan(0.75, 1, color=PALETTE["orange"], alpha=0.15, label="last quarter before t_c")
        ax.set_xlim(0, 1.3)
        ax.set_xlabel("training step / t_c (each seed its own t_c)")
    right.axhline(1, color="grey", ls="--", lw=1, label="control's maximum")
    right.set_ylim(0.8, 1.6)  # a zoom on the plateau: later the share climbs far above (the figure before)
    left.set_ylabel("test loss")
    right.set_ylabel("support share / control's max (zoom)")
    left.set_title("Loss: flat until the last quarter")
    right.set_title("Support share: above the control before the fall")
    left.legend(fontsize=8, loc="lower left")
    right.legend(fontsize=8, loc="upper left")
    return fig


def plot_fourier_gap(rows: list[dict]):
    """Closed form and Monte Carlo for the population gradient at a sign initialisation, against n."""
    fig, ax = figure()
    ns = [row["n"] for row in rows]
    for kind, colour, label in (("relevant", PALETTE["green"], "j in S: degree k-1"),
                                ("irrelevant", PALETTE["vermillion"], "j not in S: degree k+1")):
        exact = [abs(row["closed_form"][kind]) for row in rows]
        estimate = [abs(row["monte_carlo"][kind]) for row in rows]
        error = [2 * row["monte_carlo"][f"{kind}_se"] for row in rows]
        ax.plot(ns, exact, color=colour, lw=2, label=f"closed form, {label}")
        ax.errorbar(ns, estimate, yerr=error, fmt="o", color=colour, ms=4, capsize=3,
                    label=f"Monte Carlo ± 2 s.e., {label}")
    ax.set_yscale("log")
    ax.set_xlabel("n (input bits)")
    ax.set_ylabel("|E[y 1[w.x > 0] x_j]|")
    ax.set_title("The Fourier gap of the gradient at a sign initialisation")
    ax.legend(fontsize=8)
    return fig


def plot_scaling(rows: list[dict], batch_size: int):
    """Left: median t_c against n on log-log axes, one line per k, with the fitted exponent. Right: the
    samples seen before solving, B * t_c, over the statistical-query reference n^k."""
    fig, (ax, ratio_ax) = figure(2, width=10.0)
    slopes = scaling_exponents(rows)
    reference = sq_reference(rows, batch_size)
    for colour, k in zip(CYCLE, sorted({row["k"] for row in rows})):
        chosen = [row for row in rows if row["k"] == k and row["median_t_c"]]
        ns = [row["n"] for row in chosen]
        medians = [row["median_t_c"] for row in chosen]
        spread = [np.percentile([t for t in row["t_c"] if t is not None], [25, 75]) for row in chosen]
        low = [m - q[0] for m, q in zip(medians, spread)]
        high = [q[1] - m for m, q in zip(medians, spread)]
        label = f"k = {k}: t_c ~ n^{slopes[k]:.2f}" if k in slopes else f"k = {k}"
        ax.errorbar(ns, medians, yerr=[low, high], fmt="o-", color=colour, capsize=3, label=label)
        ratio_ax.plot(list(reference.get(k, {})), list(reference.get(k, {}).values()), "o-", color=colour,
                      label=f"k = {k}")
    ns = sorted({row["n"] for row in rows})
    for axis in (ax, ratio_ax):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xticks(ns, [str(n) for n in ns])
        axis.minorticks_off()
        axis.set_xlabel("n (input bits, log scale)")
    ax.set_ylabel("median t_c [steps] (bars: quartiles)")
    ax.set_title("Median time to solve against n")
    ax.legend(fontsize=8)
    ratio_ax.axhline(1.0, color="grey", ls="--", lw=1, label="B t_c = n^k")
    ratio_ax.set_ylabel("samples seen B t_c / n^k")
    ratio_ax.set_title("Against the statistical-query scale n^k")
    ratio_ax.legend(fontsize=8)
    return fig


def plot_gap_over_training(gap: dict):
    """The population loss, the Fourier gap relative to its start, and the support's share of the
    gradient, over training: every seed of the parity run (median and range) beside its control."""
    fig, axes = figure(3, width=12.0, height=3.4)
    steps = gap["steps"]
    growth = np.asarray(gap["gap"]) / np.asarray(gap["gap"])[:, :1]
    control_growth = np.asarray(gap["control_gap"]) / np.asarray(gap["control_gap"])[:, :1]
    panels = ((gap["loss"], gap["control_loss"], "population hinge loss", "The population loss"),
              (growth, control_growth, "gap / gap at step 0", "The Fourier gap, relative to step 0"),
              (gap["support_share"], gap["control_share"], "support's share of sum c^2",
               "The support's share of the gradient"))
    for ax, (parity_curves, control_curves, ylabel, title) in zip(axes, panels):
        seed_band(ax, steps, parity_curves, PALETTE["blue"], "parity labels")
        seed_band(ax, steps, control_curves, PALETTE["black"], "random labels (control)")
        for seed in gap["seeds"]:
            ax.axvline(seed["before_fall"], color=PALETTE["vermillion"], lw=0.6, alpha=0.5)
        ax.set_xlabel("training step")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
    axes[0].legend(fontsize=8, loc="lower left")
    fig.suptitle(f"(n, k) = ({gap['n']}, {gap['k']}), exact over all 2^{gap['n']} inputs; "
                 "thin red lines: each seed's last snapshot before its loss falls", fontsize=9)
    return fig


def plot_spread(crossed: dict):
    """t_c over the grid of initialisation seeds (rows) and data-order seeds (columns)."""
    fig, ax = figure(width=5.5, height=4.2)
    rows = len(set(crossed["init_seeds"]))
    grid = np.array([np.nan if t is None else t for t in crossed["t_c"]], dtype=float).reshape(rows, -1)
    image = ax.imshow(grid, cmap="viridis")
    fig.colorbar(image, ax=ax, label="t_c [steps]")
    ax.set_xlabel("data-order seed")
    ax.set_ylabel("initialisation seed")
    ax.set_title(f"t_c over init x data order, (n, k) = ({crossed['n']}, {crossed['k']})", fontsize=10)
    return fig


def plot_widths(rows: list[dict]):
    """Every seed's t_c at each width, with the median: width narrows the spread more than it moves the median."""
    fig, ax = figure()
    rng = np.random.default_rng(0)
    for row in rows:
        solved = [t for t in row["t_c"] if t is not None]
        jitter = row["width"] * np.exp(rng.uniform(-0.08, 0.08, len(solved)))
        ax.plot(jitter, solved, "o", color=PALETTE["blue"], ms=3, alpha=0.6)
    widths = [row["width"] for row in rows]
    ax.plot(widths, [row["median_t_c"] for row in rows], "s-", color=PALETTE["vermillion"], label="median")
    ax.set_xscale("log")
    ax.set_xlabel("width (hidden neurons, log scale)")
    ax.set_ylabel("t_c [steps], one dot per seed")
    for row in rows:
        if row["std_t_c"] is not None:
            ax.annotate(f"sd {row['std_t_c']:.0f}", (row["width"], max(t for t in row["t_c"] if t)),
                        textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.set_title("Wider nets: a narrower spread of t_c, a similar median")
    ax.legend(fontsize=8)
    return fig


def plot_weights(main: Result, snapshot: int = -1, ax=None, limit: float | None = None):
    """Replicate 0's first-layer weights (neurons x input bits) at a snapshot, the support's columns marked."""
    if ax is None:
        fig, ax = figure(width=7.0, height=4.0)
    weights = main.arrays["snapshots"][snapshot]
    limit = limit or float(main.arrays["snapshots"].abs().max())
    image = ax.imshow(weights, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
    support = main.arrays["supports"][0].tolist()
    ax.plot(support, [-1.5] * len(support), "v", color=PALETTE["black"], ms=6, clip_on=False,
            label="support S")
    ax.set_xlabel("input bit j")
    ax.set_ylabel("hidden neuron")
    ax.grid(False)
    step = int(main.arrays["snapshot_steps"][snapshot])
    ax.set_title(f"First-layer weights of seed {main.metrics['seeds'][0]} at step {step}")
    ax.figure.colorbar(image, ax=ax, shrink=0.85, label="weight")
    return ax.figure


EXPLORER_VERSION = 1


def explorer(main: Result, control: Result):
    """Scrub through training: the loss, the support share beside the control, and the weight matrix."""
    snapshot_steps = main.arrays["snapshot_steps"].tolist()
    snapshots = main.arrays["snapshots"]
    t_c = main.metrics["t_c"][0]

    def build() -> Explorer:
        use_style()
        fig = plt.figure(figsize=(9.5, 7.2), constrained_layout=True)
        grid = GridSpec(2, 2, figure=fig, height_ratios=[1, 1.25])
        loss_ax, share_ax = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
        weight_ax = fig.add_subplot(grid[1, :])
        plot_loss_curves(main, ax=loss_ax, cursor_step=0, highlight=0)
        plot_support_share(main, control, ax=share_ax, cursor_step=0, highlight=0)
        plot_weights(main, snapshot=0, ax=weight_ax)
        loss_ax.set_title(f"Test loss (seed {main.metrics['seeds'][0]} in bold, t_c = {t_c})")
        share_ax.set_title("Support share: seed in bold, control in grey")
        cursors = [loss_ax.lines[-1], share_ax.lines[-1]]
        image = weight_ax.images[0]

        def update(index: int) -> None:
            for cursor in cursors:
                cursor.set_xdata([snapshot_steps[index]] * 2)
            image.set_data(snapshots[index])
            weight_ax.set_title(f"First-layer weights of seed {main.metrics['seeds'][0]} at step "
                                f"{snapshot_steps[index]} (triangles: the support S)")

        return Explorer.from_updates(fig, update, list(range(len(snapshot_steps))), name="step",
                                     label=lambda i: str(snapshot_steps[i]), dpi=70,
                                     title="Scrub through training: loss, hidden progress and the weights",
                                     start=len(snapshot_steps) // 2)

    return cached_explorer(f"{NAME}-explorer", EXPLORER_VERSION, build, run=main.metrics["config"],
                           control=control.metrics["config"])


def live_widget(scale: str = "book"):
    """Controls to retrain with other settings (n, k, width, batch size, learning rate, loss)."""
    n = widgets.IntSlider(value=30, min=10, max=80, step=5, description="n (bits)")
    k = widgets.IntSlider(value=3, min=1, max=5, description="k (support)")
    width = widgets.IntSlider(value=100, min=10, max=500, step=10, description="width")
    batch = widgets.IntSlider(value=32, min=4, max=256, step=4, description="batch size")
    lr = widgets.FloatLogSlider(value=0.1, base=10, min=-2.5, max=0, description="learning rate")
    loss = widgets.Dropdown(options=LOSSES, value="hinge", description="loss")
    steps = widgets.IntSlider(value=6000, min=500, max=30000, step=500, description="max steps")

    def retrain():
        config = config_for(scale, n=n.value, k=k.value, width=width.value, batch_size=batch.value,
                            lr=lr.value, loss=loss.value, steps=steps.value, replicates=4,
                            snapshot_every=0, test_size=1024)
        main_result, control_result = run_many([config, control_config(config)])
        print(f"t_c per seed: {main_result.metrics['t_c']} (None: not solved in {config.steps} steps)")
        fig, (left, right) = figure(2, width=10, height=3.6)
        plot_loss_curves(main_result, ax=left)
        plot_support_share(main_result, control_result, ax=right)
        plt.show()

    return retrain_panel([[n, k, width], [batch, lr, loss], [steps]], retrain)
