"""Figures, explorers and live widgets of the knowable-unknowable chapter."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib
import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from companion.core.cache import Result
from companion.core.explorer import Explorer, cached_explorer
from companion.core.live import retrain_panel
from companion.core.plotting import PALETTE, figure

from .analysis import summary
from .experiment import (
    ALEATORIC,
    EPISTEMIC,
    FORMATS,
    NAME,
    SLOTS,
    VERSION,
    Config,
    World,
    build_world,
    config_for,
    world_config,
)
from .probes import run

LABEL_COLOURS = {EPISTEMIC: "#D55E00", ALEATORIC: "#0072B2"}  # vermillion and blue of the house palette


def plot_knowledge(result: Result, ax=None):
    """Each model's entropy on the first mention of a fact, against how often its entity is written about."""
    if ax is None:
        fig, ax = figure()
    k = result.metrics["knowledge_by_frequency"]
    centres = [np.sqrt(b["low"] * b["high"]) for b in k["bins"]]
    for size, colour in (("small", PALETTE["orange"]), ("large", PALETTE["blue"])):
        ax.plot(centres, [b[size] for b in k["bins"]], "o-", color=colour, lw=2, label=f"{size} model: facts")
        ax.axhline(k[f"random_{size}"], color=colour, ls="--", lw=1, label=f"{size} model: random slots")
    ax.axhline(result.metrics["config"]["min_small_entropy"], color="grey", ls=":", lw=1,
               label="threshold for 'the small model is unsure'")
    ax.set_xscale("log")
    ax.set_xlabel("documents about the entity per million (log scale)")
    ax.set_ylabel("entropy of the next value [nats]")
    ax.set_title("Facts about frequent entities are known; the large model knows many more")
    ax.legend(fontsize=7, loc="upper right")
    return ax.figure


def plot_training(models: dict[str, Result], ax=None):
    """Entropy on first-mentioned facts and on random slots over training, for both models."""
    if ax is None:
        fig, ax = figure()
    for size, colour in (("small", PALETTE["orange"]), ("large", PALETTE["blue"])):
        m = models[size].metrics
        steps = [s + 1 for s in m["step"]]
        ax.plot(steps, m["fact_entropy"], color=colour, lw=2, label=f"{size}: facts")
        ax.plot(steps, m["random_entropy"], color=colour, lw=1, ls="--", label=f"{size}: random slots")
    ax.set_xscale("log")
    ax.set_xlabel("training step + 1 (log scale)")
    ax.set_ylabel("entropy of the next value [nats]")
    ax.set_title("Training: random slots settle at once, facts are learned slowly")
    ax.legend(fontsize=8)
    return ax.figure


def plot_entropy_histograms(result: Result, ax=None):
    """The small model's entropy on the balanced test tokens, one histogram per label."""
    if ax is None:
        fig, ax = figure()
    labels, h = result.arrays["test_labels"].numpy(), result.arrays["test_entropy"].numpy()
    bins = np.linspace(result.metrics["config"]["min_small_entropy"], h.max(), 30)
    for code, name in ((EPISTEMIC, "epistemic"), (ALEATORIC, "aleatoric")):
        ax.hist(h[labels == code], bins=bins, alpha=0.55, color=LABEL_COLOURS[code], label=name)
    ax.set_xlabel("small model's entropy [nats]")
    ax.set_ylabel("tokens")
    ax.set_title(f"Entropy alone: AUC {result.metrics['entropy_baseline_auc']:.2f}")
    ax.legend(fontsize=8)
    return ax.figure


ROC_CURVES = (("probe", "linear probe", "#D55E00"), ("entropy", "small model's entropy", "#56B4E9"),
              ("transfer", "probe on format B", "#009E73"), ("in_context", "in-context test (no labels)", "#CC79A7"))
ROC_KEYS = {"probe": "probe_auc", "entropy": "entropy_baseline_auc", "transfer": "cross_domain_auc",
            "in_context": "unsupervised_auc"}


