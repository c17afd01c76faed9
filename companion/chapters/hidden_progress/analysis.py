"""Hidden progress: the runs the chapter needs, and what it concludes from them.

`experiment.py` trains one batch of replicates; this module plans the chapter's runs (the main run and
its random-label control, the gap run and its control, the scaling, width and init x data-order
experiments), summarises them over seeds and writes the report `reproduce` returns. What the page says
about the report is in `page.py`.
"""
from __future__ import annotations

import dataclasses
import math
import statistics

import numpy as np

from companion.core import runtime
from companion.core.cache import Result
from companion.core.config import resolve_scale

from .experiment import (
    CHANCE_LOSS,
    CROSSED,
    GAP,
    GAP_SETTINGS,
    NAME,
    PLATEAU_FRACTION,
    SCALES,
    SCALING,
    SCALING_INIT,
    SQ_LIMIT_FORM,
    VERSION,
    WIDTHS,
    Config,
    config_for,
    fourier_gap_check,
    initial_max_output,
    run_many,
    search_config,
)


def control_config(config: Config) -> Config:
    """The same networks and seeds trained on random labels: what no progress looks like."""
    return dataclasses.replace(config, labels="random", stop_when_solved=False)


def plateau_checks(main: Result, control: Result) -> list[dict]:
    """For each replicate: where the loss leaves its plateau, and what the hidden measures did first.

    - ``left_plateau``: first step with loss below PLATEAU_FRACTION of its initial value, taken as the
      smaller of the loss at step 0 and the chance level (random initial outputs start a little above
      it and shrink in the first few steps, which is not learning);
    - ``plateau_held``: it left no earlier than t_c / 2, and fell to SOLVED_LOSS within t_c / 4;
    - ``share_before_fall``: the support weight share at the last evaluation before it left;
    - ``share_beats_control``: that share exceeds the control's maximum for the same seed.
    """
    steps, loss = main.metrics["steps"], main.arrays["loss"]
    chance = CHANCE_LOSS[main.metrics["config"]["loss"]]
    checks = []
    for i, t_c in enumerate(main.metrics["t_c"]):
        curve = loss[i].tolist()
        start = min(curve[0], chance)
        leave = next((j for j, v in enumerate(curve) if v < PLATEAU_FRACTION * start), None)
        entry = {"seed": main.metrics["seeds"][i], "t_c": t_c,
                 "left_plateau": None if leave is None else steps[leave]}
        entry["plateau_held"] = bool(t_c is not None and leave is not None and steps[leave] >= t_c / 2
                                     and t_c - steps[leave] <= t_c / 4)
        if "support_weight_share" in main.arrays and leave:
            share = float(main.arrays["support_weight_share"][i, leave - 1])
            entry["share_before_fall"] = share
            entry["control_max_share"] = float(control.arrays["support_weight_share"][i].max())
            entry["share_beats_control"] = share > entry["control_max_share"]
        else:
            entry["share_beats_control"] = False
        checks.append(entry)
    return checks


def plateau_summary(main: Result, control: Result) -> dict:
    """Counts over seeds, for the chapter's prose."""
    checks = plateau_checks(main, control)
    t_c = [c["t_c"] for c in checks if c["t_c"] is not None]
    return {
        "seeds": len(checks),
        "solved": len(t_c),
        "plateau_held": sum(c["plateau_held"] for c in checks),
        "share_beats_control": sum(c["share_beats_control"] for c in checks),
        "median_t_c": statistics.median(t_c) if t_c else None,
        "min_t_c": min(t_c, default=None),
        "max_t_c": max(t_c, default=None),
        "chance_share": main.metrics["config"]["k"] / main.metrics["config"]["n"],
    }


def coefficient_exponents(rows: list[dict]) -> dict[str, float]:
    """Slopes of log |coefficient| against log n over the Fourier check's closed forms: each shrinks
    like n to this power (at even n, where ties at zero give the even degrees their size)."""
    ns = np.log([row["n"] for row in rows])
    return {kind: float(np.polyfit(ns, np.log([abs(row["closed_form"][kind]) for row in rows]), 1)[0])
            for kind in ("relevant", "irrelevant")}


def median_time(t_c: list[int | None]) -> float | None:
    """Median of the solve times, counting unsolved runs as slower than every solved one; None when
    the median itself is unsolved."""
    ordered = sorted(t if t is not None else math.inf for t in t_c)
    value = statistics.median(ordered)
    return None if math.isinf(value) or math.isnan(value) else value


