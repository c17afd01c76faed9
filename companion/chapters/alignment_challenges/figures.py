"""Figures and the challenge explorer of the capstone."""

from __future__ import annotations

import html

import numpy as np

from companion.core.config import resolve_scale
from companion.core.explorer import FilterExplorer
from companion.core.plotting import PALETTE, figure, step_axis
from companion.core.runtime import environment
from companion.topics import CHAPTERS

from .analysis import claims
from .challenges import CATEGORIES, CHALLENGES, CHAPTER_TITLES, GRADES, LINK_NOTES, Challenge, links
from .experiment import NAME, VERSION, WATERMARKS


def plot_map(ax=None):
    """Which chapter touches which challenge: a dot per link, rows coloured by category."""
    if ax is None:
        fig, ax = figure(width=8.5, height=6.4)
    colours = dict(zip(CATEGORIES, (PALETTE["blue"], PALETTE["vermillion"], PALETTE["green"])))
    columns = list(CHAPTERS)
    for row, challenge in enumerate(CHALLENGES):
        for grade in GRADES:
            xs = [columns.index(link.topic) for link in challenge.links
                  if LINK_NOTES[(challenge.section, link.topic)].grade == grade]
            if xs:
                ax.scatter(xs, [row] * len(xs), zorder=3, **_grade_marker(grade, colours[challenge.category]))
    ax.legend(handles=[ax.scatter([], [], label=grade, **_grade_marker(grade, PALETTE["black"])) for grade in GRADES],
              loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, title="what the chapter offers",
              title_fontsize=8)
    ax.set_yticks(range(len(CHALLENGES)))
    ax.set_yticklabels([_short(c) for c in CHALLENGES], fontsize=8)
    for tick, challenge in zip(ax.get_yticklabels(), CHALLENGES):
        tick.set_color(colours[challenge.category])
    ax.set_xticks(range(len(columns)))
    ax.set_xticklabels([CHAPTER_TITLES[t] for t in columns], rotation=40, ha="right", fontsize=8)
    ax.set_xlim(-0.6, len(columns) - 0.4)
    ax.set_ylim(len(CHALLENGES) - 0.5, -0.5)
    ax.set_title(f"{len(links())} links between the 18 challenges and the 9 chapters")
    return ax.figure


def _grade_marker(grade: str, colour: str) -> dict:
    """Evidence a filled dot, an analogy a ring, an illustration a small cross: readable without colour."""
    return {"evidence": dict(s=70, color=colour), "analogy": dict(s=70, facecolors="none", edgecolors=colour,
                                                                 linewidths=1.5),
            "illustration": dict(s=45, marker="x", color=colour)}[grade]


def _short(challenge: Challenge, width: int = 62) -> str:
    text = f"{challenge.section} {challenge.title}"
    return text if len(text) <= width else text[: width - 1] + "\N{HORIZONTAL ELLIPSIS}"


def _panel_induction_heads(report, ax):
    steps = np.asarray(report["steps"]) + 1
    ax.plot(steps, report["kl_model"], color=PALETTE["black"], label="model")
    for name, colour in (("unigram", PALETTE["orange"]), ("bigram", PALETTE["blue"])):
        ax.axhline(report["baselines"][name], color=colour, ls="--", lw=1, label=f"in-context {name}")
    step_axis(ax, steps)
    ax.set(ylabel="KL to the truth (nats)", title="In-context learning, opened")
    ax.legend(fontsize=7)


def _panel_hidden_progress(report, ax):
    run = next(run for run in report["runs"] if run["t_c"] is not None)
    ax.plot(run["steps"], run["loss"], color=PALETTE["black"], label="loss")
    ax.set(xlabel="step", ylabel="hinge loss", title="A flat loss, hidden progress")
    twin = ax.twinx()
    twin.plot(run["steps"], run["support_weight_share"], color=PALETTE["vermillion"], label="weight on support")
    twin.set_ylabel("weight share on support", color=PALETTE["vermillion"])
    twin.grid(False)
    ax.axvline(run["t_c"], color=PALETTE["blue"], lw=1, ls=":")