def plot_roc(result: Result, ax=None, curves=ROC_CURVES):
    """ROC curves of every way of telling epistemic from aleatoric, with their AUCs."""
    if ax is None:
        fig, ax = figure(width=4.6, height=4.2)
    for name, label, colour in curves:
        ax.plot(result.arrays[f"roc.{name}.fpr"], result.arrays[f"roc.{name}.tpr"], color=colour, lw=2,
                label=f"{label}: AUC {result.metrics[ROC_KEYS[name]]:.2f}")
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls=":")
    ax.set_xlabel("aleatoric tokens flagged (false positive rate)")
    ax.set_ylabel("epistemic tokens flagged (true positive rate)")
    ax.set_title("Telling the two kinds apart")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_aspect("equal")
    return ax.figure


# ----------------------------------------------------------------------------- explorers

EXPLORER_VERSION = 2


def _draw_document(axes, world: World, arrays: dict, index: int, min_small_entropy: float) -> None:
    """Three grids (small entropy, large entropy, probe score), one row per sentence, one cell per token."""
    tokens = arrays["examples.tokens"][index].tolist()[1:]
    labels = arrays["examples.labels"][index].numpy()
    knowable = arrays["examples.knowable"][index].numpy()
    rows = len(tokens) // 4
    unsure = (arrays["examples.small_entropy"][index].numpy() >= min_small_entropy).reshape(rows, 4)
    asked = unsure & (np.arange(4) == FORMATS["A"].index(SLOTS.index("value")))[None, :]
    panels = (("examples.small_entropy", "small model's entropy", "magma_r", 0, 5),
              ("examples.large_entropy", "large model's entropy", "magma_r", 0, 5),
              ("examples.probe", "probe: P(epistemic), unsure values", "RdBu_r", 0, 1))
    for ax, (key, title, cmap, low, high) in zip(axes, panels):
        ax.clear()
        values = arrays[key][index].numpy().reshape(rows, 4).astype(float)
        if key == "examples.probe":  # asked only where it was trained: values the small model is unsure of
            values[~asked] = np.nan
        colours = matplotlib.colormaps[cmap].with_extremes(bad="#e6e6e6")
        ax.imshow(values, cmap=colours, norm=mcolors.Normalize(low, high), aspect="auto")
        for t, token in enumerate(tokens):
            r, c = divmod(t, 4)
            shade = 0.0 if np.isnan(values[r, c]) else (values[r, c] - low) / (high - low)
            dark = not np.isnan(values[r, c]) and (shade > 0.55 if cmap == "magma_r" else abs(shade - 0.5) > 0.3)
            ax.text(c, r, world.token_name(token), ha="center", va="center", fontsize=7,
                    color="white" if dark else "black", fontweight="bold" if knowable[t] else "normal")
            if labels[t] >= 0 and not np.isnan(values[r, c]):
                ax.add_patch(Rectangle((c - 0.48, r - 0.46), 0.96, 0.92, fill=False, lw=2,
                                       ec=LABEL_COLOURS[int(labels[t])]))
        ax.set_xticks(range(4), ["class", "entity", "relation", "value"], fontsize=7)
        ax.set_yticks(range(rows), [str(r + 1) for r in range(rows)], fontsize=7)
        ax.grid(False)
        ax.set_title(title, fontsize=9)
    axes[0].set_ylabel("sentence")


def sentence_explorer(result: Result):
    """Step through held-out documents: every token coloured by the two entropies and the probe's score.

    Outlines mark the labelled tokens (vermillion epistemic, blue aleatoric); bold names are tokens the
    generator fixes (a fact's value, or the entity repeated). The probe's score is shown on the values
    the small model is unsure of, the tokens its balanced training set is made of; elsewhere (relations,
    say, which are never epistemic) it would be an extrapolation.
    """
    config = Config(**result.metrics["config"])
    world = build_world(world_config(config))
    count = len(result.arrays["examples.tokens"])

    def build() -> Explorer:
        fig, axes = figure(3, width=9.5, height=4.8)

        def update(index: int) -> None:
            _draw_document(axes, world, result.arrays, index, config.min_small_entropy)
            fig.suptitle(f"Held-out document {index + 1} of {count} (entity "
                         f"{world.token_name(int(result.arrays['examples.tokens'][index, 2]))})", fontsize=10)

        return Explorer.from_updates(
            fig, update, list(range(count)), name="document", label=lambda i: str(i + 1), dpi=75, start=0,
            title="Each token coloured by the small model's entropy, the large model's entropy and the probe "
                  "(outlines: vermillion = labelled epistemic, blue = labelled aleatoric; bold: fixed by the world)")

    return cached_explorer(f"{NAME}-sentences", EXPLORER_VERSION, build, run=config, analysis_version=VERSION)


