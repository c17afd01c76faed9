"""Figures, explorers and live widgets of the chapter on statistical induction heads."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle

from companion.core.cache import Result
from companion.core.explorer import Explorer, cached_explorer
from companion.core.live import retrain_panel
from companion.core.plotting import CYCLE, PALETTE, figure, seed_band, step_axis

from .analysis import halfway_step, head_rise, phase_checks
from .experiment import NAME, PRIORS, config_for, run


def plot_training(result: Result, ax=None, cursor: int | None = None, title: str | None = None):
    """KL(true || model) over training with the three strategies' levels, on a log step axis."""
    m = result.metrics
    if ax is None:
        fig, ax = figure()
    steps = [s + 1 for s in m["step"]]  # step 0 drawn at 1 on the log axis
    ax.plot(steps, m["kl_model"], color=PALETTE["black"], lw=2, label="model")
    levels = (("uniform", PALETTE["sky"]), ("unigram", PALETTE["orange"]), ("bigram", PALETTE["green"]),
              ("trigram", PALETTE["purple"]))
    for name, colour in levels:
        if name in m["baselines"]:
            ax.axhline(m["baselines"][name], color=colour, ls="--", label=f"{name} strategy")
    step_axis(ax, steps, cursor)
    ax.set_ylabel("KL(true next token || model) [nats]")
    task = {1: "unigram", 2: "bigram", 3: "trigram", 4: "4-gram"}[m["config"]["ngram"]]
    ax.set_title(title or f"Learning {task} chains in context (k={m['config']['k']}, prior={m['config']['prior']})")
    ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 0.1))
    return ax.figure


def plot_distances(result: Result, ax=None, cursor: int | None = None):
    """How far the model is from each in-context strategy: the swap marks the transition."""
    m = result.metrics
    if ax is None:
        fig, ax = figure()
    steps = [s + 1 for s in m["step"]]
    ax.plot(steps, m["kl_to_unigram"], color=PALETTE["orange"], lw=2, label="KL(unigram || model)")
    ax.plot(steps, m["kl_to_bigram"], color=PALETTE["green"], lw=2, label="KL(bigram || model)")
    if m["transition_step"] is not None:
        ax.axvline(m["transition_step"] + 1, color="grey", ls=":", label="transition")
    step_axis(ax, steps, cursor)
    ax.set_ylabel("KL(strategy || model) [nats]")
    ax.set_title("Distance to each in-context strategy")
    ax.legend(fontsize=8)
    return ax.figure


def plot_head_scores(result: Result, ax=None, cursor: int | None = None):
    """The two heads forming: previous-token attention (layer 1), induction attention (layer 2)."""
    m = result.metrics
    if ax is None:
        fig, ax = figure()
    steps = [s + 1 for s in m["step"]]
    ax.plot(steps, m["previous_token_score"], color=PALETTE["blue"], lw=2,
            label="layer 1: attention to the previous token")
    ax.plot(steps, m["induction_score"], color=PALETTE["purple"], lw=2,
            label="layer 2: attention to tokens that followed x_t")
    step_axis(ax, steps, cursor)
    ax.set_ylim(0, 1)
    ax.set_ylabel("mean attention weight")
    ax.set_title("The two heads' scores over training")
    ax.legend(fontsize=8, loc="upper left")
    return ax.figure


def plot_attention(result: Result, snapshot: int = -1, axes=None, positions: int = 24):
    """Both layers' attention on one test sequence at a snapshot, tokens on the axes.

    Layer 2's cells on keys whose previous token equals the query's token are outlined: the
    induction pattern puts its weight there.
    """
    attention = result.arrays["attention"][snapshot]  # (layers, heads, L, L)
    tokens = result.arrays["display_tokens"].tolist()[:positions]
    if axes is None:
        fig, axes = figure(attention.shape[0], width=8.5, height=4.2)
    names = ["layer 1 (previous token)", "layer 2 (induction)"]
    for layer, ax in enumerate(axes):
        pattern = attention[layer].mean(0)[:positions, :positions]
        image = ax.imshow(pattern, vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(positions), tokens, fontsize=6)
        ax.set_yticks(range(positions), tokens, fontsize=6)
        ax.set_xlabel("key position (token shown)")
        ax.set_ylabel("query position (token shown)")
        ax.grid(False)
        ax.set_title(names[layer] if layer < len(names) else f"layer {layer + 1}")
        if layer == attention.shape[0] - 1:
            for t in range(positions):
                for s in range(1, t + 1):
                    if tokens[s - 1] == tokens[t]:
                        ax.add_patch(Rectangle((s - 0.5, t - 0.5), 1, 1, fill=False, ec="white", lw=0.4))
    axes[-1].figure.colorbar(image, ax=list(axes), shrink=0.8, label="attention weight")
    step = result.metrics["step"][snapshot]
    axes[0].figure.suptitle(f"Attention on one test sequence at step {step}")
    return axes[0].figure


def plot_training_over_seeds(results: list[Result]):
    """KL(true || model) for every seed of the main run: the median as a line, the range as a band."""
    fig, ax = figure()
    m = results[0].metrics
    steps = [s + 1 for s in m["step"]]
    seed_band(ax, steps, [r.metrics["kl_model"] for r in results], PALETTE["black"],
              f"model (median of {len(results)} seeds)")
    for name, colour in (("uniform", PALETTE["sky"]), ("unigram", PALETTE["orange"]), ("bigram", PALETTE["green"])):
        ax.axhline(m["baselines"][name], color=colour, ls="--", label=f"{name} strategy")
    step_axis(ax, steps)
    ax.set_ylabel("KL(true next token || model) [nats]")
    ax.set_title("The main run over seeds (line: median; band: range)")
    ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 0.1))
    return fig