def scaling_configs(scale: str | None = None, seed: int = 0) -> list[Config]:
    plan = SCALING[resolve_scale(scale)]
    return [search_config(n, k, plan["steps"], plan["replicates"], seed, init=SCALING_INIT)
            for k in plan["ks"] for n in plan["ns"]]


def gap_configs(scale: str | None = None, seed: int = 0) -> tuple[Config, Config]:
    """The gap-over-training run and its control: the same networks on random labels."""
    main = Config(**{**GAP_SETTINGS, **GAP[resolve_scale(scale)], "seed": seed})
    return main, control_config(main)


def crossed_config(scale: str | None = None, seed: int = 0) -> Config:
    plan = CROSSED[resolve_scale(scale)]
    return search_config(plan["n"], plan["k"], plan["steps"], plan["init_seeds"] * plan["data_seeds"], seed,
                         init=SCALING_INIT, data_seeds=plan["data_seeds"])


def width_configs(scale: str | None = None, seed: int = 0) -> list[Config]:
    plan = WIDTHS[resolve_scale(scale)]
    return [search_config(plan["n"], plan["k"], plan["steps"], plan["replicates"], seed, width=width)
            for width in plan["widths"]]


def scaling_table(results: list[Result]) -> list[dict]:
    rows = []
    for result in results:
        config, t_c = result.metrics["config"], result.metrics["t_c"]
        rows.append({"n": config["n"], "k": config["k"], "median_t_c": median_time(t_c),
                     "seeds": len(t_c), "solved": sum(t is not None for t in t_c), "t_c": t_c})
    return rows


def scaling_exponents(rows: list[dict]) -> dict[int, float]:
    """For each k, the slope of log(median t_c) against log n: t_c grows like n to this power."""
    slopes = {}
    for k in sorted({row["k"] for row in rows}):
        points = [(row["n"], row["median_t_c"]) for row in rows if row["k"] == k and row["median_t_c"]]
        if len(points) >= 2:
            ns, times = np.log([p[0] for p in points]), np.log([p[1] for p in points])
            slopes[k] = float(np.polyfit(ns, times, 1)[0])
    return slopes


def predict_t_c(rows: list[dict], k: int, n: int) -> float:
    """Extrapolate the fitted power law log t_c = a + b log n for this k to a new n."""
    points = [(row["n"], row["median_t_c"]) for row in rows if row["k"] == k and row["median_t_c"]]
    if len(points) < 2:
        raise ValueError(f"need at least two solved sizes with k={k} to fit a power law, got {len(points)}")
    slope, intercept = np.polyfit(np.log([p[0] for p in points]), np.log([p[1] for p in points]), 1)
    return float(np.exp(intercept + slope * np.log(n)))


def sq_reference(rows: list[dict], batch_size: int) -> dict[int, dict[int, float]]:
    """Samples SGD saw before solving, B * median t_c, over n^k: the Omega(n^k) statistical queries the
    paper cites as the limit for (n, k) parities. A ratio that stays flat as n grows means the same exponent."""
    table: dict[int, dict[int, float]] = {}
    for row in rows:
        if row["median_t_c"]:
            table.setdefault(row["k"], {})[row["n"]] = batch_size * row["median_t_c"] / row["n"] ** row["k"]
    return table


def coefficient_of_variation(t_c: list[int | None]) -> float | None:
    """std / mean of the solved times (None with fewer than two); a memoryless search, which succeeds
    with the same small chance at every step whatever came before, has a geometric t_c and a CV near 1."""
    solved = [t for t in t_c if t is not None]
    return float(np.std(solved, ddof=1) / np.mean(solved)) if len(solved) > 1 else None


def spread_sources(t_c: list[int | None], data_seeds: int, cap: int) -> dict:
    """How much of the spread of log t_c over an init x data-order grid each factor explains.

    Two-way random-effects analysis of variance with one run per cell: row means carry the init seeds'
    effect, column means the data orders', and what is left is their interaction with any other noise.
    Each component is the usual unbiased estimate (clipped at zero); returned as shares of their sum.
    Unsolved runs count as solved at `cap`, the last step (``censored`` says how many)."""
    censored = sum(t is None for t in t_c)
    y = np.log(np.array([t if t is not None else cap for t in t_c], dtype=float)).reshape(-1, data_seeds)
    rows, columns = y.shape
    grand = y.mean()
    row_effect, column_effect = y.mean(1) - grand, y.mean(0) - grand
    residual = y - grand - row_effect[:, None] - column_effect[None, :]
    mean_square_residual = (residual ** 2).sum() / ((rows - 1) * (columns - 1))
    init = max(0.0, (columns * (row_effect ** 2).sum() / (rows - 1) - mean_square_residual) / columns)
    order = max(0.0, (rows * (column_effect ** 2).sum() / (columns - 1) - mean_square_residual) / rows)
    total = init + order + mean_square_residual
    return {"init": init / total, "data_order": order / total, "interaction": mean_square_residual / total,
            "init_seeds": rows, "data_seeds": columns, "censored": censored}


