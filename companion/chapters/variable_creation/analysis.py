"""Variable creation: the runs the chapter needs, and what it concludes from them.

`experiment.py` trains one cell (a model, T and m, over seeds) and `search.py` finds m* for one (model,
T); this module plans every chain of scans (the [CLS] block, the tuned MLP baseline, the recipe's
variants), fits the laws of m* against T with bootstrap intervals over seeds, and writes the report
`reproduce` returns. What the page says about the report is in `page.py`.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from companion.core import runtime
from companion.core.cache import Result
from companion.core.config import resolve_scale
from companion.core.sweeps import sweep

from .experiment import ATTENTION_LRS, MLP_TUNING, MODELS, NAME, RECIPES, SCALES, VERSION, WEIGHT_DECAY
from .search import chain, critical_m, success_rate


def recipe_name(recipe: dict) -> str:
    return ", ".join(f"{key} {value:g}" for key, value in recipe.items())


def _tasks(scale: str, seed: int) -> dict[str, dict]:
    """Every chain the chapter needs, by name. The variants of the attention recipe are `guided` by
    the main chain's m*."""
    plan = SCALES[scale]
    # the main chain goes a grid step past each m*, so that its bootstrap intervals have an upper end
    tasks = {"attention": dict(model="attention", Ts=plan["Ts"], past=1)}
    for recipe in MLP_TUNING:
        tasks[f"mlp, {recipe_name(recipe)}"] = dict(model="mlp", Ts=plan["mlp_Ts"], changes=recipe)
    tasks["weight_decay"] = dict(model="attention", Ts=plan["weight_decay_Ts"],
                                 changes={"weight_decay": WEIGHT_DECAY}, guided=True)
    for lr in ATTENTION_LRS[1:]:
        tasks[f"lr {lr:g}"] = dict(model="attention", Ts=plan["recipe_Ts"], changes={"lr": lr}, guided=True)
    return {name: {**task, "scale": scale, "seed": seed} for name, task in tasks.items()}


def _run_chain(model: str, Ts, scale: str, seed: int, changes: dict | None = None, guided: bool = False,
               past: int = 0):
    guide = None
    if guided:  # the main chain up to these T, from the cache once it has got that far
        main = chain("attention", [T for T in SCALES[scale]["Ts"] if T <= max(Ts)], scale, seed, past=1)
        guide = {T: critical_m(results) for T, results in main.items()}
    return chain(model, Ts, scale, seed, guide=guide, past=past, **(changes or {}))


def _run_chains(tasks: list[dict]) -> None:
    for task in tasks:
        _run_chain(**task)  # results land in the cache; the parent reads them back


def experiments(scale: str | None = None, seed: int = 0, n_jobs: int = 2) -> dict:
    """Every scan of the chapter, in parallel, from the cache when it is there:

    - "attention": {T: results}, the [CLS] block with its recipe;
    - "mlp": {T: results}, the tuned baseline, the best recipe of MLP_TUNING at each T;
    - "mlp_tuning": {recipe name: {T: results}};
    - "weight_decay": {T: results}, the [CLS] block trained with AdamW's weight decay;
    - "learning_rates": {lr: {T: results}}, the [CLS] block at each of ATTENTION_LRS.

    One process runs the main attention chain; the other the MLP's chains and then the variants of
    the attention recipe, which the main chain's m* guide (it is done by then; were it not, the cache's
    entry locks would have the two processes share its cells, not compute them twice).
    """
    scale = resolve_scale(scale)
    tasks = _tasks(scale, seed)
    groups = [[tasks["attention"]], [task for name, task in tasks.items() if name != "attention"]]
    sweep(_run_chains, [{"tasks": group} for group in groups], n_jobs=n_jobs)
    chains = {name: _run_chain(**task) for name, task in tasks.items()}
    tuning = {recipe_name(recipe): chains[f"mlp, {recipe_name(recipe)}"] for recipe in MLP_TUNING}
    learning_rates = {ATTENTION_LRS[0]: {T: chains["attention"][T] for T in SCALES[scale]["recipe_Ts"]},
                      **{lr: chains[f"lr {lr:g}"] for lr in ATTENTION_LRS[1:]}}
    return {"attention": chains["attention"], "mlp": best_recipe(tuning), "mlp_tuning": tuning,
            "weight_decay": chains["weight_decay"], "learning_rates": learning_rates}


