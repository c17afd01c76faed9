"""Pareto frontiers: the runs the chapter needs, and what it concludes from them.

`experiment.py` trains one cell of the grid (`lottery.py` and `tabular.py` the chapter's two other
experiments); this module plans every run, pools the seeds of each cell into success rates with their
intervals, finds the frontier, tests width and sparsity, and writes the report `reproduce` returns.
What the page says about the report is in `page.py`.
"""
from __future__ import annotations

import statistics

import numpy as np

from companion.core.cache import Result, entry_path
from companion.core.config import resolve_scale
from companion.core.runtime import environment
from companion.core.stats import mean_interval, verdict
from companion.core.sweeps import sweep

from .experiment import INITIALISATIONS, NAME, SCALES, SIGNIFICANCE, VERSION, grid_configs, run, run_many, trap_configs
from .lottery import LOTTERY, TICKET_KINDS, LotteryConfig, lottery_experiment, lottery_sources
from .tabular import TABULAR, tabular_configs, tabular_run


def wilson_interval(successes: int, trials: int) -> tuple[float, float]:
    """95% Wilson score interval for a binomial success rate (scipy's)."""
    # scipy is imported here, not at the top: only the runs that use it pay its second of loading
    from scipy.stats import binomtest

    interval = binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="wilson")
    return float(interval.low), float(interval.high)


def cell_row(result: Result) -> dict:
    """One cell's outcome: successes out of runs, Wilson interval, median steps to success, and the
    share of runs that failed while fitting every training sample (memorised)."""
    config, success = result.metrics["config"], result.metrics["success_steps"]
    wins = [s for s in success if s is not None]
    low, high = wilson_interval(len(wins), len(success))
    return {"init": config["init"], "width": config["width"], "m": config["m"],
            "weight_decay": config["weight_decay"], "max_steps": config["max_steps"],
            "successes": len(wins), "runs": len(success),
            "success_rate": len(wins) / len(success), "ci_low": low, "ci_high": high,
            "median_steps": round(statistics.median(wins)) if wins else None,
            "memorised_rate": sum(result.metrics["memorised"]) / len(success)}


def grid_table(results: list[Result]) -> list[dict]:
    return sorted((cell_row(r) for r in results), key=lambda r: (r["init"], r["width"], r["m"]))


def _crossing(ms: list[int], rates: np.ndarray, level: float) -> float:
    """The m at which the success rate first reaches `level`, interpolated linearly between grid
    sizes; -inf if the smallest m already reaches it, inf if none does."""
    if rates[0] >= level:
        return -np.inf
    for (m0, r0), (m1, r1) in zip(zip(ms, rates), zip(ms[1:], rates[1:])):
        if r1 >= level:
            return float(m0 + (level - r0) / (r1 - r0) * (m1 - m0))
    return np.inf


def frontier(rows: list[dict], init: str, width: int, level: float = 0.5, resamples: int = 2000,
             seed: int = 0) -> dict:
    """The frontier as the paper draws it: the m at which (init, width) succeeds `level` of the time.

    ``m_half`` interpolates between grid sizes; ``ci`` is a 95% percentile bootstrap over seeds
    (each cell's runs resampled with replacement). An end is None where the crossing leaves the grid
    (below the smallest m, or never reached) in more than 2.5% of the resamples; ``censored`` says
    which way: "below" (succeeds at the smallest m already) or "above" (never reaches `level`).
    """
    cells = sorted((r for r in rows if r["init"] == init and r["width"] == width), key=lambda r: r["m"])
    ms = [r["m"] for r in cells]
    successes = np.array([r["successes"] for r in cells])
    runs = np.array([r["runs"] for r in cells])
    m_half = _crossing(ms, successes / runs, level)
    draws = np.random.default_rng(seed).binomial(runs, successes / runs, size=(resamples, len(ms))) / runs
    crossings = np.array([_crossing(ms, rates, level) for rates in draws])
    low, high = np.quantile(crossings, [0.025, 0.975], method="inverted_cdf")  # no interpolation between infinities
    def finite(value: float) -> float | None:
        return float(value) if np.isfinite(value) else None
    return {"m_half": finite(m_half), "ci": [finite(low), finite(high)],
            "censored": "below" if m_half == -np.inf else "above" if m_half == np.inf else None}


