"""Increasing complexity: every sentence and verdict word the page shows, from the report.

`page_values(report)` gives the page's computed Markdown, one entry per section; the notebook shows each
with `companion.core.prose.show`. Every number and verdict word below is read from the report that
`analysis.reproduce` writes.
"""

from __future__ import annotations

import numpy as np

from companion.core.prose import Claim, bracket, reproduced_table, settings_table, span

from .experiment import DATASETS, EXPLAINED_SHARE, NOISE, NOISE_RATES, NULLS, RETAINED

MEMORISED = 0.9  # the network "memorises" the flipped labels when it fits at least this share of them
SETTINGS = {"width": ("hidden width", "neurons"), "train_size": ("training set", "points"),
            "steps": ("SGD steps", ""), "lr": ("learning rate", ""), "batch_size": ("batch", "points"),
            "n_evals": ("evaluations", "log-spaced")}

NULL_NAMES = {"tree": "a decision tree", "knn": "a k-nearest-neighbour vote",
              "independent": "errors independent of L's"}
NULL_VERDICTS = {
    "above every null": "the network agrees with $L$ more than the best null of its accuracy does: the "
                        "linear classifier, not just any simple one, accounts for the early network",
    "below the best null": "the best null agrees with $L$ more than the network does: at this accuracy, "
                           "simple classifiers that are not linear agree with L at least as much, so the "
                           "early ratio cannot single out the linear classifier",
    "not separated": "the interval straddles zero: the network agrees with $L$ about as much as the best null "
                     "of its accuracy, so the early ratio cannot single out the linear classifier",
}


def _median(values) -> float:
    return float(np.median([v for v in values if v is not None]))


def early_values(found: dict) -> dict[str, str]:
    """The early-ratio numbers and verdict of one data set's `seed_summary`, as text for the page."""
    nulls = {family: _median(found["nulls"][family]) for family in NULLS
             if any(v is not None for v in found["nulls"][family])}
    best = max((f for f in nulls if f != "independent"), key=nulls.get)
    margin = found["margin_over_best_null"]
    return {
        "seeds": str(len(found["seeds"])),
        "early_median": f"{_median(found['early_ratio']):.2f}",
        "early_range": span(found["early_ratio"]),
        "early_min": f"{min(found['early_min_ratio']):.2f}",
        "independent": f"{nulls['independent']:.2f}",
        "independent_gap": f"{_median(found['early_ratio']) - nulls['independent']:.2f}",
        "best_null": NULL_NAMES[best],
        "null_floor": f"{min(found['null_floor']):.2f}",
        "matched": f"{sum(found['matched_by_tree_or_knn'])} of the {sum(found['early_evaluations'])}",
        "best_null_ratio": f"{nulls[best]:.2f}",
        "margin": f"{margin['mean']:+.2f} (95% interval {bracket(margin)}, {margin['n']} seeds)",
        "verdict": NULL_VERDICTS[found["margin_verdict"]],
        "final_share": f"{_median(found['final_mu_share_of_I_LY']):.2f}",
        "final_acc_F": f"{_median(found['final_acc_F']):.3f}",
        "acc_L": f"{_median(found['acc_L']):.3f}",
    }


def noise_values(found: dict, rate: float) -> dict[str, str]:
    """Label noise at one rate, over seeds, as text for the page, with the comparison with the paper's
    claim that the network memorises while retaining the linear classifier."""
    block = found["noise"][str(rate)]
    kept = block["kept_share_interval"]
    memorised = _median(block["flipped_fit"])
    memorises = memorised >= MEMORISED
    retains = block["verdict"] == "keeps mu"
    if memorises and retains:
        paper = "as the paper reports, the network memorises the flipped labels and keeps what $L$ explained"
    elif memorises and block["verdict"] == "gives up part of mu":
        paper = ("unlike the paper, which reports that memorising leaves $\\mu$ in place, memorising the flipped "
                 "labels here costs part of what $L$ explained")
    elif memorises:
        paper = ("the network memorises the flipped labels, and whether $\\mu$ stays in place, as the paper "
                 "reports, is not settled by these seeds")
    else:
        paper = ("the network never memorises the flipped labels here, so this run does not test the paper's "
                 "claim that memorising leaves $\\mu$ in place")
    return {
        "rate": f"{rate:.0%}",
        "seeds": str(len(block["mu_peak"])),
        "peak": f"{_median(block['mu_peak']):.3f}",
        "last5": f"{_median(block['mu_last5']):.3f}",
        "kept": f"{kept['mean']:.2f} (95% interval {bracket(kept, '.2f')})",
        "flipped_fit": f"{memorised:.0%}",
        "train_accuracy": f"{_median(block['train_accuracy']):.2f}",
        "verdict": block["verdict"],
        "paper": paper,
    }