def best_recipe(tuning: dict[str, dict[int, list[Result]]]) -> dict[int, list[Result]]:
    """At each T, the scan of the recipe with the smallest m* (ties: the higher success rate there)."""
    def rank(results):
        star = critical_m(results)
        at_star = next((success_rate(r) for r in results if r.metrics["config"]["m"] == star), 0.0)
        return (math.inf if star is None else star, -at_star)

    Ts = sorted(set.intersection(*(set(scans) for scans in tuning.values())))
    return {T: min((scans[T] for scans in tuning.values()), key=rank) for T in Ts}


def critical_ms(scans: dict[int, list[Result]]) -> list[int | None]:
    return [critical_m(scans[T]) for T in sorted(scans)]


def critical_m_interval(results: list[Result], confidence: float = 0.95, draws: int = 2000,
                        seed: int = 0) -> list[float | None]:
    """A bootstrap interval for m* over seeds: the seeds are drawn again with replacement (the same
    draw at every m, since replicate i is seed i in every cell) and m* found again. An end beyond the
    scanned m is None; below the smallest scanned m the interval can say only "at most that"."""
    stars = resampled_critical_ms(results, np.random.default_rng(seed), draws)
    low, high = np.quantile(stars, [(1 - confidence) / 2, (1 + confidence) / 2], method="nearest")
    return [None if np.isinf(low) else float(low), None if np.isinf(high) else float(high)]


def resampled_critical_ms(results: list[Result], rng: np.random.Generator, draws: int) -> np.ndarray:
    """m* after drawing the seeds again with replacement, `draws` times (the same draw at every m, since
    replicate i has the same seed in every cell): (draws,), inf where no scanned m reaches half."""
    success = np.array([r.metrics["success"] for r in results], dtype=float)  # (cells, seeds)
    ms = np.array([r.metrics["config"]["m"] for r in results], dtype=float)
    picks = rng.integers(0, success.shape[1], size=(draws, success.shape[1]))
    reached = success[:, picks].mean(-1) >= 0.5  # (cells, draws)
    return np.where(reached.any(0), ms[reached.argmax(0)], np.inf)


def log_fit(Ts: list[int], values: list[float]) -> dict:
    """Least squares m* = a + b ln T, with its r^2 (scipy's linregress)."""
    # scipy is imported here, not at the top: only the runs that use it pay its second of loading
    from scipy.stats import linregress

    fit = linregress(np.log(Ts), values)
    return {"a": float(fit.intercept), "b": float(fit.slope), "r2": float(fit.rvalue**2)}


def power_fit(Ts: list[int], values: list[float]) -> dict:
    """Least squares m* = c T^p on m* itself (as the log law is fitted), started from the log-log line,
    with its r^2."""
    from scipy.optimize import OptimizeWarning, curve_fit
    from scipy.stats import linregress

    Ts, values = np.asarray(Ts, dtype=float), np.asarray(values, dtype=float)
    start = linregress(np.log(Ts), np.log(values))
    with warnings.catch_warnings():  # the fit's covariance, which three points cannot give, is not used
        warnings.simplefilter("ignore", OptimizeWarning)
        (c, p), _ = curve_fit(lambda T, c, p: c * T**p, Ts, values, p0=(math.exp(start.intercept), start.slope),
                              maxfev=10000)
    residual = values - c * Ts**p
    return {"c": float(c), "exponent": float(p),
            "r2": float(1 - residual @ residual / ((values - values.mean()) @ (values - values.mean())))}


def polylog_fit(Ts: list[int], values: list[float]) -> dict:
    """Least squares m* = c (ln T)^k on m* itself: the growth the theorem allows once the norms it
    bounds must themselves grow like log T to represent the function."""
    return power_fit(np.log(np.asarray(Ts, dtype=float)), values)


def predict(law: str, fit: dict, T) -> np.ndarray:
    T = np.asarray(T, dtype=float)
    if law == "log":
        return fit["a"] + fit["b"] * np.log(T)
    return fit["c"] * (T if law == "power" else np.log(T)) ** fit["exponent"]


LAWS = ("log", "power", "polylog")
FITS = {"log": log_fit, "power": power_fit, "polylog": polylog_fit}