def crossed_summary(result: Result) -> dict:
    """The init x data-order grid's t_c, its spread, and the spread left once the init is fixed."""
    config, t_c = result.metrics["config"], result.metrics["t_c"]
    by_init = [t_c[i:i + config["data_seeds"]] for i in range(0, len(t_c), config["data_seeds"])]
    within = [cv for cv in map(coefficient_of_variation, by_init) if cv is not None]
    return {"n": config["n"], "k": config["k"], "t_c": t_c, "init_seeds": result.metrics["init_seeds"],
            "data_order_seeds": result.metrics["data_order_seeds"], "cv": coefficient_of_variation(t_c),
            "cv_within_init": float(np.median(within)) if within else None}


def gap_over_training(main: Result, control: Result) -> dict:
    """The Fourier gap, exactly, at every population snapshot of the gap run and its control.

    ``gap`` is the mean |c| on the support minus off it (see `population_measures`); for each seed,
    ``before_fall`` is the last snapshot whose population loss is still above PLATEAU_FRACTION of its
    start, ``growth`` the gap there over the gap at step 0, and ``amplified`` says whether that growth
    exceeds the largest the same seed's control reached in its whole run."""
    config = main.metrics["config"]
    steps = main.arrays["population_steps"].tolist()

    def per_seed(result: Result, name: str) -> list[list[float]]:
        return result.arrays[f"population_{name}"].tolist()

    gap = (main.arrays["population_relevant"] - main.arrays["population_irrelevant"])
    control_gap = (control.arrays["population_relevant"] - control.arrays["population_irrelevant"])
    growth, control_growth = gap / gap[:, :1], control_gap / control_gap[:, :1]
    seeds = []
    for i, loss in enumerate(per_seed(main, "loss")):
        start = min(loss[0], CHANCE_LOSS["hinge"])
        fall = next((j for j, value in enumerate(loss) if value < PLATEAU_FRACTION * start), len(loss))
        before = max(fall - 1, 0)
        seeds.append({"seed": main.metrics["seeds"][i], "before_fall": steps[before],
                      "growth": float(growth[i, before]), "control_max_growth": float(control_growth[i].max()),
                      "share_change": float(main.arrays["population_support_share"][i, before]
                                            - main.arrays["population_support_share"][i, 0]),
                      "amplified": bool(growth[i, before] > control_growth[i].max())})
    return {"n": config["n"], "k": config["k"], "steps": steps,
            "support_share": per_seed(main, "support_share"), "control_share": per_seed(control, "support_share"),
            "gap": gap.tolist(), "control_gap": control_gap.tolist(),
            "relevant": per_seed(main, "relevant"), "irrelevant": per_seed(main, "irrelevant"),
            "loss": per_seed(main, "loss"), "control_loss": per_seed(control, "loss"),
            "t_c": main.metrics["t_c"], "seeds": seeds,
            "initial_max_output": float(main.arrays["population_max_output"][:, 0].max()),
            "settings": {key: config[key] for key in ("init", "readout_scale", "batch_size", "lr", "width")},
            "amplified": sum(seed["amplified"] for seed in seeds)}


def width_table(results: list[Result]) -> list[dict]:
    rows = []
    for result in results:
        t_c = result.metrics["t_c"]
        solved = [t for t in t_c if t is not None]
        quartiles = np.percentile(solved, [25, 75]).tolist() if solved else [None, None]
        rows.append({"width": result.metrics["config"]["width"], "median_t_c": median_time(t_c),
                     "std_t_c": float(np.std(solved)) if len(solved) > 1 else None,
                     "iqr_t_c": quartiles[1] - quartiles[0] if solved else None,
                     "seeds": len(t_c), "solved": len(solved), "t_c": t_c})
    return rows


def width_returns(rows: list[dict]) -> dict:
    """From the narrowest to the widest net: the relative fall of the median and of the spread of t_c."""
    first, last = rows[0], rows[-1]
    return {"median_drop": 1 - last["median_t_c"] / first["median_t_c"],
            "std_drop": 1 - last["std_t_c"] / first["std_t_c"]}


