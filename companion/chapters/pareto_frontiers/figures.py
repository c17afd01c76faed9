"""Figures, explorers and live widgets of the chapter on Pareto frontiers in feature learning."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from companion.core.config import resolve_scale
from companion.core.explorer import Explorer
from companion.core.live import retrain_panel
from companion.core.models import PARAMETRIZATIONS
from companion.core.plotting import PALETTE, figure

from .experiment import INITIALISATIONS, SCALES, SUCCESS_ERROR, Config, run_many


def plot_heatmaps(rows: list[dict]):
    """Success rate over (m, width), dense beside sparse: the frontier is where the colour turns."""
    ms, widths = sorted({r["m"] for r in rows}), sorted({r["width"] for r in rows})
    cell = {(r["m"], r["width"], r["init"]): r for r in rows}
    fig, axes = figure(2, width=9.5, height=3.8)
    for ax, init in zip(axes, INITIALISATIONS):
        rates = np.array([[cell[(m, w, init)]["success_rate"] for m in ms] for w in widths])
        image = ax.imshow(rates, origin="lower", vmin=0, vmax=1, cmap="viridis", aspect="auto")
        for i in range(len(widths)):
            for j in range(len(ms)):
                ax.text(j, i, f"{rates[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="black" if rates[i, j] > 0.6 else "white")
        ax.set_xticks(range(len(ms)), [str(m) for m in ms])
        ax.set_yticks(range(len(widths)), [str(w) for w in widths])
        ax.set_xlabel("training samples m")
        ax.set_ylabel("width")
        ax.grid(False)
        ax.set_title(f"{init} initialisation ({rows[0]['runs']} seeds a cell)")
    fig.colorbar(image, ax=list(axes), shrink=0.85, label="success rate (test error <= 10%)")
    return fig


def plot_success_against_width(rows: list[dict], m: int, ax=None):
    """Success rate against width at one m, dense and sparse, with 95% Wilson intervals."""
    if ax is None:
        fig, ax = figure()
    for init, colour in (("dense", PALETTE["blue"]), ("sparse", PALETTE["vermillion"])):
        chosen = sorted((r for r in rows if r["m"] == m and r["init"] == init), key=lambda r: r["width"])
        widths = [r["width"] for r in chosen]
        ax.fill_between(widths, [r["ci_low"] for r in chosen], [r["ci_high"] for r in chosen],
                        color=colour, alpha=0.15, lw=0)
        ax.plot(widths, [r["success_rate"] for r in chosen], "o-", color=colour, lw=2, label=f"{init} init")
    ax.set_xscale("log")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("width (log scale)")
    ax.set_ylabel("success rate (band: 95% interval)")
    ax.set_title(f"m = {m} training samples")
    ax.legend(fontsize=8, loc="upper left")
    return ax.figure


def plot_steps_against_width(rows: list[dict]):
    """Median steps to success against width, at the largest m (where every cell succeeds)."""
    m = max(r["m"] for r in rows)
    fig, ax = figure()
    for init, colour in (("dense", PALETTE["blue"]), ("sparse", PALETTE["vermillion"])):
        chosen = sorted((r for r in rows if r["m"] == m and r["init"] == init and r["median_steps"]),
                        key=lambda r: r["width"])
        ax.plot([r["width"] for r in chosen], [r["median_steps"] for r in chosen], "o-", color=colour, lw=2,
                label=f"{init} init")
    ax.set_xscale("log")
    ax.set_xlabel("width (log scale)")
    ax.set_ylabel("median steps to success")
    ax.set_title(f"Width as parallel search (m = {m})")
    ax.legend(fontsize=8)
    return fig


def plot_frontier(frontier: dict, ms: list[int]):
    """The frontier: the m at which half the seeds succeed against width, with bootstrap intervals.

    An interval end that leaves the grid (`ms`) stops at the grid's edge, marked by an arrowhead."""
    fig, ax = figure(width=6.0, height=3.6)
    for shift, (init, colour) in zip((0.94, 1.06), (("dense", PALETTE["blue"]), ("sparse", PALETTE["vermillion"]))):
        widths = sorted(frontier[init], key=int)
        points = [(int(w) * shift, frontier[init][w]) for w in widths if frontier[init][w]["m_half"] is not None]
        ax.plot([x for x, _ in points], [p["m_half"] for _, p in points], "o-", color=colour, lw=2,
                label=f"{init} init")
        for x, p in points:
            low, high = p["ci"]
            ax.vlines(x, low if low is not None else min(ms), high if high is not None else max(ms),
                      color=colour, lw=1.5, alpha=0.6)
            if low is None:
                ax.plot(x, min(ms), "v", color=colour, ms=5)
            if high is None:
                ax.plot(x, max(ms), "^", color=colour, ms=5)
    ax.set_xscale("log")
    ax.set_xlabel("width (log scale)")
    ax.set_ylabel("m at which half the seeds succeed")
    ax.set_title("The frontier (bars: 95% bootstrap over seeds)")
    ax.legend(fontsize=8)
    return fig