def residual_sum_of_squares(law: str, fit: dict, Ts, values) -> float:
    """Floored so that an exact fit (made-up data) still gives a finite likelihood ratio."""
    values = np.asarray(values, dtype=float)
    return max(float(np.sum((values - predict(law, fit, Ts)) ** 2)), 1e-12 * float(np.sum(values**2)))


def log_likelihood_ratio(n: int, rss_first: float, rss_second: float) -> float:
    """Gaussian errors, both laws with two parameters: ln L(second) - ln L(first), reading a value beyond
    1 (a factor e, Akaike's rule for equal parameter counts) as favouring the second law."""
    return n / 2 * math.log(rss_first / rss_second)


def favoured_law(ratio: float) -> str:
    """From `log_likelihood_ratio(n, rss_power, rss_log)`."""
    return "log" if ratio > 1 else "power" if ratio < -1 else "neither"


def compare_laws(Ts: list[int], values: list[float], fitted_up_to: int, interval_width: float) -> dict:
    """m* = a + b ln T against m* = c T^p (and m* = c (ln T)^k), each with two parameters.

    - Out of sample: each law is fitted on T <= `fitted_up_to` and predicts the longer contexts; its
      `extrapolation_error` is the mean relative error there.
    - On all points: both fitted by least squares with Gaussian errors, so their log-likelihoods differ
      by (n/2) ln(RSS_power / RSS_log); `log_likelihood_ratio` > 0 favours the log law. Akaike's
      rule (the same number of parameters) reads a ratio beyond 1 (a factor e) as favouring a law.
      `polylog_vs_power` is the same ratio for (ln T)^k against T^p.
    - `separating_T`: the shortest context, doubling from the longest measured, at which the log and
      power laws fitted on all points differ by more than `interval_width` (a bootstrap interval's
      width relative to m*), that is, how far the range would have to extend to tell them apart.
    """
    Ts, values = list(Ts), [float(v) for v in values]
    inside = [i for i, T in enumerate(Ts) if T <= fitted_up_to]
    outside = [i for i, T in enumerate(Ts) if T > fitted_up_to]
    fits = {}
    for law in LAWS:
        fit = FITS[law](Ts, values)
        early = FITS[law]([Ts[i] for i in inside], [values[i] for i in inside])
        guesses = predict(law, early, [Ts[i] for i in outside])
        fit["extrapolation_error"] = (float(np.mean([abs(g - values[i]) / values[i] for g, i in zip(guesses, outside)]))
                                      if outside else None)
        fit["predicted"] = {str(Ts[i]): float(g) for g, i in zip(guesses, outside)}
        fit["rss"] = residual_sum_of_squares(law, fit, Ts, values)
        fits[law] = fit
    ratio = log_likelihood_ratio(len(Ts), fits["power"]["rss"], fits["log"]["rss"])
    favoured = favoured_law(ratio)
    separating = None
    for doublings in range(0, 21):
        T = Ts[-1] * 2**doublings
        guesses = [float(predict(law, fits[law], T)) for law in ("log", "power")]
        if abs(guesses[0] - guesses[1]) > interval_width * np.mean(guesses):
            separating = T
            break
    polylog = log_likelihood_ratio(len(Ts), fits["power"]["rss"], fits["polylog"]["rss"])
    return {**fits, "log_likelihood_ratio": float(ratio), "favoured": favoured, "fitted_up_to": fitted_up_to,
            "separating_T": separating, "polylog_vs_power": float(polylog)}


def law_bootstrap(scans: dict[int, list[Result]], draws: int = 300, seed: int = 0) -> dict:
    """How firmly the seeds support the favoured law: the seeds of every T drawn again with replacement,
    m* found again at each T, both laws refitted and compared as in `compare_laws`. Returns the share
    of draws favouring each law and neither, over the draws where every T has an m* within its scan."""
    rng = np.random.default_rng(seed)
    Ts = sorted(scans)
    stars = np.stack([resampled_critical_ms(scans[T], rng, draws) for T in Ts], 1)  # (draws, Ts)
    verdicts = []
    for values in stars[np.isfinite(stars).all(1)]:
        rss = {law: residual_sum_of_squares(law, FITS[law](Ts, values), Ts, values) for law in ("log", "power")}
        verdicts.append(favoured_law(log_likelihood_ratio(len(Ts), rss["power"], rss["log"])))
    return {law: verdicts.count(law) / len(verdicts) for law in ("log", "power", "neither")} | {"draws": len(verdicts)}