def plot_head_scores_over_seeds(results: list[Result]):
    """Both head scores for every seed of the main run (median line, range band), with each seed's steps
    at 25% and 75% of each score's rise marked below."""
    fig, ax = figure(width=8.0, height=4.2)
    steps = [s + 1 for s in results[0].metrics["step"]]
    for key, colour, label in (("previous_token_score", PALETTE["blue"], "layer 1: previous token"),
                               ("induction_score", PALETTE["purple"], "layer 2: tokens that followed x_t")):
        seed_band(ax, steps, [r.metrics[key] for r in results], colour, f"{label} (median of {len(results)} seeds)")
        for r in results:
            quarter, three_quarters = head_rise(r.metrics[key], r.metrics["step"])
            if quarter is not None:
                ax.plot([quarter + 1, three_quarters + 1], [0.02 if key == "previous_token_score" else 0.06] * 2,
                        color=colour, lw=4, alpha=0.5, solid_capstyle="butt")
    step_axis(ax, steps)
    ax.set_ylim(0, 1)
    ax.set_ylabel("mean attention weight")
    ax.set_title("The heads over seeds; bars: from 25% to 75% of each seed's rise")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def plot_prior_experiment(priors: dict[str, list[Result]]):
    """Every run of the prior experiment on the same Dirichlet test set: the loss above the bigram
    strategy's, one thin line per seed, with the level halfway from the unigram strategy to the bigram one
    and each run's halfway step."""
    fig, ax = figure(width=8.0, height=4.2)
    first = priors["dirichlet"][0].metrics
    bigram, unigram = first["baselines"]["bigram"], first["baselines"]["unigram"]
    for colour, (prior, runs) in zip(CYCLE, priors.items()):
        for i, result in enumerate(runs):
            m = result.metrics
            ax.plot(m["step"], [v - bigram for v in m["kl_model"]], color=colour, lw=1, alpha=0.8,
                    label=f"trained on {prior}" if i == 0 else None)
            halfway = halfway_step(m)
            if halfway is not None:
                ax.plot([halfway], [(unigram - bigram) / 2], "o", color=colour, ms=4)
    ax.axhline(unigram - bigram, color=PALETTE["orange"], ls="--", lw=1, label="unigram strategy")
    ax.axhline((unigram - bigram) / 2, color="grey", ls=":", lw=1, label="halfway (dots: each run)")
    ax.set_xlabel("training step")
    ax.set_ylabel("KL(true || model) − bigram strategy's [nats]")
    ax.set_title("Both priors measured on the same Dirichlet test set")
    ax.legend(fontsize=8)
    return fig


EXPLORER_VERSION = 5


def explorer(result: Result):
    """Scrub through training: the curves with a cursor, and both attention maps at that step.

    The frames are drawn once per run and kept in the result cache.
    """
    steps = result.metrics["step"]
    attention = result.arrays["attention"]
    positions = 20

    def build() -> Explorer:
        fig = figure(2, 2, width=9.5, height=7.0)[0]
        top_left, top_right, bottom_left, bottom_right = fig.axes
        plot_training(result, ax=top_left, cursor=0, title="KL(true || model) and the strategies")
        plot_head_scores(result, ax=top_right, cursor=0)
        plot_attention(result, snapshot=0, axes=[bottom_left, bottom_right], positions=positions)
        cursors = [top_left.lines[-1], top_right.lines[-1]]  # each plot draws its cursor last
        images = [bottom_left.images[0], bottom_right.images[0]]

        def update(index: int) -> None:
            for cursor in cursors:
                cursor.set_xdata([steps[index] + 1] * 2)
            for layer, image in enumerate(images):
                image.set_data(attention[index, layer].mean(0)[:positions, :positions])
            fig.suptitle(f"Attention on one test sequence at step {steps[index]}")

        return Explorer.from_updates(
            fig, update, list(range(len(steps))), name="step", label=lambda i: str(steps[i]),
            title="Scrub through training: loss, head scores and attention maps", dpi=75,
        )

    return cached_explorer(f"{NAME}-explorer", EXPLORER_VERSION, build, run=result.metrics["config"])


def live_widget(scale: str = "book"):
    """Controls to retrain with other settings (k, alpha, prior, learning rate), for readers with a kernel.

    Returns the widget; a notebook shows it when it is a cell's last expression.
    """
    k = widgets.IntSlider(value=3, min=2, max=6, description="k (states)")
    alpha = widgets.FloatLogSlider(value=1.0, base=10, min=-1, max=1, description="alpha")
    prior = widgets.Dropdown(options=PRIORS, value="dirichlet", description="prior")
    lr = widgets.FloatLogSlider(value=2e-3, base=10, min=-3.5, max=-2, description="learning rate")
    steps = widgets.IntSlider(value=1000, min=200, max=4000, step=200, description="steps")

    def retrain():
        config = config_for(scale, k=k.value, alpha=alpha.value, prior=prior.value, lr=lr.value, steps=steps.value)
        result = run(config)
        checks = phase_checks(result.metrics)
        print(f"transition step: {result.metrics['transition_step']}, final gap to bigram: "
              f"{checks['final_gap_to_bigram']:.3f} nats")
        plot_training(result)
        plt.show()

    return retrain_panel([[k, alpha, prior], [lr, steps]], retrain)