def first_m_reaching(rows: list[dict], init: str, width: int, level: float = 0.5) -> int | None:
    """The smallest grid size m at which (init, width) succeeds at least `level` of the time."""
    found = [r["m"] for r in rows if r["init"] == init and r["width"] == width and r["success_rate"] >= level]
    return min(found, default=None)


def frontiers(rows: list[dict]) -> dict:
    widths = sorted({r["width"] for r in rows})
    return {init: {width: frontier(rows, init, width) for width in widths} for init in INITIALISATIONS}


def width_tests(rows: list[dict]) -> list[dict]:
    """For each initialisation and m, and each pair of adjacent widths, the one-sided Fisher exact
    test of "the wider network succeeds less often": a small p says width hurt."""
    from scipy.stats import fisher_exact

    cell = {(r["init"], r["m"], r["width"]): r for r in rows}
    widths = sorted({r["width"] for r in rows})
    tests = []
    for init, m in sorted({(r["init"], r["m"]) for r in rows}):
        for narrow, wide in zip(widths, widths[1:]):
            a, b = cell[(init, m, wide)], cell[(init, m, narrow)]
            table = [[a["successes"], a["runs"] - a["successes"]], [b["successes"], b["runs"] - b["successes"]]]
            tests.append({"init": init, "m": m, "narrow": narrow, "wide": wide,
                          "narrow_rate": b["success_rate"], "wide_rate": a["success_rate"],
                          "p_wider_worse": float(fisher_exact(table, alternative="less").pvalue),
                          "p_wider_better": float(fisher_exact(table, alternative="greater").pvalue)})
    return tests


def holm(p_values: list[float], alpha: float = SIGNIFICANCE) -> list[bool]:
    """Holm's step-down rejections: which of several tests stay significant at family-wise `alpha`."""
    order = np.argsort(p_values)
    rejected = [False] * len(p_values)
    for rank, i in enumerate(order):
        if p_values[i] > alpha / (len(p_values) - rank):
            break
        rejected[i] = True
    return rejected


def width_summary(tests: list[dict]) -> dict:
    """How many adjacent-width steps made things significantly worse, or better, after Holm's
    correction over all of them, and which."""
    worse = holm([t["p_wider_worse"] for t in tests])
    better = holm([t["p_wider_better"] for t in tests])

    def pick(flags: list[bool]) -> list[dict]:
        return [{k: t[k] for k in ("init", "m", "narrow", "wide", "narrow_rate", "wide_rate")}
                for t, flag in zip(tests, flags) if flag]
    return {"tests": len(tests), "wider_worse": pick(worse), "wider_better": pick(better),
            "smallest_p_wider_worse": min(t["p_wider_worse"] for t in tests)}


def sparse_tests(rows: list[dict]) -> list[dict]:
    """At each (m, width), the one-sided Fisher tests of sparse against dense initialisation."""
    from scipy.stats import fisher_exact

    cell = {(r["init"], r["m"], r["width"]): r for r in rows}
    tests = []
    for m, width in sorted({(r["m"], r["width"]) for r in rows}):
        s, d = cell[("sparse", m, width)], cell[("dense", m, width)]
        table = [[s["successes"], s["runs"] - s["successes"]], [d["successes"], d["runs"] - d["successes"]]]
        tests.append({"m": m, "width": width, "sparse_rate": s["success_rate"], "dense_rate": d["success_rate"],
                      "p_sparse_better": float(fisher_exact(table, alternative="greater").pvalue),
                      "p_sparse_worse": float(fisher_exact(table, alternative="less").pvalue)})
    return tests


def sparse_summary(tests: list[dict]) -> dict:
    better, worse = holm([t["p_sparse_better"] for t in tests]), holm([t["p_sparse_worse"] for t in tests])
    return {"tests": len(tests),
            "sparse_better": [{k: t[k] for k in ("m", "width", "sparse_rate", "dense_rate")}
                              for t, flag in zip(tests, better) if flag],
            "sparse_worse": [{k: t[k] for k in ("m", "width", "sparse_rate", "dense_rate")}
                             for t, flag in zip(tests, worse) if flag]}


