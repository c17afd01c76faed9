"""Figures, explorers and live widgets of the chapter on watermarks in the sand."""

from __future__ import annotations

import dataclasses
import math

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch

from companion.core.cache import Result
from companion.core.explorer import Explorer, cached_explorer
from companion.core.live import retrain_panel
from companion.core.plotting import PALETTE, figure
from companion.core.runtime import reproducibility_card as card

from .experiment import (
    NAME,
    PERTURBATIONS,
    SCALES,
    SCHEMES,
    VERSION,
    Watermark,
    config_for,
    green_lists,
    run,
    vocabulary,
)


def plot_tolerance_sweep(result: Result):
    """The blind walk against the quality oracle's tolerance: erasure (left) and what it costs (right)."""
    fig, (left, right) = figure(2, width=11.0, height=3.8)
    sweep = result.metrics["tolerance_sweep"]
    for scheme in SCHEMES:
        colour = PALETTE[SCHEME_COLOURS[scheme]]
        left.plot(sweep["tolerance"], sweep["success_rate"][scheme], "o-", color=colour, label=SHORT_LABELS[scheme])
        right.plot(sweep["tolerance"], sweep["quality_after"][scheme], "o-", color=colour, label=SHORT_LABELS[scheme])
        right.axhline(result.metrics["schemes"][scheme]["quality_before"], color=colour, ls=":", lw=1)
    left.set_ylabel("texts under the threshold")
    left.set_ylim(-0.03, 1.03)
    right.set_ylabel("judge's NLL per token after the walk")
    for ax in (left, right):
        ax.set_xlabel("quality tolerance (nats per token)")
        ax.set_xticks(sweep["tolerance"])
    left.set_title("The blind walk erases more as the oracle grows lenient", fontsize=10)
    right.set_title("and then the text gets worse (dotted: before the walk)", fontsize=10)
    left.legend(fontsize=8, loc="upper left")
    return fig


SCHEME_COLOURS = {"kgw": "blue", "unigram": "green", "exp": "purple"}
SHORT_LABELS = {"kgw": "KGW (previous-token green list)", "unigram": "Unigram (fixed green list)",
                "exp": "EXP (exponential minimum)"}
SCORE_LABELS = {"kgw": "z-score", "unigram": "z-score", "exp": "-log10 p-value (at most 2: 99 reorderings)"}


def plot_detection(result: Result):
    """Per scheme: the detection score of every plain text, watermarked text, attacked text and weakly
    attacked text, with the threshold."""
    fig, axes = figure(3, width=12.0, height=3.6)
    groups = ("unwatermarked", "watermarked", "after the walk", "after a blind walk")
    for ax, scheme in zip(axes, SCHEMES):
        m = result.metrics["schemes"][scheme]
        trace = np.array(m["score_trace"])
        values = [m["scores_unwatermarked"], trace[0], trace[-1], m["scores_weak_after"]]
        rng = np.random.default_rng(0)
        for i, ys in enumerate(values):
            colour = PALETTE["black"] if i == 0 else PALETTE[SCHEME_COLOURS[scheme]]
            ax.plot(i + rng.uniform(-0.15, 0.15, len(ys)), ys, "o", ms=3.5, alpha=0.6, color=colour)
            ax.plot([i - 0.25, i + 0.25], [np.median(ys)] * 2, color=colour, lw=2)
        ax.axhline(m["score_threshold"], color=PALETTE["vermillion"], ls="--", lw=1.2, label="detection threshold")
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels(groups, rotation=20, fontsize=8)
        ax.set_ylabel(SCORE_LABELS[scheme])
        ax.set_title(SHORT_LABELS[scheme], fontsize=10)
    axes[0].legend(fontsize=8, loc="upper right")
    return fig