def _panel_pareto_frontiers(report, ax):
    rows = report["grid"]
    widths = sorted({r["width"] for r in rows})
    colours = dict(zip(widths, (PALETTE["sky"], PALETTE["blue"], PALETTE["black"], PALETTE["purple"])))
    for init, width in sorted({(r["init"], r["width"]) for r in rows}):
        cell = sorted((r for r in rows if r["init"] == init and r["width"] == width), key=lambda r: r["m"])
        ax.plot([r["m"] for r in cell], [r["success_rate"] for r in cell], "o-" if init == "sparse" else "s--",
                ms=3, color=colours[width], label=f"{init}, width {width}")
    ax.set(xlabel="training samples m", ylabel="share of seeds that succeed", ylim=(-0.03, 1.03),
           title="Data, width and luck")
    ax.legend(fontsize=7)


def _panel_increasing_complexity(report, ax):
    digits = report["digits"]["clean"]
    steps = np.asarray(digits["steps"]) + 1
    ax.plot(steps, digits["I_FY"], color=PALETTE["black"], label="I(F;Y), network")
    ax.plot(steps, digits["mu"], color=PALETTE["vermillion"], label="explained by linear")
    ax.axhline(digits["I_LY"], color=PALETTE["blue"], ls="--", lw=1, label="I(L;Y), linear")
    step_axis(ax, steps)
    ax.set(ylabel="bits", title="Simple first, and kept")
    ax.legend(fontsize=7)


def _panel_margin_features(report, ax):
    story = report["modular_addition"]["story"]
    steps = np.asarray(story["steps"]) + 1
    margin = np.asarray(story["margin"]) / report["modular_addition"]["margin_theory"]
    ax.plot(steps, margin, color=PALETTE["black"], label="margin / theory's max")
    ax.plot(steps, story["frac_single_freq"], color=PALETTE["vermillion"], label="single-frequency neurons")
    step_axis(ax, steps)
    ax.set(ylabel="share", ylim=(-0.05, 1.05), title="Features predicted by the margin")
    ax.legend(fontsize=7)


def _panel_variable_creation(report, ax):
    ax.plot(report["T"], report["critical_m"], "o-", color=PALETTE["blue"], label="transformer")
    ax.plot(report["baseline_T"], report["baseline_critical_m"], "s-", color=PALETTE["vermillion"], label="perceptron")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(report["T"], [str(t) for t in report["T"]])
    ax.minorticks_off()
    ax.set(xlabel="context length T", ylabel="samples needed", title="Sparse variables, cheaply")
    ax.legend(fontsize=7)


def _panel_watermark_sand(report, ax):
    x = np.arange(len(WATERMARKS))
    ax.bar(x - 0.2, [report[s]["detect_rate"] for s in WATERMARKS], 0.4, color=PALETTE["blue"],
           label="detected before")
    strongest = report["models"]["attackers"][0]["name"]
    ax.bar(x + 0.2, [1 - report[s][strongest]["walk"]["erased"] for s in WATERMARKS], 0.4, color=PALETTE["vermillion"],
           label="detected after the walk")
    ax.set_xticks(x)
    ax.set_xticklabels(["KGW", "Unigram", "EXP"])
    ax.set(ylabel="share of texts", ylim=(0, 1.35), title="Watermarks, washed out")
    ax.legend(fontsize=7, loc="upper center", ncols=2)


def _panel_transcendence(report, ax):
    temperatures = report["temperatures"]
    ax.plot(temperatures, [report["model_reward"][str(t)] for t in temperatures], "o-", color=PALETTE["black"],
            label="model")
    for i, reward in enumerate(report["expert_reward"]):
        ax.axhline(reward, color=PALETTE["orange"], ls="--", lw=1, label="experts" if i == 0 else None)
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set(xlabel="temperature (colder to the right)", ylabel="mean reward a move", title="Beating the teachers")
    ax.legend(fontsize=7)