def time_comparison(results: list[Result], rows: list[dict]) -> dict:
    """Steps to success, sparse against dense, at the largest m where every cell of the widest width
    succeeds at least half the time: the median ratio dense / sparse per width, with the one-sided
    Mann-Whitney test that sparse needs fewer steps, over the seeds that succeed."""
    from scipy.stats import mannwhitneyu

    steps = {(r.metrics["config"]["init"], r.metrics["config"]["m"], r.metrics["config"]["width"]):
             [s for s in r.metrics["success_steps"] if s is not None] for r in results}
    m = max(r["m"] for r in rows)
    comparison = {}
    for width in sorted({r["width"] for r in rows}):
        sparse, dense = steps[("sparse", m, width)], steps[("dense", m, width)]
        if len(sparse) < 2 or len(dense) < 2:
            continue
        comparison[width] = {"sparse_median": float(np.median(sparse)), "dense_median": float(np.median(dense)),
                             "p_sparse_faster": float(mannwhitneyu(sparse, dense, alternative="less").pvalue)}
    return {"m": m, "by_width": comparison}


def lottery_table(results: list[Result]) -> dict:
    """Per sparsity s: where the tickets started and how often each kind of small network succeeds,
    with the one-sided Fisher test of tickets against random networks."""
    from scipy.stats import fisher_exact

    table = {}
    for result in results:
        metrics = result.metrics
        R = metrics["source"]["replicates"]
        wins = {kind: round(metrics[f"{kind}_success"] * R) for kind in TICKET_KINDS}
        p = fisher_exact([[wins["ticket"], R - wins["ticket"]], [wins["random"], R - wins["random"]]],
                         alternative="greater").pvalue
        table[metrics["source"]["sparsity"]] = {
            "source_success": metrics["source_success"],
            "ticket_overlap": metrics["ticket_overlap"], "random_overlap": metrics["random_overlap"],
            "ticket_cover": metrics["ticket_cover"], "random_cover": metrics["random_cover"],
            "ticket_off_support": metrics["ticket_off_support"],
            "overlap_excess": (mean_interval(metrics["overlap_excess"]) if len(metrics["overlap_excess"]) > 1
                               else {"mean": None, "ci": [None, None]}),
            "rewound_success": metrics["ticket_success"], "weakest_success": metrics["weakest_success"],
            "random_success": metrics["random_success"], "p_ticket_beats_random": float(p), "runs": R,
            "m": metrics["source"]["m"], "source_width": metrics["source"]["width"],
            "ticket_width": metrics["ticket_width"]}
    return table


def paired_difference(a: list[float], b: list[float], names: tuple[str, str]) -> dict:
    """Mean of a - b over the splits with its t interval, and which side of zero it lies on."""
    interval = mean_interval(np.subtract(a, b))
    return {"mean": interval["mean"], "ci": interval["ci"],
            "verdict": verdict(interval, above=f"{names[0]} errs more", below=f"{names[0]} errs less",
                               neither="no difference shown")}


def interval_text(paired: dict) -> str:
    """A paired difference as a table shows it: "-0.012 (-0.020 to -0.004)"."""
    low, high = paired["ci"]
    return f"{paired['mean']:+.3f} ({low:+.3f} to {high:+.3f})"


def tabular_table(results: list[Result]) -> dict:
    """Per (dataset, m): mean test errors, and the paired differences sparse - dense and sparse MLP -
    forest over the same splits, with 95% intervals (negative: the sparse MLP errs less)."""
    paired = []
    for result in results:
        config, errors = result.metrics["config"], result.metrics["errors"]
        paired.append({"dataset": config["dataset"], "m": config["m"], "splits": len(errors["rf"]),
                       **{f"{key}_error": float(np.mean(values)) for key, values in errors.items()},
                       "sparse_minus_dense": paired_difference(errors["mlp_sparse"], errors["mlp_dense"],
                                                               ("sparse", "dense")),
                       "mlp_minus_forest": paired_difference(errors["mlp_sparse"], errors["rf"],
                                                             ("sparse MLP", "forest"))})

    def count(key: str, word: str) -> int:
        return sum(row[key]["verdict"].endswith(word) for row in paired)
    return {"paired": paired,
            "summary": {"cells": len(paired),
                        "sparse_better": count("sparse_minus_dense", "errs less"),
                        "sparse_worse": count("sparse_minus_dense", "errs more"),
                        "mlp_better": count("mlp_minus_forest", "errs less"),
                        "mlp_worse": count("mlp_minus_forest", "errs more")}}


