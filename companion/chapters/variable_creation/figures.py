"""Figures, explorers and live widgets of the chapter on sparse variable creation in self-attention."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from companion.core.cache import Result
from companion.core.explorer import Explorer, cached_explorer
from companion.core.live import retrain_panel
from companion.core.plotting import PALETTE, figure

from .analysis import curves, log_fit, power_fit, predict
from .experiment import FUNCTIONS, M_GRID, MODELS, NAME, SUCCESS_ACCURACY, config_for, run
from .search import critical_m, success_rate

MODEL_LABELS = {"attention": "[CLS] attention block", "mlp": "MLP on the flattened bits"}


def plot_critical_m(report: dict):
    """m*(T) two ways. Left: attention, with each m*'s bootstrap interval over seeds, and the two laws
    fitted on the shorter contexts and carried on to the longer ones, where they are judged. Right:
    both learners on log-log axes, where growth in proportion to T has slope 1."""
    fig, (left, right) = figure(2, width=11.0, height=4.2)
    Ts, stars = np.array(report["T"]), np.array(report["critical_m"], dtype=float)
    fits = report["fits"]
    cut = fits["fitted_up_to"]
    intervals = np.array([[np.nan if v is None else v for v in ci] for ci in report["critical_m_ci"]])
    low, high = intervals[:, 0], np.where(np.isnan(intervals[:, 1]), stars, intervals[:, 1])
    colour = PALETTE["blue"]
    left.errorbar(Ts, stars, yerr=[stars - np.where(np.isnan(low), stars, low), high - stars], fmt="o",
                  color=colour, ms=6, capsize=3, label=f"{MODEL_LABELS['attention']} (95% bootstrap interval)")
    grid = np.geomspace(Ts[0], Ts[-1], 200)
    for law, style, name in (("log", "--", "a + b ln T"), ("power", ":", "c T^p")):
        line = PALETTE["black"] if law == "log" else PALETTE["orange"]
        label = f"{name}, fitted on T <= {cut} (error beyond: {fits[law]['extrapolation_error']:.0%})"
        left.plot(grid, predict(law, _early_fit(report, law), grid), ls=style, color=line, lw=1.5, label=label)
    left.axvspan(cut * 2 ** 0.5, Ts[-1] * 1.3, color="grey", alpha=0.1, lw=0)
    left.set_ylim(0, None)
    left.set_ylabel("critical sample size m*")
    left.set_title("Attention: two laws, judged beyond the fitted range (shaded)", fontsize=10)
    series = {"attention": (report["T"], report["critical_m"]),
              "mlp": (report["baseline_T"], report["baseline_critical_m"])}
    colours = {"attention": PALETTE["blue"], "mlp": PALETTE["vermillion"]}
    for model, (xs, ys) in series.items():
        points = [(T, m) for T, m in zip(xs, ys) if m is not None]
        label = MODEL_LABELS[model] + (" (best of the tuned recipes)" if model == "mlp" else "")
        right.plot(*zip(*points), "o-", color=colours[model], ms=6, label=label)
    anchor = next((m for m in report["baseline_critical_m"] if m is not None), None)
    if anchor is not None:
        right.plot(Ts, [anchor * T / Ts[0] for T in Ts], color="grey", ls=":", lw=1.2, label="proportional to T")
    right.set_yscale("log")
    right.set_title("Both learners (log-log axes)", fontsize=10)
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(Ts)
        ax.set_xticklabels([str(T) for T in Ts])
        ax.tick_params(axis="x", which="minor", bottom=False)
        ax.set_xlabel("context length T (log scale)")
        ax.legend(fontsize=7.5, loc="upper left")
    return fig


def _early_fit(report: dict, law: str) -> dict:
    """The law fitted on the contexts up to the report's `fitted_up_to`."""
    cut = report["fits"]["fitted_up_to"]
    Ts = [T for T in report["T"] if T <= cut]
    values = [m for T, m in zip(report["T"], report["critical_m"]) if T <= cut]
    return log_fit(Ts, values) if law == "log" else power_fit(Ts, values)


def plot_norms(report: dict):
    """The norms the theorem bounds, median over solved runs, against T: Adam as trained, and AdamW
    with weight decay (the bounded-norm regime)."""
    fig, axes = figure(3, width=11.0, height=3.2)
    titles = {"qk": "query-key product ||W_Q^T W_K||", "value": "value map ||W_V||",
              "position": "largest position embedding ||p_j||"}
    variants = ((report["norms"], "Adam (the chapter's runs)", PALETTE["blue"], "o-"),
                (report["weight_decay"]["norms"], f"AdamW, weight decay {report['weight_decay']['weight_decay']:g}",
                 PALETTE["green"], "s--"))
    for ax, key in zip(axes, titles):
        for table, label, colour, style in variants:
            Ts = sorted(int(T) for T in table)
            ax.plot(Ts, [table[str(T)][key] for T in Ts], style, color=colour, label=label, ms=5)
        ax.set_xscale("log", base=2)
        ax.set_xticks(report["T"])
        ax.set_xticklabels([str(T) for T in report["T"]], fontsize=7)
        ax.tick_params(axis="x", which="minor", bottom=False)
        ax.set_ylim(0, None)
        ax.set_title(titles[key], fontsize=9)
        ax.set_xlabel("context length T")
        ax.set_ylabel("norm, median over solved runs")
    axes[0].legend(fontsize=7)
    return fig