def relative_interval_width(results: list[Result]) -> float:
    """The bootstrap interval of m* as a fraction of m* (a missing end counts as the scan's edge)."""
    star = critical_m(results)
    low, high = critical_m_interval(results)
    ms = [r.metrics["config"]["m"] for r in results]
    return float(((high or max(ms)) - (low or min(ms))) / star)


def grows_like_log(Ts: list[int], values: list[float], fitted_up_to: int | None = None) -> bool:
    """The chapter's verdict "m* grows like log T": the log law is not disfavoured on all points and
    it predicts the longest contexts better than the power law does. Fails for values proportional
    to T^0.5, and for a power law of smaller exponent once the range can tell them apart."""
    fitted_up_to = fitted_up_to or Ts[len(Ts) // 2]
    laws = compare_laws(Ts, values, fitted_up_to, interval_width=0.0)
    return laws["favoured"] != "power" and laws["log"]["extrapolation_error"] <= laws["power"]["extrapolation_error"]


def norm_summary(scans: dict[int, list[Result]]) -> dict[str, dict]:
    """Per T, the medians over the solved runs (every cell of the scan) of the norms the theorem bounds."""
    table = {}
    for T, results in sorted(scans.items()):
        solved = [(r.metrics["norms"], i) for r in results for i, ok in enumerate(r.metrics["success"]) if ok]
        if solved:
            table[str(T)] = {key: float(np.median([norms[key][i] for norms, i in solved]))
                             for key in ("qk", "value", "position")} | {"runs": len(solved)}
    return table


def _support_masses(scans: dict[int, list[Result]], solved: bool) -> np.ndarray:
    return np.array([mass for results in scans.values() for r in results
                     for mass, ok in zip(r.metrics["attention_on_support"], r.metrics["success"]) if ok == solved])


def attention_on_support(scans: dict[int, list[Result]]) -> dict:
    """[CLS] attention mass on the support over every solved attention run (replicate and cell)."""
    masses = _support_masses(scans, solved=True)
    return {"mean": float(masses.mean()), "median": float(np.median(masses)),
            "share_above_half": float(np.mean(masses > 0.5)), "solved_runs": len(masses)}


def attention_on_support_unsolved(scans: dict[int, list[Result]]) -> dict:
    """The same over the runs that did not reach the success accuracy: the measure's control."""
    masses = _support_masses(scans, solved=False)
    return {"mean": float(masses.mean()), "median": float(np.median(masses)), "unsolved_runs": len(masses)}


def failures_past_critical(results: list[Result]) -> dict:
    """The runs that still fail at m above m*: how many, their test accuracy, their [CLS] attention on
    the support (median), and how many of them put less than a tenth and more than half of it there."""
    star = critical_m(results)
    accuracies, masses = [], []
    for r in results:
        if star is not None and r.metrics["config"]["m"] > star:
            for accuracy, mass, ok in zip(r.metrics["test_accuracy"], r.metrics["attention_on_support"],
                                          r.metrics["success"]):
                if not ok:
                    accuracies.append(accuracy)
                    masses.append(mass)
    runs = sum(len(r.metrics["success"]) for r in results if star is not None and r.metrics["config"]["m"] > star)
    return {"failed_runs": len(accuracies), "runs": runs,
            "median_accuracy": float(np.median(accuracies)) if accuracies else None,
            "median_attention_on_support": float(np.median(masses)) if masses else None,
            "below_tenth": sum(mass < 0.1 for mass in masses), "above_half": sum(mass > 0.5 for mass in masses)}


def fitted_up_to(Ts) -> int:
    """The laws are fitted on T up to a quarter of the longest context and judged on the rest."""
    return max(T for T in Ts if T <= Ts[-1] // 4)


def growth(Ts, values, up_to: int | None = None) -> float | None:
    chosen = [v for T, v in zip(Ts, values) if up_to is None or T <= up_to]
    return None if None in chosen else chosen[-1] / chosen[0]


def summary(found: dict) -> dict:
    Ts = sorted(found["attention"])
    attention = critical_ms(found["attention"])
    baseline_Ts = sorted(found["mlp"])
    baseline = critical_ms(found["mlp"])
    report = {"T": Ts, "critical_m": attention,
              "critical_m_ci": [critical_m_interval(found["attention"][T]) for T in Ts],
              "replicates": [found["attention"][T][0].metrics["config"]["replicates"] for T in Ts],
              "growth": growth(Ts, attention),
              "baseline_T": baseline_Ts, "baseline_critical_m": baseline,
              "baseline_recipe": {str(T): recipe_name({key: found["mlp"][T][0].metrics["config"][key]
                                                       for key in ("width", "lr")}) for T in baseline_Ts},
              "baseline_tuning": {name: critical_ms(scans) for name, scans in found["mlp_tuning"].items()},
              "baseline_growth": growth(baseline_Ts, baseline),
              "growth_over_baseline_range": growth(Ts, attention, up_to=baseline_Ts[-1])}
    if None not in attention:
        # two laws are told apart where they differ by more than the interval of the longest context
        width = relative_interval_width(found["attention"][Ts[-1]])
        report["fits"] = compare_laws(Ts, attention, fitted_up_to(Ts), width)
        report["grows_like_log"] = grows_like_log(Ts, attention, fitted_up_to(Ts))
        report["fits"]["bootstrap"] = law_bootstrap(found["attention"])
    report["norms"] = norm_summary(found["attention"])
    decayed = found["weight_decay"]
    report["weight_decay"] = {"weight_decay": WEIGHT_DECAY, "T": sorted(decayed), "critical_m": critical_ms(decayed),
                              "critical_m_ci": [critical_m_interval(decayed[T]) for T in sorted(decayed)],
                              "norms": norm_summary(decayed)}
    report["recipes"] = [{"lr": lr, "T": T, "critical_m": critical_m(results)}
                         for lr, scans in found["learning_rates"].items() for T, results in sorted(scans.items())]
    solved = attention_on_support(found["attention"])
    report["cls_attention_on_support"] = solved["mean"]
    report["attention_on_support"] = solved
    report["attention_on_support_unsolved"] = attention_on_support_unsolved(found["attention"])
    report["late_failures"] = failures_past_critical(found["attention"][Ts[-1]])
    return report


def curves(results: list[Result]) -> dict:
    """Test accuracy against m for one scan: mean and per seed, with success rates."""
    return {"m": [r.metrics["config"]["m"] for r in results],
            "mean_accuracy": [float(np.mean(r.metrics["test_accuracy"])) for r in results],
            "accuracy": [r.metrics["test_accuracy"] for r in results],
            "success_rate": [success_rate(r) for r in results]}


def reproduce(scale: str | None = None, seed: int = 0) -> dict:
    """What `python -m companion reproduce variable-creation` writes to variable-creation.json."""
    scale = resolve_scale(scale)
    found = experiments(scale, seed)
    return {"topic": NAME, "scale": scale, "seed": seed, **summary(found),
            "curves": {model: {str(T): curves(results) for T, results in found[model].items()}
                       for model in MODELS},
            "training_recipes": RECIPES, "mlp_tuning_grid": list(MLP_TUNING), "plan": SCALES[scale]}


def every_result(found: dict) -> list[Result]:
    """Every cell behind the chapter, once (the baseline's scans are among the tuning's)."""
    groups = [found["attention"], found["weight_decay"], *found["mlp_tuning"].values(),
              *(scans for lr, scans in found["learning_rates"].items() if lr != ATTENTION_LRS[0])]
    return [r for scans in groups for results in scans.values() for r in results]


def reproducibility_card(found: dict) -> dict:
    results = every_result(found)
    return {
        "experiment": NAME,
        "version": VERSION,
        "recipes": RECIPES,
        "mlp_tuning": [recipe_name(recipe) for recipe in MLP_TUNING],
        "weight_decay_variant": WEIGHT_DECAY,
        "attention_learning_rates": list(ATTENTION_LRS),
        "T": sorted(found["attention"]),
        "replicates": {**{f"attention, T = {T}": found["attention"][T][0].metrics["config"]["replicates"]
                          for T in sorted(found["attention"])},
                       "mlp": next(iter(found["mlp"].values()))[0].metrics["config"]["replicates"]},
        "m_grid": "10 x sqrt(2)^i; each T's scan starts a little below the m* the previous T predicts",
        "cells_trained": len(results),
        "wall_seconds_when_trained": round(sum(r.metrics["wall_seconds"] for r in results), 1),
        "loaded_from_cache": all(r.from_cache for r in results),
        **runtime.environment(threads_per_run=1),
        "full_scale": SCALES["full"],
    }
