"""Figures, explorers and live widgets of the chapter on feature emergence via margin maximisation."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.gridspec import GridSpec

from companion.core.cache import Result
from companion.core.explorer import Explorer, cached_explorer
from companion.core.live import retrain_panel
from companion.core.plotting import CYCLE, PALETTE, figure, step_axis, use_style

from .experiment import (
    FEATURE_SHARE,
    GROUP_DEGREES,
    NAME,
    config_for,
    dominant_frequencies,
    irrep_shares,
    isotypic_components,
    neuron_norms,
    neuron_spectra,
    phase_errors,
    run,
    weights_at,
)


def plot_story(result: Result, ax=None, cursor: int | None = None, title: str | None = None):
    """Margin (as a share of the theory's maximum), the feature share and accuracy over training."""
    m = result.metrics
    if ax is None:
        fig, ax = figure()
    steps = [s + 1 for s in m["step"]]
    share_label = {"frac_single_freq": "neurons with one frequency", "frac_norm_on_support": "weight on the support",
                   "frac_single_irrep": "neurons in one representation"}[FEATURE_SHARE[m["config"]["task"]]]
    if m["margin_theory"]:
        ax.plot(steps, [v / m["margin_theory"] for v in m["margin"]], color=PALETTE["black"], lw=2,
                label="normalised margin / theory's maximum")
        ax.axhline(1, color=PALETTE["black"], ls=":", lw=1)
    ax.plot(steps, m["feature_share"], color=PALETTE["blue"], lw=2, label=share_label)
    ax.plot(steps, m["accuracy"], color=PALETTE["orange"], lw=1.5, ls="--", label="training accuracy")
    step_axis(ax, steps, cursor)
    ax.set_ylim(-0.05, 1.1)
    ax.set_ylabel("share")
    config = m["config"]
    ax.set_title(title or f"{config['task']}, {config['activation']}, width {config['width']}")
    ax.legend(fontsize=8, loc="upper left")
    return ax.figure


def neuron_order(weights: dict, p: int) -> torch.Tensor:
    """Neurons sorted by dominant frequency, strongest first within a frequency."""
    spectra = neuron_spectra(weights, p)
    frequencies, top = dominant_frequencies(spectra), spectra[:, 1:].max(1).values
    return torch.from_numpy(np.lexsort((-top.numpy(), frequencies.numpy())))


def plot_spectra(weights: dict, p: int, ax=None, order: torch.Tensor | None = None, title: str = ""):
    """Every neuron's power per frequency (rows: neurons, sorted by dominant frequency)."""
    if ax is None:
        fig, ax = figure(width=5.0, height=4.5)
    spectra = neuron_spectra(weights, p)
    order = neuron_order(weights, p) if order is None else order
    image = ax.imshow(spectra[order].numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1,
                      interpolation="nearest", extent=(-0.5, spectra.shape[1] - 0.5, len(order) - 0.5, -0.5))
    ax.set_xlabel("frequency j (0 = constant)")
    ax.set_ylabel("neuron (sorted by dominant frequency)")
    ax.set_xticks(range(0, spectra.shape[1], 2 if spectra.shape[1] <= 16 else 5))
    ax.grid(False)
    ax.set_title(title or "share of each neuron's power per frequency")
    ax.figure.colorbar(image, ax=ax, label="share of power")
    return ax.figure


def plot_frequency_use(result: Result, ax=None):
    if ax is None:
        fig, ax = figure(width=5.0, height=3.2)
    counts = result.metrics["features"]["neurons_per_freq"]
    ax.bar(range(1, len(counts) + 1), counts, color=PALETTE["blue"])
    ax.set_xlabel("frequency j")
    ax.set_ylabel("neurons with > 90% power at j")
    ax.set_xticks(range(1, len(counts) + 1))
    ax.set_title("Every frequency is used")
    return ax.figure


def _cosine_fit(vector: torch.Tensor, frequency: int, grid: np.ndarray) -> np.ndarray:
    p = len(vector)
    coefficient = torch.fft.rfft(vector.double())[frequency]
    amplitude, phase = 2 * coefficient.abs().item() / p, coefficient.angle().item()
    return vector.double().mean().item() + amplitude * np.cos(2 * np.pi * frequency * grid / p + phase)


def plot_neuron(weights: dict, p: int, neuron: int, axes=None):
    """One neuron's u, v (input weights on a and b) and w (output weights on c) with fitted cosines."""
    if axes is None:
        fig, axes = figure(nrows=3, width=5.0, height=5.0, sharex=True)
    frequency = int(dominant_frequencies(neuron_spectra(weights, p))[neuron])
    vectors = {"u (input a)": weights["in"][neuron, :p], "v (input b)": weights["in"][neuron, p:],
               "w (output c)": weights["out"][neuron]}
    grid = np.linspace(0, p - 1, 300)
    colours = (PALETTE["blue"], PALETTE["green"], PALETTE["vermillion"])
    for ax, (label, vector), colour in zip(axes, vectors.items(), colours):
        phase = torch.fft.rfft(vector.double())[frequency].angle().item()
        ax.plot(grid, _cosine_fit(vector, frequency, grid), color=colour, lw=1.5)
        ax.plot(range(p), vector.numpy(), "o", color=colour, ms=3.5)
        ax.set_ylabel(label)
        ax.set_title(f"cosine at j = {frequency}, phase {phase:+.2f}", fontsize=9, loc="right")
    axes[-1].set_xlabel("element (a, b or c)")
    return axes[0].figure


def plot_phase_errors(networks: dict[str, dict], p: int, ax=None):
    """theta_u + theta_v - theta_w over neurons, for each labelled set of weights: the theory puts all at 0."""
    if ax is None:
        fig, ax = figure(width=5.5, height=3.2)
    bins = np.linspace(-np.pi, np.pi, 36)  # 35 bins, one centred on 0
    for colour, (label, weights) in zip(CYCLE, networks.items()):
        ax.hist(phase_errors(weights, p).numpy(), bins=bins, color=colour, histtype="step", lw=2, label=label)
    ax.set_xlabel("theta_u + theta_v - theta_w (radians, wrapped)")
    ax.set_ylabel("neurons")
    ax.set_title("The phase relation, neuron by neuron")
    ax.legend(fontsize=8, loc="upper left")
    return ax.figure


def plot_parity_weights(result: Result, axes=None):
    """Input weights (neurons by bits, support marked) and output weights (against the [1, -1] line)."""
    if axes is None:
        fig, axes = figure(2, width=9.0, height=3.6)
    weights, support = weights_at(result), result.arrays["support"]
    left, right = axes
    order = torch.argsort(neuron_norms(weights), descending=True)
    scale = weights["in"].abs().max().item()
    image = left.imshow(weights["in"][order].numpy(), aspect="auto", cmap="RdBu_r", vmin=-scale, vmax=scale,
                        interpolation="nearest")
    left.set_xticks(range(weights["in"].shape[1]))
    left.set_xticklabels([f"{i}*" if i in support.tolist() else str(i) for i in range(weights["in"].shape[1])])
    left.set_xlabel("input bit (* : in the support)")
    left.set_ylabel("neuron (by norm)")
    left.grid(False)
    left.set_title("input weights")
    left.figure.colorbar(image, ax=left)
    out = weights["out"].numpy()
    right.scatter(out[:, 0], out[:, 1], s=14, color=PALETTE["blue"])
    limit = np.abs(out).max() * 1.1
    right.plot([-limit, limit], [limit, -limit], color="grey", ls=":", lw=1, label="the line y = -x")
    right.set_xlim(-limit, limit)
    right.set_ylim(-limit, limit)
    right.set_aspect("equal")
    right.set_xlabel("output weight, class parity +1")
    right.set_ylabel("output weight, class parity -1")
    right.set_title("output weights")
    right.legend(fontsize=8)
    return left.figure


def plot_irrep_shares(result: Result, ax=None):
    """Each neuron's weight energy per isotypic component (columns), neurons grouped by their component."""
    if ax is None:
        fig, ax = figure(width=4.5, height=4.0)
    degree = GROUP_DEGREES[result.metrics["config"]["task"]]
    shares = irrep_shares(weights_at(result), degree)
    order = torch.from_numpy(np.lexsort((-shares.max(1).values.numpy(), shares.argmax(1).numpy())))
    image = ax.imshow(shares[order].numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    components = isotypic_components(degree)
    names, count = [], {}
    for c in components:
        count[c["dimension"]] = count.get(c["dimension"], 0) + 1
        if c["trivial"]:
            names.append("trivial")
        elif c["dimension"] == 1:
            names.append("sign")
        else:
            names.append(f"d={c['dimension']}" + "'" * (count[c["dimension"]] - 1))
    ax.set_xticks(range(len(components)))
    ax.set_xticklabels(names)
    ax.set_xlabel("isotypic component (d: dimension of the representation)")
    ax.set_ylabel("neuron")
    ax.grid(False)
    ax.set_title(f"S{degree}: share of each neuron's weight energy")
    ax.figure.colorbar(image, ax=ax, label="share")
    return ax.figure


def plot_penalty_sweep(results: list[Result], ax=None):
    """Final margin as a share of the theory's maximum against the penalty lambda."""
    if ax is None:
        fig, ax = figure(width=5.0, height=3.2)
    penalties = [r.metrics["config"]["regularisation"] for r in results]
    ratios = [r.metrics["margin_ratio"] for r in results]
    ax.plot(penalties, ratios, "o-", color=PALETTE["blue"], lw=2)
    ax.axhline(1, color=PALETTE["black"], ls=":", lw=1, label="theory's maximum")
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_xlabel("penalty lambda (log scale, shrinking to the right)")
    ax.set_ylabel("margin / theory's maximum")
    task = results[0].metrics["config"]["task"]
    ax.set_title(f"{task}: the margin climbs as the penalty shrinks")
    ax.legend(fontsize=8)
    return ax.figure


# ----------------------------------------------------------------------------- explorer and live widget

EXPLORER_VERSION = 1


def explorer(result: Result, neuron: int | None = None):
    """Scrub through training on modular addition: every neuron's spectrum, one neuron's u, v, w with
    fitted cosines, and the margin and feature curves with a cursor."""
    m = result.metrics
    p, steps = m["config"]["p"], m["step"]
    final = weights_at(result)
    order = neuron_order(final, p)
    neuron = int(order[len(order) // 2]) if neuron is None else neuron

    def build() -> Explorer:
        use_style()
        fig = plt.figure(figsize=(10.0, 7.0), constrained_layout=True)
        grid = GridSpec(4, 2, figure=fig, height_ratios=[1, 1, 1, 1.3], width_ratios=[1.1, 1])
        spectra_ax = fig.add_subplot(grid[:3, 0])
        neuron_axes = [fig.add_subplot(grid[i, 1]) for i in range(3)]
        story_ax = fig.add_subplot(grid[3, :])
        plot_spectra(weights_at(result, 0), p, ax=spectra_ax, order=order)
        plot_story(result, ax=story_ax, cursor=0, title="the whole run")
        image, cursor = spectra_ax.images[0], story_ax.lines[-1]
        points = np.arange(p)
        curve = np.linspace(0, p - 1, 300)
        colours = (PALETTE["blue"], PALETTE["green"], PALETTE["vermillion"])
        names = ("u (input a)", "v (input b)", "w (output c)")
        lines = []
        for ax, colour, label in zip(neuron_axes, colours, names):
            fit, = ax.plot(curve, np.zeros_like(curve), color=colour, lw=1.5)
            dots, = ax.plot(points, np.zeros(p), "o", color=colour, ms=3.5)
            ax.set_ylabel(label, fontsize=9)
            lines.append((fit, dots))
        neuron_axes[-1].set_xlabel("element (a, b or c)")
        limit = 1.1 * max(final["in"][neuron].abs().max(), final["out"][neuron].abs().max()).item()

        def update(index: int) -> None:
            weights = weights_at(result, index)
            image.set_data(neuron_spectra(weights, p)[order].numpy())
            cursor.set_xdata([steps[index] + 1] * 2)
            frequency = int(dominant_frequencies(neuron_spectra(weights, p))[neuron])
            vectors = (weights["in"][neuron, :p], weights["in"][neuron, p:], weights["out"][neuron])
            for ax, (fit, dots), vector in zip(neuron_axes, lines, vectors):
                fit.set_ydata(_cosine_fit(vector, frequency, curve))
                dots.set_ydata(vector.numpy())
                ax.set_ylim(-limit, limit)
                phase = torch.fft.rfft(vector.double())[frequency].angle().item()
                ax.set_title(f"phase {phase:+.2f}", fontsize=9, loc="right")
            error = phase_errors(weights, p)[neuron].item()
            ratio = m["margin"][index] / m["margin_theory"]
            fig.suptitle(f"step {steps[index]}: margin {ratio:.2f} x the theory's maximum, "
                         f"{m['feature_share'][index]:.0%} of neurons with one frequency\n"
                         f"neuron {neuron} (right): frequency {frequency}, "
                         f"theta_u + theta_v - theta_w = {error:+.2f}")

        return Explorer.from_updates(fig, update, list(range(len(steps))), name="step", label=lambda i: str(steps[i]),
                                     dpi=60, title="Scrub through training: features appear as the margin grows")

    return cached_explorer(f"{NAME}-explorer", EXPLORER_VERSION, build, run=m["config"], neuron=neuron)


def live_widget(scale: str = "book"):
    """Controls to retrain modular addition with another p, width, activation and penalty."""
    p = widgets.Dropdown(options=[11, 17, 23, 31, 37], value=23, description="p")
    width = widgets.Dropdown(options=[16, 48, 96, 192], value=96, description="width")
    activation = widgets.Dropdown(options=["x^2", "relu"], value="x^2", description="activation")
    penalty = widgets.FloatLogSlider(value=1e-4, base=10, min=-6, max=-2, description="lambda")

    def retrain():
        result = run(config_for(scale, "modular-addition", p=p.value, width=width.value, activation=activation.value,
                                regularisation=penalty.value))
        m = result.metrics
        f = m["features"]
        theory = f", {m['margin_ratio']:.3f} x the theory's maximum" if m["margin_ratio"] else ""
        print(f"accuracy {m['accuracy'][-1]:.3f}; normalised margin {m['margin'][-1]:.3g}{theory}; "
              f"{f['frac_single_freq']:.0%} of neurons with one frequency; "
              f"{len(f['freqs_covered'])} of {f['num_freqs']} frequencies used")
        fig, (left, right) = figure(2, width=11, height=4.0)
        plot_story(result, ax=left)
        plot_spectra(weights_at(result), p.value, ax=right)
        plt.show()

    return retrain_panel([[p, width], [activation, penalty]], retrain)