def experiments(scale: str | None = None, seed: int = 0, n_jobs: int = 2) -> dict:
    """Every run of the chapter, trained in parallel where missing from the cache."""
    scale = resolve_scale(scale)
    main = config_for(scale, seed=seed)
    scaling, widths = scaling_configs(scale, seed), width_configs(scale, seed)
    gap, gap_control = gap_configs(scale, seed)
    results = run_many([main, control_config(main), gap, gap_control, crossed_config(scale, seed), *scaling,
                        *widths], n_jobs=n_jobs)
    return {"main": results[0], "control": results[1], "gap": results[2], "gap_control": results[3],
            "crossed": results[4], "scaling": results[5:5 + len(scaling)], "widths": results[5 + len(scaling):]}


def reproducibility_card(result: Result) -> dict:
    changes = {"main run": runtime.scale_changes(SCALES["book"], SCALES["full"]),
               "scaling": SCALING["full"], "widths": WIDTHS["full"], "gap over training": GAP["full"],
               "init x data-order grid": CROSSED["full"]}
    return runtime.reproducibility_card(NAME, VERSION, result, seeds=result.metrics["seeds"],
                                        full_scale_changes=changes)


def by_k(rows: list[dict], value) -> dict[str, dict[str, object]]:
    """{k: {n: value(row)}} over a scaling table, with string keys for JSON."""
    return {str(k): {str(row["n"]): value(row) for row in rows if row["k"] == k}
            for k in sorted({row["k"] for row in rows})}


def reproduce(scale: str | None = None, seed: int = 0) -> dict:
    """What `python -m companion reproduce hidden-progress` writes to hidden-progress.json."""
    scale = resolve_scale(scale)
    found = experiments(scale, seed)
    main, control = found["main"], found["control"]
    steps = main.metrics["steps"]
    checks = plateau_checks(main, control)
    scaling = scaling_table(found["scaling"])
    widths = width_table(found["widths"])
    crossed = found["crossed"]
    fourier = fourier_gap_check(scale, seed)
    return {
        "topic": NAME,
        "scale": scale,
        "seed": seed,
        "config": main.metrics["config"],
        "runs": [
            {"seed": s, "n": main.metrics["config"]["n"], "k": main.metrics["config"]["k"], "t_c": t_c,
             "steps": steps, "loss": main.arrays["loss"][i].tolist(),
             "support_weight_share": main.arrays["support_weight_share"][i].tolist()}
            for i, (s, t_c) in enumerate(zip(main.metrics["seeds"], main.metrics["t_c"]))
        ],
        "control": {"steps": control.metrics["steps"],
                    "support_weight_share": control.arrays["support_weight_share"].tolist(),
                    "seeds": control.metrics["seeds"]},
        "fourier_gap": fourier.metrics["rows"],
        "fourier_samples": fourier.metrics["samples"],
        "initial_max_output": initial_max_output(Config(**main.metrics["config"])),
        "plateau_checks": checks,
        "summary": plateau_summary(main, control),
        "scaling": by_k(scaling, lambda row: row["median_t_c"]),
        "scaling_rows": [{key: row[key] for key in ("n", "k", "median_t_c", "seeds", "solved")} for row in scaling],
        "scaling_exponents": {str(k): v for k, v in scaling_exponents(scaling).items()},
        "width": [{key: row[key] for key in ("width", "median_t_c", "std_t_c", "iqr_t_c", "seeds", "solved")}
                  for row in widths],
        "width_returns": width_returns(widths),
        "width_task": {key: found["widths"][0].metrics["config"][key] for key in ("n", "k")},
        "scaling_batch_size": found["scaling"][0].metrics["config"]["batch_size"],
        "gap_over_training": gap_over_training(found["gap"], found["gap_control"]),
        "scaling_init": SCALING_INIT,
        "sq_reference": {str(k): {str(n): ratio for n, ratio in by_n.items()} for k, by_n in sq_reference(
            scaling, found["scaling"][0].metrics["config"]["batch_size"]).items()},
        "sq_limit_form": SQ_LIMIT_FORM,
        "t_c_cv": by_k(scaling, lambda row: coefficient_of_variation(row["t_c"])),
        "crossed": crossed_summary(crossed),
        "spread_sources": spread_sources(crossed.metrics["t_c"], crossed.metrics["config"]["data_seeds"],
                                         crossed.metrics["config"]["steps"]),
    }