def seed_table(found: dict):
    """Per seed: the network's early ratio (median and lowest), each null's at matched accuracy, the margin."""
    from companion.core.tables import Table

    rows = [{"seed": seed, "network (median)": found["early_ratio"][i],
             "network (lowest)": found["early_min_ratio"][i], **{NULL_NAMES[f]: found["nulls"][f][i] for f in NULLS},
             "margin over best null": found["margin_per_seed"][i]}
            for i, seed in enumerate(found["seeds"])]
    return Table(rows, digits=2)


def noise_table(found: dict):
    """Per noise rate and seed: mu's peak, its mean over the last five evaluations, and memorisation."""
    from companion.core.tables import Table

    rows = [{"flipped": f"{float(rate):.0%}", "seed": found["seeds"][i], "mu peak": block["mu_peak"][i],
             "mu, last five": block["mu_last5"][i], "kept share": block["kept_share"][i],
             "flipped labels fitted": block["flipped_fit"][i], "training accuracy": block["train_accuracy"][i],
             "held-out accuracy": block["test_accuracy"][i]}
            for rate, block in found["noise"].items() for i in range(len(block["mu_peak"]))]
    return Table(rows, digits=3)


def _noise_reading(found: dict, rate) -> str:
    """What one rate of flipped labels did, against the paper's claim: "retains", "gives up", "unsettled"
    (memorised, mu's fate not settled by the seeds) or "no memorising"."""
    block = found["noise"][str(rate)]
    if _median(block["flipped_fit"]) < MEMORISED:
        return "no memorising"
    return {"keeps mu": "retains", "gives up part of mu": "gives up"}.get(block["verdict"], "unsettled")


def claims(report: dict) -> list[Claim]:
    """The What-reproduced table: the paper's claims, what the runs measured, and a verdict each."""
    data = {name: report[name] for name in DATASETS}
    early = {name: _median(found["early_ratio"]) for name, found in data.items()}
    margins = {name: found["margin_verdict"] for name, found in data.items()}
    kept = {name: _median(found["final_mu_share_of_I_LY"]) for name, found in data.items()}
    beyond = {name: _median(found["final_acc_F"]) > _median(found["acc_L"]) for name, found in data.items()}
    noise = {name: _noise_reading(found, NOISE) for name, found in data.items()}
    explained = sum(value >= EXPLAINED_SHARE for value in early.values())
    retained = sum(kept[name] >= RETAINED and beyond[name] for name in data)
    both = len(data)
    return [
        Claim("Early in training nearly all of the network's performance is explained by a linear classifier.",
              "median early $\\mu / I(F;Y)$: " + ", ".join(f"{early[n]:.2f} ({n})" for n in data),
              "reproduced" if explained == both else "partly" if explained else "not reproduced"),
        Claim("It is the linear classifier that explains the early network (our control: simple classifiers "
              "that are not linear, at the network's accuracy).",
              "margin over the best null: " + ", ".join(f"{bracket(data[n]['margin_over_best_null'])} ({n})"
                                                        for n in data),
              "reproduced" if set(margins.values()) == {"above every null"} else
              "departs" if "below the best null" in margins.values() else "not reproduced"),
        Claim("Later the network goes beyond the linear classifier but keeps what it explained.",
              "final $\\mu / I(L;Y)$: " + ", ".join(f"{kept[n]:.2f} ({n})" for n in data)
              + f"; network more accurate than $L$ on {sum(beyond.values())} of {both} tasks",
              "reproduced" if retained == both else "partly" if retained else "not reproduced"),
        Claim(f"With {NOISE:.0%} of labels flipped the network memorises them and still retains the linear "
              "classifier's share.",
              ", ".join(f"{n}: {noise[n]}" for n in data),
              "reproduced" if set(noise.values()) == {"retains"} else
              "departs" if set(noise.values()) == {"gives up"} else
              "partly" if "retains" in noise.values() else "not reproduced"),
    ]


def early(found: dict) -> str:
    """The early ratio over seeds (the first figure)."""
    said = early_values(found)
    return (f"The line is the median of {said['seeds']} seeds and the band their range. At the evaluations where "
            "the network was no more accurate than $L$ (and knew anything at all), $\\mu$ was a median "
            f"{said['early_median']} of $I(F;Y)$ (the seeds' medians are {said['early_range']}; the lowest single "
            f"evaluation of any seed, {said['early_min']}). At the end the network's held-out accuracy is "
            f"{said['final_acc_F']} against the line's {said['acc_L']} (medians over seeds), and $\\mu$ is "
            f"{said['final_share']} of $I(L;Y)$.\n")