def threshold_explorer(result: Result, count: int = 15):
    """Flag a growing share of the held-out tokens, by the probe's score or by the small model's entropy:
    the points each rule reaches on its ROC curve, and where its threshold cuts the two histograms."""
    config = Config(**result.metrics["config"])
    labels = result.arrays["test_labels"].numpy()
    direction = 1.0 if result.metrics["entropy_direction"].startswith("high") else -1.0
    rules = (("probe", result.arrays["test_probe"].numpy(), "probe: P(epistemic)"),
             ("entropy", direction * result.arrays["test_entropy"].numpy(),
              "small model's entropy [nats]" + (" (negated)" if direction < 0 else "")))
    shares = np.linspace(0.05, 0.95, count)

    def build() -> Explorer:
        fig, (roc_ax, *hist_axes) = figure(3, width=11.0, height=3.9)
        plot_roc(result, ax=roc_ax, curves=ROC_CURVES[:2])
        points, lines = [], []
        for ax, (_, scores, xlabel), (_, _, colour) in zip(hist_axes, rules, ROC_CURVES):
            points.append(roc_ax.plot([], [], "o", color=colour, ms=9, mec="black")[0])
            bins = np.linspace(scores.min(), scores.max(), 31)
            for code, label in ((EPISTEMIC, "epistemic"), (ALEATORIC, "aleatoric")):
                ax.hist(scores[labels == code], bins=bins, alpha=0.55, color=LABEL_COLOURS[code], label=label)
            lines.append(ax.axvline(0, color="black", lw=1.5))
            ax.set_xlabel(xlabel)
            ax.set_ylabel("held-out tokens")
            ax.legend(fontsize=7)

        def update(share: float) -> None:
            for ax, point, line, (name, scores, _) in zip(hist_axes, points, lines, rules):
                threshold = np.quantile(scores, 1 - share)
                flagged = scores >= threshold
                tpr, fpr = flagged[labels == EPISTEMIC].mean(), flagged[labels == ALEATORIC].mean()
                point.set_data([fpr], [tpr])
                line.set_xdata([threshold] * 2)
                ax.set_title(f"{name}: {tpr:.0%} of epistemic, {fpr:.0%} of aleatoric", fontsize=9)
            fig.suptitle(f"Flag the {share:.0%} of tokens each rule finds most epistemic", fontsize=10)

        return Explorer.from_updates(fig, update, list(shares), name="share flagged", label=lambda v: f"{v:.0%}",
                                     dpi=75, start=count // 2,
                                     title="Slide the threshold: the probe and the entropy baseline on their "
                                           "ROC curves")

    return cached_explorer(f"{NAME}-threshold", EXPLORER_VERSION, build, run=config, analysis_version=VERSION,
                           count=count)


# ----------------------------------------------------------------------------- live widget

def live_widget(scale: str = "book"):
    """Thresholds (re-labelling only, seconds) and model sizes (retraining, minutes), for readers with a kernel."""
    base = config_for(scale)
    small_entropy = widgets.FloatSlider(value=base.min_small_entropy, min=0.5, max=2.5, step=0.1,
                                        description="small H >=")
    large_entropy = widgets.FloatSlider(value=base.max_large_entropy, min=0.05, max=0.6, step=0.05,
                                        description="large H <")
    small_width = widgets.Dropdown(options=(16, 32, 64), value=base.small_width, description="small width")
    large_width = widgets.Dropdown(options=(64, 96, 128, 192), value=base.large_width, description="large width")

    def retrain():
        config = config_for(scale, min_small_entropy=small_entropy.value, max_large_entropy=large_entropy.value,
                            small_width=small_width.value, large_width=large_width.value)
        result = run(config)
        print(", ".join(f"{key} {value}" for key, value in summary(result).items()))
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), constrained_layout=True)
        plot_knowledge(result, ax=axes[0])
        plot_roc(result, ax=axes[1])
        plt.show()

    return retrain_panel([[small_entropy, large_entropy], [small_width, large_width]], retrain)