def plot_traces(result: Result, schemes: tuple[str, ...] = SCHEMES):
    """The detection score of every watermarked text along the walk (thin) and the median (thick)."""
    fig, axes = figure(len(schemes), width=4.0 * len(schemes), height=3.4, squeeze=False)
    axes = axes[0]
    steps = result.metrics["checkpoints"]
    for ax, scheme in zip(axes, schemes):
        m = result.metrics["schemes"][scheme]
        trace = np.array(m["score_trace"])
        colour = PALETTE[SCHEME_COLOURS[scheme]]
        ax.plot(steps, trace, color=colour, alpha=0.15, lw=0.8)
        ax.plot(steps, np.median(trace, 1), color=colour, lw=2.5, label="median over texts")
        ax.axhline(m["score_threshold"], color=PALETTE["vermillion"], ls="--", lw=1.2, label="threshold")
        ax.set_xlabel("walk step")
        ax.set_ylabel(SCORE_LABELS[scheme])
        ax.set_title(SHORT_LABELS[scheme], fontsize=10)
    axes[0].legend(fontsize=8, loc="upper right")
    return fig


def plot_quality(result: Result, ax=None):
    """The judge's negative log-likelihood per token (lower is better) of each group of texts."""
    if ax is None:
        fig, ax = figure(width=7.5, height=3.6)
    groups = ("unwatermarked", "watermarked", "attacked", "weakly attacked")
    width = 0.25
    for i, scheme in enumerate(SCHEMES):
        nll = result.metrics["schemes"][scheme]["judge_nll"]
        means = [np.mean(nll[g]) for g in groups]
        errors = [1.96 * np.std(nll[g]) / math.sqrt(len(nll[g])) for g in groups]
        ax.bar(np.arange(len(groups)) + (i - 1) * width, means, width, yerr=errors, capsize=3,
               color=PALETTE[SCHEME_COLOURS[scheme]], label=SHORT_LABELS[scheme])
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    ax.set_ylabel("judge's NLL per token (nats)")
    lowest = min(np.mean(result.metrics["schemes"][s]["judge_nll"][g]) for s in SCHEMES for g in groups)
    ax.set_ylim(lowest - 0.5, None)  # the differences matter, not the distance from zero
    ax.set_title("Quality by a model the attack never used (95% intervals)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    return ax.figure


def token_colours(watermark: Watermark, text: torch.Tensor, prompt_length: int) -> list[str]:
    """Per token of a green-list scheme's text: "prompt", or "green" / "red" by the list in force there."""
    tokens = text.tolist()
    labels = ["prompt"] * prompt_length
    if watermark.scheme == "exp":
        raise ValueError("token colours are defined for the green-list schemes only")
    green = green_lists(watermark)
    for t in range(prompt_length, len(tokens)):
        labels.append("green" if bool(green[tokens[t - 1], tokens[t]]) else "red")
    return labels


def draw_text(ax, words: list[str], colours: list[str], changed: list[bool], fontsize: float = 9) -> None:
    """Words laid out in a monospace block: coloured by `colours`, changed words underlined in black.
    One axis unit is one character (a monospace character is about 0.6 em wide)."""
    palette = {"prompt": "#777777", "green": PALETTE["green"], "red": PALETTE["vermillion"]}
    width = int(ax.figure.get_figwidth() * ax.get_position().width * 72 / (0.6 * fontsize)) - 1
    ax.set_axis_off()
    ax.set_xlim(0, width)
    column, line = 0, 0
    placed = []
    for word, colour, was_changed in zip(words, colours, changed):
        if column + len(word) > width:
            column, line = 0, line + 1
        placed.append((column, line, word, colour, was_changed))
        column += len(word) + 1
    ax.set_ylim(max(line + 1, 6) + 0.2, -0.7)
    for column, line, word, colour, was_changed in placed:
        ax.text(column, line, word, family="monospace", fontsize=fontsize, color=palette[colour], va="center",
                fontweight="bold" if colour != "prompt" else "normal")
        if was_changed:
            ax.plot([column, column + len(word)], [line + 0.32] * 2, color="black", lw=1.2)


def explorer(result: Result, scheme: str = "kgw", text_index: int = 0):
    """Step through one text's walk: its tokens (green or red, changed ones underlined) and the score
    traces of all texts with a cursor."""
    config = result.metrics["config"]
    prompt_length = config["prompt_length"]
    watermark = Watermark(scheme=scheme, gamma=config["gamma"], delta=config["delta"], key=15485863 + config["seed"],
                          vocab_size=config["generator"]["vocab_size"])
    walk = result.arrays[f"{scheme}_walk"][:, text_index]
    vocab = vocabulary(config["generator"]["vocab_size"])
    steps = result.metrics["checkpoints"]
    m = result.metrics["schemes"][scheme]

    def draw(k: int):
        fig, axes = figure(1, 2, width=11.0, height=5.2, gridspec_kw={"height_ratios": [0.8, 1]})
        text = walk[k]
        changed = [False] * prompt_length + (text[prompt_length:] != walk[0][prompt_length:]).tolist()
        words = [token.replace("$", "\\$") for token in vocab.decode(text)]
        draw_text(axes[0], words, token_colours(watermark, text, prompt_length), changed)
        score = m["score_trace"][k][text_index]
        axes[0].set_title(f"step {steps[k]}: {sum(changed)} of {len(changed) - prompt_length} tokens changed, "
                          f"z = {score:.2f} (threshold {m['score_threshold']:.0f}); green tokens in green, "
                          "others in red, prompt in grey", fontsize=9)
        trace = np.array(m["score_trace"])
        axes[1].plot(steps, trace, color=PALETTE[SCHEME_COLOURS[scheme]], alpha=0.15, lw=0.8)
        axes[1].plot(steps, trace[:, text_index], color="black", lw=2, label="this text")
        axes[1].axhline(m["score_threshold"], color=PALETTE["vermillion"], ls="--", lw=1.2, label="threshold")
        axes[1].axvline(steps[k], color="black", lw=1)
        axes[1].set_xlabel("walk step")
        axes[1].set_ylabel(SCORE_LABELS[scheme])
        axes[1].legend(fontsize=8, loc="upper right")
        return fig

    def build() -> Explorer:
        return Explorer.from_function(draw, list(range(len(steps))), name="checkpoint", dpi=70,
                                      title="Move through the walk: the text and the detector's score")

    return cached_explorer(f"{NAME}-explorer", EXPLORER_VERSION, build, run=result.metrics["config"], scheme=scheme,
                           text_index=text_index)


EXPLORER_VERSION = 1


def reproducibility_card(result: Result) -> dict:
    return card(NAME, VERSION, result, model_losses=result.metrics["model_losses"],
                full_scale={key: (dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value)
                            for key, value in SCALES["full"].items()})


def live_widget(scale: str = "test"):
    """Controls to rerun the experiment with another scheme setting, span and tolerance."""
    gamma = widgets.FloatSlider(value=0.25, min=0.05, max=0.75, step=0.05, description="gamma")
    delta = widgets.FloatSlider(value=2.0, min=0.5, max=5.0, step=0.5, description="delta")
    span = widgets.IntSlider(value=3, min=1, max=8, description="span")
    tolerance = widgets.FloatSlider(value=0.1, min=0.0, max=1.0, step=0.05, description="tolerance")
    perturbation = widgets.Dropdown(options=PERTURBATIONS, value="both-sides", description="perturbation")
    scheme = widgets.Dropdown(options=SCHEMES, value="kgw", description="scheme")

    def retrain():
        base = config_for(scale)
        attack = dataclasses.replace(base.attack, span=span.value, tolerance=tolerance.value,
                                     perturbation=perturbation.value)
        result = run(dataclasses.replace(base, gamma=gamma.value, delta=delta.value, attack=attack))
        m = result.metrics["schemes"][scheme.value]
        print(f"{SHORT_LABELS[scheme.value]}: detected {m['detect_rate']:.0%}, false positives "
              f"{m['false_positive_rate']:.0%}, erased by the walk {m['attack_success_rate']:.0%}, judge NLL "
              f"{m['quality_before']:.2f} -> {m['quality_after']:.2f}")
        plot_traces(result, schemes=(scheme.value,))
        plt.show()

    return retrain_panel([[scheme, gamma, delta], [span, tolerance, perturbation]], retrain)