def plot_accuracy_curves(found: dict, T: int, ax=None):
    """Test accuracy against m at one T: every seed (dots) and the mean (line), for both models."""
    if ax is None:
        fig, ax = figure(width=6.0, height=3.8)
    colours = {"attention": PALETTE["blue"], "mlp": PALETTE["vermillion"]}
    for model, results in ((model, found[model][T]) for model in MODELS if T in found[model]):
        c = curves(results)
        for m, accuracies in zip(c["m"], c["accuracy"]):
            ax.plot([m] * len(accuracies), accuracies, ".", color=colours[model], alpha=0.25, ms=4)
        ax.plot(c["m"], c["mean_accuracy"], "-", color=colours[model], lw=2, label=f"{MODEL_LABELS[model]} (mean)")
        star = critical_m(results)
        if star is not None:
            ax.axvline(star, color=colours[model], ls=":", lw=1.2)
    ax.axhline(SUCCESS_ACCURACY, color="grey", ls="--", lw=1, label="success: test accuracy 0.95")
    ax.set_xscale("log")
    ax.set_xlim(8, 1.3 * max(r.metrics["config"]["m"] for model in MODELS for r in found[model].get(T, [])))
    ax.set_ylim(0.45, 1.02)
    ax.set_xlabel("training samples m (log scale; dotted: m*)")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"T = {T}")
    ax.legend(fontsize=8, loc="lower right")
    return ax.figure


def solved_example(results: list[Result]) -> tuple[Result, int] | None:
    """The cell at m* and its typical solved replicate: the one whose [CLS] attention on the support is
    the median among the replicates that succeeded there."""
    star = critical_m(results)
    cell = next((r for r in results if r.metrics["config"]["m"] == star), None)
    if cell is None:
        return None
    solved = [i for i, ok in enumerate(cell.metrics["success"]) if ok]
    masses = [cell.metrics["attention_on_support"][i] for i in solved]
    return cell, solved[int(np.argsort(masses)[len(masses) // 2])]


def plot_attention(result: Result, replicate: int, ax=None):
    """Mean [CLS] attention over positions (test inputs) for one replicate; the support in colour."""
    if ax is None:
        fig, ax = figure(width=6.0, height=3.2)
    attention = result.arrays["mean_attention"][replicate].numpy()
    T = len(attention) - 1
    support = result.metrics["supports"][replicate]
    # one filled outline for all T positions, then the support's bars, each drawn over by a line of fixed
    # width: T = 2,048 separate bars took matplotlib seconds to draw, and at that T a bar one position wide
    # is narrower than a pixel, so some of the support's bars did not show
    ax.stairs(attention[:T], np.arange(T + 1) - 0.5, fill=True, color=PALETTE["sky"])
    ax.bar(support, attention[support], color=PALETTE["vermillion"], width=1.0)
    ax.vlines(support, 0, attention[support], color=PALETTE["vermillion"], linewidth=2)
    ax.plot(support, attention[support] + 0.03 * attention[:T].max(), "v", color=PALETTE["vermillion"], ms=6)
    mass = result.metrics["attention_on_support"][replicate]
    ax.set_xlabel(f"position (the support {support} marked)")
    ax.set_ylabel("mean [CLS] attention")
    ax.set_title(f"T = {T}, m = {result.metrics['config']['m']}: {mass:.0%} on the support, "
                 f"{attention[T]:.0%} on [CLS] itself", fontsize=10)
    ax.set_xlim(-1, T)
    return ax.figure


# ----------------------------------------------------------------------------- explorer and live widget

EXPLORER_VERSION = 2


def explorer(found: dict):
    """A slider over T: accuracy against m for both models, and a solved run's [CLS] attention."""
    Ts = sorted(found["attention"])

    def draw(T: int):
        fig, (left, right) = figure(2, width=11.0, height=4.0)
        plot_accuracy_curves(found, T, ax=left)
        example = solved_example(found["attention"][T])
        if example is not None:
            plot_attention(*example, ax=right)
        return fig

    def build() -> Explorer:
        return Explorer.from_function(draw, Ts, name="T", dpi=70,
                                      title="Move T: the samples each model needs, and where [CLS] looks")

    runs = [[r.metrics["config"] for r in found[model][T]] for model in MODELS for T in Ts if T in found[model]]
    return cached_explorer(f"{NAME}-explorer", EXPLORER_VERSION, build, runs=runs)


def live_widget(scale: str = "book"):
    """Controls to train both models at one (T, m, s, function) and see where [CLS] attends."""
    T = widgets.Dropdown(options=[8, 16, 32, 64, 128, 256, 512], value=64, description="T")
    m = widgets.Dropdown(options=list(M_GRID[:12]), value=57, description="m")
    s = widgets.IntSlider(value=3, min=1, max=5, description="s")
    function = widgets.Dropdown(options=FUNCTIONS, value="and", description="function")

    def retrain():
        changes = dict(s=s.value, function=function.value)
        attention = run(config_for(scale, "attention", T.value, m.value, **changes))
        mlp = run(config_for(scale, "mlp", T.value, m.value, **changes))
        for name, result in (("attention", attention), ("MLP", mlp)):
            r = result.metrics
            print(f"{name}: {success_rate(result):.0%} of {len(r['success'])} seeds reach test accuracy "
                  f"{SUCCESS_ACCURACY} (mean {np.mean(r['test_accuracy']):.3f})")
        masses = attention.metrics["attention_on_support"]
        print(f"[CLS] attention on the support: mean {np.mean(masses):.2f} over seeds")
        plot_attention(attention, int(np.argmax(attention.metrics["test_accuracy"])))
        plt.show()

    return retrain_panel([[T, m], [s, function]], retrain)
