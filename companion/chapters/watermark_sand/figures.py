"""Figures, explorers and live widgets of the chapter on watermarks in the sand."""

from __future__ import annotations

import dataclasses

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch

from companion.core.cache import Result
from companion.core.explorer import Explorer, cached_explorer
from companion.core.live import retrain_panel
from companion.core.plotting import PALETTE, figure
from companion.core.runtime import reproducibility_card as card
from companion.core.stats import mean_interval

from .analysis import fresh_sample_kept, per_prompt
from .corpus import NAME, VERSION, vocabulary
from .experiment import SCALES, config_for, run
from .watermarks import SCHEMES, Watermark, green_lists

SCHEME_COLOURS = {"kgw": "blue", "unigram": "green", "exp": "purple"}
SHORT_LABELS = {"kgw": "KGW (previous-token green list)", "unigram": "Unigram (fixed green list)",
                "exp": "EXP (exponential minimum)"}
SCORE_LABELS = {"kgw": "z-score", "unigram": "z-score (distinct tokens)",
                "exp": "-log10 p-value (at most 2: 99 reorderings)"}


def plot_detection(result: Result, attacker: int = 0):
    """Per scheme: the detection score of every unwatermarked text, watermarked text, text after the
    walk (by the attacker with index `attacker`) and after the blind walk, with the threshold."""
    fig, axes = figure(3, width=12.0, height=3.6)
    name = result.metrics["attackers"][attacker]
    groups = ("unwatermarked", "watermarked", "after the walk", "after a blind walk")
    for ax, scheme in zip(axes, SCHEMES):
        m = result.metrics["schemes"][scheme]
        values = [m["scores_unwatermarked"], m["scores_watermarked"], m["attackers"][name]["walk"]["scores"],
                  m["blind"]["scores"]]
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


def plot_traces(result: Result, schemes: tuple[str, ...] = SCHEMES, attacker: int = 0):
    """The detection score of every watermarked text along the walk (thin) and the median (thick)."""
    fig, axes = figure(len(schemes), width=4.0 * len(schemes), height=3.4, squeeze=False)
    axes = axes[0]
    steps = result.metrics["checkpoints"]
    name = result.metrics["attackers"][attacker]
    for ax, scheme in zip(axes, schemes):
        m = result.metrics["schemes"][scheme]
        trace = np.array(m["attackers"][name]["walk"]["score_trace"])
        colour = PALETTE[SCHEME_COLOURS[scheme]]
        ax.plot(steps, trace, color=colour, alpha=0.15, lw=0.8)
        ax.plot(steps, np.median(trace, 1), color=colour, lw=2.5, label="median over texts")
        ax.axhline(m["score_threshold"], color=PALETTE["vermillion"], ls="--", lw=1.2, label="threshold")
        ax.set_xlabel("walk step")
        ax.set_ylabel(SCORE_LABELS[scheme])
        ax.set_title(SHORT_LABELS[scheme], fontsize=10)
    axes[0].legend(fontsize=8, loc="upper right")
    return fig


def _interval(values) -> tuple[float, float]:
    interval = mean_interval(values)
    low, high = interval["ci"]
    return interval["mean"], (interval["mean"] - low if low is not None else 0.0)


def plot_walk_against_regeneration(result: Result):
    """Per attacker, placed by its held-out loss: the share of texts erased with the quality kept by the
    walk and by regeneration (left, averaged over the schemes per prompt, 95% intervals over prompts;
    dotted: the blind walk; dashed: a fresh unwatermarked sample from the generator, the criterion's
    ceiling), and the discriminator's AUC (right; grey band: its AUCs between two unwatermarked samples;
    dashed: the watermarked texts before any attack)."""
    fig, (left, right) = figure(2, width=11.5, height=3.9)
    m = result.metrics
    losses = [a["loss"] for a in m["models"]["attackers"]]
    order = np.argsort(losses)
    x = np.array(losses)[order]
    names = [m["attackers"][i] for i in order]
    for kind, colour, marker in (("walk", PALETTE["blue"], "o-"), ("regeneration", PALETTE["orange"], "s--")):
        kept = [_interval(per_prompt([m["schemes"][s]["attackers"][n][kind]["erased_quality_kept_per_text"]
                                      for s in SCHEMES])) for n in names]
        left.errorbar(x, [k[0] for k in kept], yerr=[k[1] for k in kept], fmt=marker, color=colour, capsize=3,
                      label=kind)
        auc = [np.mean([m["schemes"][s]["attackers"][n][kind]["discriminator_auc"] for s in SCHEMES]) for n in names]
        right.plot(x, auc, marker, color=colour, label=kind)
    blind = per_prompt([m["schemes"][s]["blind"]["erased_quality_kept_per_text"] for s in SCHEMES])
    left.axhline(blind.mean(), color=PALETTE["black"], ls=":", lw=1.2, label="blind walk")
    left.axhline(fresh_sample_kept(result)["mean"], color=PALETTE["green"], ls="--", lw=1.2,
                 label="fresh sample from the generator")
    right.axhspan(min(m["discriminator_null"]), max(m["discriminator_null"]), color="0.85",
                  label="two unwatermarked samples")
    right.axhline(np.mean([m["schemes"][s]["watermarked"]["discriminator_auc"] for s in SCHEMES]),
                  color=PALETTE["vermillion"], ls="--", lw=1.2, label="watermarked, not attacked")
    for ax in (left, right):
        ax.axvline(m["models"]["generator_loss"], color=PALETTE["green"], lw=1)
        ax.set_xlabel("attacker's held-out NLL per token (weaker to the right; green: the generator's)")
    left.set(ylabel="texts erased, quality kept", ylim=(-0.03, 1.03))
    right.set(ylabel="discriminator AUC (0.5: indistinguishable)", ylim=(0.2, 1.03))
    left.set_title("Erased with the quality kept (all three schemes)", fontsize=10)
    right.set_title("Can a classifier tell the texts apart?", fontsize=10)
    left.legend(fontsize=7, loc="upper right")
    right.legend(fontsize=7, loc="lower right")
    return fig