def _fill(kind: str, config) -> None:
    tabular_run(config) if kind == "tabular" else lottery_experiment(config.source, config.ticket_width)


def experiments(scale: str | None = None, seed: int = 0, n_jobs: int = 2) -> dict:
    """The grid, the trap, the lottery tickets and the tabular comparison, trained in parallel where
    missing (the widest networks first, so that the two processes finish together)."""
    scale = resolve_scale(scale)
    grid, trap, sources = grid_configs(scale, seed), trap_configs(scale, seed), lottery_sources(scale, seed)
    training = sorted(dict.fromkeys(grid + sources + trap), key=lambda c: -c.width)
    run_many(training, n_jobs=n_jobs)  # the lottery's s = 3 source is one of the grid's cells
    ticket_width = LOTTERY[scale]["ticket_width"]
    tabular = tabular_configs(scale, seed)
    jobs = ([("lottery", LotteryConfig(source, ticket_width)) for source in sources]
            + [("tabular", config) for config in tabular])
    missing = [{"kind": kind, "config": config} for kind, config in jobs
               if not entry_path(f"{NAME}-{kind}", VERSION, config).exists()]
    if missing:  # no worker processes when everything is cached
        sweep(_fill, missing, n_jobs=n_jobs)
    return {"grid": [run(c) for c in grid], "trap": [run(c) for c in trap],
            "lottery": [lottery_experiment(source, ticket_width) for source in sources],
            "tabular": [tabular_run(c) for c in tabular]}


def trap_table(found: dict) -> list[dict]:
    """The trap's cells beside the same cells with weight decay: successes, and how many runs ended
    memorised (every training sample fitted, test error above 10%)."""
    with_decay = {(r["init"], r["width"], r["m"]): r for r in grid_table(found["grid"])}
    rows = []
    for row in grid_table(found["trap"]):
        decayed = with_decay[(row["init"], row["width"], row["m"])]
        rows.append({key: row[key] for key in ("init", "width", "m", "runs")}
                    | {"successes_without_decay": row["successes"], "memorised_without_decay": row["memorised_rate"],
                       "successes_with_decay": decayed["successes"], "memorised_with_decay": decayed["memorised_rate"]})
    return rows


def analyse(found: dict) -> dict:
    """Every number and verdict the page states, computed from the experiments."""
    rows = grid_table(found["grid"])
    tests = width_tests(rows)
    sparse = sparse_tests(rows)
    return {"grid": rows, "frontier": frontiers(rows), "width_tests": tests, "width_summary": width_summary(tests),
            "sparse_tests": sparse, "sparse_summary": sparse_summary(sparse),
            "time": time_comparison(found["grid"], rows), "trap": trap_table(found),
            "lottery": lottery_table(found["lottery"]), "tabular": tabular_table(found["tabular"])}


def reproducibility_card(results: list[Result]) -> dict:
    walls = [r.metrics["wall_seconds"] for r in results]
    first = results[0].metrics["config"]
    return {
        "experiment": NAME,
        "version": VERSION,
        "grid": {key: first[key] for key in ("n", "k", "sparsity", "lr", "weight_decay", "batch_size", "max_steps",
                                               "test_size", "eval_every", "parametrization", "replicates")},
        "seeds": results[0].metrics["seeds"],
        "wall_seconds_when_trained": round(sum(walls), 1),
        "loaded_from_cache": all(r.from_cache for r in results),
        **environment(threads_per_run=1),
        "full_scale_changes": {"grid": SCALES["full"], "lottery": LOTTERY["full"], "tabular": TABULAR["full"]},
    }


def reproduce(scale: str | None = None, seed: int = 0) -> dict:
    """What `python -m companion reproduce pareto-frontiers` writes to pareto-frontiers.json."""
    scale = resolve_scale(scale)
    found = experiments(scale, seed)
    return {"topic": NAME, "scale": scale, "seed": seed, "config": found["grid"][0].metrics["config"],
            **analyse(found)}