def _panel_knowable_unknowable(report, ax):
    names = ("probe", "entropy", "format B", "in context", "control")
    values = [report[k] for k in ("probe_auc", "entropy_baseline_auc", "cross_domain_auc", "unsupervised_auc",
                                  "control_probe_auc")]
    ax.bar(range(len(names)), values, color=[PALETTE["blue"], PALETTE["orange"], PALETTE["sky"], PALETTE["green"],
                                             PALETTE["purple"]])
    ax.axhline(0.5, color=PALETTE["black"], lw=1, ls=":")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, fontsize=8)
    ax.set(ylabel="AUC", ylim=(0.4, 1.02), title="Reading what a model knows")


PANELS = {
    "induction-heads": _panel_induction_heads, "hidden-progress": _panel_hidden_progress,
    "pareto-frontiers": _panel_pareto_frontiers, "increasing-complexity": _panel_increasing_complexity,
    "margin-features": _panel_margin_features, "variable-creation": _panel_variable_creation,
    "watermark-sand": _panel_watermark_sand, "transcendence": _panel_transcendence,
    "knowable-unknowable": _panel_knowable_unknowable,
}


def plot_evidence(reports: dict[str, dict], columns: int = 3):
    """One panel per chapter, each drawn from that chapter's report: the measurements the map cites."""
    topics = [t for t in CHAPTERS if t in reports]
    rows = -(-len(topics) // columns)
    fig, axes = figure(columns, rows, width=4.0 * columns, height=3.1 * rows, squeeze=False)
    for ax, topic in zip(axes.flat, topics):
        PANELS[topic](reports[topic], ax)
        ax.set_title(f"{CHAPTER_TITLES[topic]}\n{ax.get_title()}", fontsize=10)
    for ax in list(axes.flat)[len(topics):]:
        ax.set_visible(False)
    return fig


# ----------------------------------------------------------------------------- the explorer

def challenge_explorer(facts: dict[str, dict]):
    """Filter the challenges by category, by chapter and by the grade of their links, each with its links,
    their grades and why, and the measured results."""
    sentences = claims(facts)
    items = []
    for challenge in CHALLENGES:
        notes = [LINK_NOTES[(challenge.section, link.topic)] for link in challenge.links]
        rows = "".join(
            f'<li><a class="companion-filter-link" href="{link.topic}.html#{link.label}">'
            f"{html.escape(CHAPTER_TITLES[link.topic])}</a> <em>({note.grade})</em>: "
            f"{html.escape(sentences[(challenge.section, link.topic)])} "
            f'<span style="font-size:0.9em">Why {note.grade}: {html.escape(note.reason)}</span></li>'
            for link, note in zip(challenge.links, notes))
        body = (f'<div style="font-weight:600">{challenge.section} '
                f'<a class="companion-filter-link" href="#{challenge.label}">{html.escape(challenge.title)}</a></div>'
                f'<div style="font-size:0.85em;color:#555">{html.escape(challenge.category)}</div>'
                + (f'<ul style="margin:4px 0 0 0">{rows}</ul>' if rows else
                   '<div style="font-size:0.9em;font-style:italic">No chapter of this book measures this one; '
                   "see the discussion questions.</div>"))
        items.append((body, {"category": [challenge.category],
                             "chapter": [CHAPTER_TITLES[t] for t in challenge.chapters],
                             "grade": sorted({note.grade for note in notes}, key=GRADES.index)}))
    facets = {"category": list(CATEGORIES), "chapter": [CHAPTER_TITLES[t] for t in CHAPTERS], "grade": list(GRADES)}
    return FilterExplorer(items, facets, title="The eighteen challenges, filtered", noun="challenges")


def reproducibility_card(scale: str | None = None, seed: int = 0, seconds: float | None = None) -> dict:
    """What the capstone read and how: the scale and seed of the chapters' reports, and the machine."""
    return {"experiment": NAME, "version": VERSION, "scale": resolve_scale(scale), "seed": seed,
            "chapters": list(CHAPTERS), "links": len(links()),
            "challenges_linked": sum(bool(c.links) for c in CHALLENGES),
            "seconds_to_gather_reports": None if seconds is None else round(seconds, 1), **environment()}