def plot_quality(result: Result, attacker: int = 0):
    """The judge's NLL per token of each group of texts minus that of the unwatermarked continuations of
    the same prompts (0: as good as unwatermarked text; positive: worse), with 95% intervals."""
    fig, ax = figure(width=8.0, height=3.6)
    name = result.metrics["attackers"][attacker]
    groups = {"watermarked": lambda m: m["watermarked"], "after the walk": lambda m: m["attackers"][name]["walk"],
              "regenerated": lambda m: m["attackers"][name]["regeneration"], "blind walk": lambda m: m["blind"]}
    width = 0.25
    for i, scheme in enumerate(SCHEMES):
        m = result.metrics["schemes"][scheme]
        means = [get(m)["delta_nll"] for get in groups.values()]
        errors = [[mean - get(m)["delta_nll_ci"][0] for mean, get in zip(means, groups.values())],
                  [get(m)["delta_nll_ci"][1] - mean for mean, get in zip(means, groups.values())]]
        ax.bar(np.arange(len(groups)) + (i - 1) * width, means, width, yerr=errors, capsize=3,
               color=PALETTE[SCHEME_COLOURS[scheme]], label=SHORT_LABELS[scheme])
    ax.axhline(0, color=PALETTE["black"], lw=1)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    ax.set_ylabel("judge's NLL minus unwatermarked (nats)")
    ax.set_title(f"Quality against the same prompts' unwatermarked texts (attacker: {name}; 95% intervals)",
                 fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    return fig


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
    m = result.metrics["schemes"][scheme]["attackers"][result.metrics["attackers"][0]]["walk"]
    threshold = result.metrics["schemes"][scheme]["score_threshold"]

    def draw(k: int):
        fig, axes = figure(1, 2, width=11.0, height=5.2, gridspec_kw={"height_ratios": [0.8, 1]})
        text = walk[k]
        changed = [False] * prompt_length + (text[prompt_length:] != walk[0][prompt_length:]).tolist()
        words = [token.replace("$", "\\$") for token in vocab.decode(text)]
        draw_text(axes[0], words, token_colours(watermark, text, prompt_length), changed)
        score = m["score_trace"][k][text_index]
        axes[0].set_title(f"step {steps[k]}: {sum(changed)} of {len(changed) - prompt_length} tokens changed, "
                          f"z = {score:.2f} (threshold {threshold:.0f}); green tokens in green, "
                          "others in red, prompt in grey", fontsize=9)
        trace = np.array(m["score_trace"])
        axes[1].plot(steps, trace, color=PALETTE[SCHEME_COLOURS[scheme]], alpha=0.15, lw=0.8)
        axes[1].plot(steps, trace[:, text_index], color="black", lw=2, label="this text")
        axes[1].axhline(threshold, color=PALETTE["vermillion"], ls="--", lw=1.2, label="threshold")
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


EXPLORER_VERSION = 2


def reproducibility_card(result: Result) -> dict:
    return card(NAME, VERSION, result, models=result.metrics["models"],
                full_scale={key: (dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value)
                            for key, value in SCALES["full"].items()})


def live_widget(scale: str = "test"):
    """Controls to rerun the experiment with another scheme setting, span, fill temperature and tolerance."""
    gamma = widgets.FloatSlider(value=0.25, min=0.05, max=0.75, step=0.05, description="gamma")
    delta = widgets.FloatSlider(value=2.0, min=0.5, max=5.0, step=0.5, description="delta")
    span = widgets.IntSlider(value=3, min=1, max=8, description="span")
    temperature = widgets.FloatSlider(value=1.0, min=0.5, max=2.0, step=0.1, description="temperature")
    tolerance = widgets.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05, description="tolerance")
    scheme = widgets.Dropdown(options=SCHEMES, value="kgw", description="scheme")

    def retrain():
        base = config_for(scale)
        walk = dataclasses.replace(base.walk, span=span.value, temperature=temperature.value,
                                   tolerance=tolerance.value)
        blind_walk = dataclasses.replace(base.blind_walk, span=span.value, tolerance=tolerance.value)
        result = run(dataclasses.replace(base, gamma=gamma.value, delta=delta.value, walk=walk, blind_walk=blind_walk))
        m = result.metrics["schemes"][scheme.value]
        print(f"{SHORT_LABELS[scheme.value]}: detected {m['detect_rate']:.0%}, false positives "
              f"{m['false_positive_rate']:.0%}")
        for name, a in m["attackers"].items():
            print(f"  attacker {name}: the walk accepted {a['acceptance_rate']:.0%} of its steps and erased "
                  f"{a['walk']['erased']:.0%} ({a['walk']['erased_quality_kept']:.0%} with the quality kept); "
                  f"regenerating erased {a['regeneration']['erased_quality_kept']:.0%} with the quality kept")
        plot_walk_against_regeneration(result)
        plt.show()

    return retrain_panel([[scheme, gamma, delta], [span, temperature, tolerance]], retrain)