def plot_lottery(table: dict):
    """Per sparsity s: success of rewound tickets, of the rewound weakest neurons and of random
    networks of the same width (left); where the tickets started, against all neurons (right)."""
    fig, (left, right) = figure(2, width=10, height=3.6)
    sparsities = sorted(table, key=int)
    x = np.arange(len(sparsities))
    kinds = (("rewound_success", "ticket, rewound", PALETTE["vermillion"]),
             ("weakest_success", "weakest, rewound", PALETTE["sky"]),
             ("random_success", "random network", PALETTE["blue"]))
    for i, (key, label, colour) in enumerate(kinds):
        rates = [table[s][key] for s in sparsities]
        left.bar(x + (i - 1) * 0.27, rates, width=0.27, color=colour, label=label)
    left.set_xticks(x, [f"s = {s}" for s in sparsities])
    left.set_ylim(0, 1.3)
    left.set_yticks([0, 0.25, 0.5, 0.75, 1])
    left.set_ylabel("success rate")
    left.set_title("Small networks retrained alone")
    left.legend(fontsize=8, loc="upper center", ncol=3)
    for i, (key, label, colour) in enumerate((("ticket_overlap", "tickets", PALETTE["vermillion"]),
                                              ("random_overlap", "all neurons", PALETTE["blue"]))):
        right.bar(x + (i - 0.5) * 0.35, [table[s][key] or 0 for s in sparsities], width=0.35, color=colour, label=label)
    right.set_xticks(x, [f"s = {s}" for s in sparsities])
    right.set_ylabel("share of S among initial inputs")
    right.set_title("Where the neurons started")
    right.legend(fontsize=8)
    return fig


EXPLORER_VERSION = 1


def explorer(rows: list[dict]):
    """A slider over m: success against width, dense and sparse."""
    ms = sorted({r["m"] for r in rows})

    def draw(m):
        fig, ax = figure(width=6.5, height=3.6)
        plot_success_against_width(rows, m, ax=ax)
        ax.set_title(f"Success against width with m = {m} training samples")
        return fig

    return Explorer.from_function(draw, ms, name="m", title="Slide through the training-set size",
                                  start=len(ms) // 2)


def live_widget(scale: str = "book"):
    """Controls to train one (n, k, s, m, width) cell, dense and sparse, for readers with a kernel.

    The "scaling" control switches between the mean-field parametrisation and nn.Linear's standard one.
    """
    n = widgets.IntSlider(value=30, min=10, max=60, step=5, description="n (bits)")
    k = widgets.IntSlider(value=3, min=1, max=5, description="k (support)")
    s = widgets.IntSlider(value=3, min=1, max=30, description="s (sparsity)")
    m = widgets.IntSlider(value=1000, min=100, max=4000, step=100, description="m (samples)")
    width = widgets.Dropdown(options=[10, 30, 100, 300, 1000], value=100, description="width")
    parametrization = widgets.Dropdown(options=PARAMETRIZATIONS, value="mean-field", description="scaling")

    def retrain():
        plan = SCALES[resolve_scale(scale)]
        configs = [Config(n=n.value, k=k.value, sparsity=s.value, m=m.value, width=width.value, init=init,
                          parametrization=parametrization.value, replicates=8, max_steps=plan["max_steps"])
                   for init in INITIALISATIONS]
        results = run_many(configs)
        fig, ax = figure()
        for config, result in zip(configs, results):
            wins = sum(step is not None for step in result.metrics["success_steps"])
            print(f"{config.init}: {wins} of {config.replicates} seeds reach test error <= 10%")
            errors = result.arrays["test_error"]
            for i in range(len(errors)):
                ax.plot(result.metrics["steps"][:errors.shape[1]], errors[i], lw=0.8,
                        color=PALETTE["blue"] if config.init == "dense" else PALETTE["vermillion"],
                        label=config.init if i == 0 else None)
        ax.axhline(SUCCESS_ERROR, color="grey", ls="--", lw=1)
        ax.set_xlabel("training step")
        ax.set_ylabel("test error (held-out samples)")
        ax.set_title(f"m = {m.value}, width {width.value}: every seed's test error")
        ax.legend(fontsize=8)
        plt.show()

    return retrain_panel([[n, k, s], [m, width, parametrization]], retrain)