def nulls(found: dict) -> str:
    """The early ratio against the three nulls of matched accuracy."""
    said = early_values(found)
    return (f"A classifier whose errors are independent of $L$'s reaches a ratio of only {said['independent']} at "
            f"the network's accuracy: the network's {said['early_median']} is {said['independent_gap']} above what "
            f"accuracy alone gives. The best null that is not linear is {said['best_null']}, at "
            f"{said['best_null_ratio']}, and the network's margin over the best null at each evaluation, averaged "
            f"over seeds, is {said['margin']}: {said['verdict']}. One limit of the control: no tree or neighbour "
            f"vote here is less accurate than {said['null_floor']}, so they stand beside {said['matched']} early "
            "evaluations (all seeds), the ones at least that accurate; the independent null stands beside every "
            "one.\n")


def ladder(found: dict) -> str:
    """The ladder of polynomial classifiers on the first seed: in which order its rungs were passed."""
    passing = {int(degree): step for degree, step in found["ladder_passing_steps"].items()}
    degrees = sorted(passing)
    steps = [passing[d] for d in degrees]
    ordered = None not in steps and steps == sorted(steps)
    names = {1: "linear", 3: "cubic", 5: "quintic"}
    listed = ", ".join(f"the {names.get(d, f'degree-{d}')} rung " + ("never" if s is None else f"from step {s}")
                       for d, s in zip(degrees, steps))
    return ((f"On this seed the network reaches 90% of each rung in order of complexity and stays there: {listed}."
             if ordered else f"On this seed the network does not pass every rung in order of complexity: {listed}.")
            + " The null above applies here too: these shares are high for any classifier more accurate than the "
              "rung, so the order in which the rungs are passed, not the level reached, is what the ladder shows.\n")


def digits(found: dict) -> str:
    said = early_values(found)
    return (f"While the network is no more accurate than logistic regression, $\\mu$ is a median "
            f"{said['early_median']} of $I(F;Y)$ (seeds {said['early_range']}; lowest evaluation "
            f"{said['early_min']}), and at the end $\\mu$ is {said['final_share']} of $I(L;Y)$. Against the nulls: "
            f"errors independent of $L$'s give {said['independent']}; the best null, {said['best_null']}, gives "
            f"{said['best_null_ratio']}; the network's margin over it is {said['margin']}: {said['verdict']}. "
            f"Trees and neighbour votes stand beside {said['matched']} early evaluations.\n")


def noise(found: dict, name: str) -> str:
    """Label noise on one data set, at each of the paper's rates."""
    parts = []
    for rate in NOISE_RATES:
        said = noise_values(found, rate)
        parts.append(f"With {said['rate']} of labels flipped ({said['seeds']} seeds) the network fits "
                     f"{said['flipped_fit']} of the flipped labels (median over seeds); $\\mu$ peaks at "
                     f"{said['peak']} bits and averages {said['last5']} over the last five evaluations, a share "
                     f"{said['kept']} of its peak: {said['paper']}.")
    return f"On {name}, " + " ".join(parts)[0].lower() + " ".join(parts)[1:] + "\n"


def alignment(report: dict) -> str:
    said = {name: early_values(report[name]) for name in DATASETS}
    return (f"Here the linear classifier accounts for a median {said['sine']['early_median']} (the 2-D task) and "
            f"{said['digits']['early_median']} (digits) of what the early network knows about the label; against "
            f"other simple classifiers of the same accuracy, the network's margin was {said['sine']['margin']} on "
            f"the 2-D task and {said['digits']['margin']} on digits.\n")


def settings(report: dict) -> str:
    """The 2-D task's settings, and what digits changes."""
    sine, digits = report["sine"]["clean"]["config"], report["digits"]["clean"]["config"]
    changed = ", ".join(f"{SETTINGS[key][0]} {digits[key]:,}" for key in SETTINGS if digits[key] != sine[key])
    noisy = len(next(iter(report["sine"]["noise"].values()))["mu_peak"])
    return (settings_table(sine, SETTINGS) + f"\nOn digits: {changed}. Each task runs {len(report['sine']['seeds'])} "
            f"seeds; the label-noise runs take the first {noisy} of them.\n")


def page_values(report: dict) -> dict[str, str]:
    """The page's computed Markdown, by section."""
    return {"reproduced": reproduced_table(claims(report)),
            "settings": settings(report),
            "sine_early": early(report["sine"]), "sine_nulls": nulls(report["sine"]), "ladder": ladder(report["sine"]),
            "digits": digits(report["digits"]), "digits_noise": noise(report["digits"], "digits"),
            "sine_noise": noise(report["sine"], "the 2-D task"), "alignment": alignment(report)}
