"""Variable creation: every sentence and verdict word the page shows, from the report.

`page_values(report)` gives the page's computed Markdown, one entry per section; the notebook shows each
with `companion.core.prose.show`. The sentences that interpret a result are chosen here from the
measurement, so the page cannot claim what its runs did not show.
"""

from __future__ import annotations

import math

from companion.core.prose import Claim, reproduced_table

from .analysis import LAWS, power_fit

FIRM = 0.8  # a law is "favoured" over seeds when at least this share of the bootstrap draws favour it


def trend(values: list[float]) -> str:
    """A norm's trend over growing T in words: steady (Spearman rank correlation beyond 0.8 in size
    and a change of more than 10% end to end), or none."""
    from scipy.stats import spearmanr

    rho = spearmanr(range(len(values)), values).statistic
    change = values[-1] / values[0]
    if rho >= 0.8 and change > 1.1:
        return "grows steadily"
    if rho <= -0.8 and change < 1 / 1.1:
        return "falls steadily"
    return "has no steady trend"


def _inside(m: int | None, interval: list[float | None]) -> bool:
    """Whether m lies in a bootstrap interval whose missing ends are open."""
    low, high = interval
    return m is not None and (low or 0) <= m <= (high or math.inf)


def _ratio(first, last) -> str:
    return f"{last / first:.1f}"


def _baseline_slope(report: dict) -> float:
    return power_fit(report["baseline_T"], report["baseline_critical_m"])["exponent"]


def claims(report: dict) -> list[Claim]:
    """The What-reproduced table: the paper's claims, what the runs measured, and a verdict each."""
    Ts, shares = report["T"], report["fits"]["bootstrap"]
    solved = report["attention_on_support"]
    slower = report["growth_over_baseline_range"] < report["baseline_growth"]
    return [
        Claim("The samples an attention block needs to learn a sparse function grow only like $\\log T$ (up to "
              "polylogarithmic factors of its norms).",
              f"$m^*$ grows by a factor {report['growth']:.1f} over a {Ts[-1] // Ts[0]}-fold range of $T$; over the "
              f"seeds, {shares['log']:.0%} of bootstrap draws favour $\\log T$, {shares['power']:.0%} a small power "
              "of $T$",
              "reproduced" if shares["log"] >= FIRM else "partly" if shares["log"] > shares["power"] else
              "not reproduced"),
        Claim("Unlike a learner that treats every input alike, attention's sample need grows far more slowly than "
              "$T$ (the tuned perceptron on the flattened bits as the baseline).",
              f"over the same range $m^*$ grows by {report['growth_over_baseline_range']:.1f} for attention, by "
              f"{report['baseline_growth']:.1f} for the perceptron ($T^{{{_baseline_slope(report):.2f}}}$)",
              "reproduced" if slower else "departs"),
        Claim("The trained head creates the sparse variables: its attention sits on the support.",
              f"solved runs put {solved['mean']:.2f} of the [CLS] attention on the support on average, "
              f"{solved['share_above_half']:.0%} of them more than half; uniform attention: "
              f"{3 / (Ts[-1] + 1):.3f} to {3 / (Ts[0] + 1):.2f}",
              "reproduced" if solved["share_above_half"] >= 0.5 else "partly" if solved["mean"] > 3 / (Ts[0] + 1)
              else "not reproduced"),
    ]


def settings(report: dict) -> str:
    Ts, replicates = report["T"], report["replicates"]
    longer = next(T for T, r in zip(Ts, replicates) if r == replicates[-1])
    return (f"Context lengths $T \\in \\{{{', '.join(f'{T:,}' for T in Ts)}\\}}$; {replicates[0]} seeds at each $T$"
            + (f" ({replicates[-1]} from $T = {longer:,}$, where a cell costs most)" if replicates[-1] != replicates[0]
               else "") + f"; the perceptron up to $T = {report['baseline_T'][-1]:,}$. A run succeeds at test "
            "accuracy 0.95 on 2,000 fresh inputs.\n")


def critical(report: dict) -> str:
    Ts, stars = report["T"], report["critical_m"]
    baseline = report["baseline_critical_m"]
    return (f"Over a {Ts[-1] // Ts[0]}-fold range of context lengths, from $T = {Ts[0]}$ to {Ts[-1]:,}, the "
            f"attention block's critical sample size goes from {stars[0]} to {stars[-1]}: a factor "
            f"{report['growth']:.1f}. Each point has a 95% bootstrap interval over its seeds (left). The tuned "
            f"perceptron needs {baseline[0]} samples at $T = {Ts[0]}$ and {baseline[-1]} at $T = "
            f"{report['baseline_T'][-1]:,}$: a factor {report['baseline_growth']:.1f} over a "
            f"{report['baseline_T'][-1] // report['baseline_T'][0]}-fold range, $T$ to the power "
            f"{_baseline_slope(report):.2f} (right, where the dotted line, proportional to $T$, has slope 1), "
            f"against {report['growth_over_baseline_range']:.1f} for attention over the same range. Its cells cost "
            "in proportion to $T$ and $m$, both growing, so the book stops it there; `--scale full` goes further.\n")


def _law_consequence(shares: dict) -> str:
    firm = max(shares["power"], shares["log"]) >= FIRM
    if firm:
        return ("So this measurement does not show $m^*$ growing like $\\log T$: over this range its growth is better "
                "described as a small power of $T$." if shares["power"] > shares["log"] else
                "So over this range $m^*$ grows like $\\log T$, as the theorem's bound suggests.")
    return ("So this measurement leans towards a small power of $T$ over $\\log T$, without settling it: that $m^*$ "
            "grows like $\\log T$ is neither shown nor ruled out here." if shares["power"] > 2 * shares["log"] else
            "So this measurement cannot say whether $m^*$ grows like $\\log T$ or like a small power of $T$.")


def _polylog(fits: dict) -> str:
    polylog = fits["polylog_vs_power"]
    fitted = (f"$m^* = c\\,(\\ln T)^k$, with its best $k = {fits['polylog']['exponent']:.2f}$, misses the held-out "
              f"contexts by {fits['polylog']['extrapolation_error']:.0%} and")
    if abs(polylog) <= 1:
        return f"Over this range such a law is hard to tell from $T^p$: {fitted} fits about as well as the power law."
    if polylog > 1:
        return (f"Here it even does better than $T^p$: {fitted} fits better than the power law, by a likelihood factor "
                f"{math.exp(polylog):,.0f}.")
    return (f"Here that does not rescue a logarithmic law: {fitted} fits worse than $T^p$, by a likelihood factor "
            f"{math.exp(-polylog):,.0f}.")


def _separating(report: dict) -> str:
    Ts, separating = report["T"], report["fits"]["separating_T"]
    if separating == Ts[-1]:
        return "the log and power laws fitted here already differ by more than that interval within the measured range"
    if separating:
        return (f"the log and power laws fitted here would differ by more than that interval only from "
                f"$T = {separating:,}$, contexts {separating // Ts[-1]} times longer than the longest measured")
    return (f"the log and power laws fitted here would not differ by more than that interval before "
            f"$T = {Ts[-1] * 2**20:,}$")


def laws(report: dict) -> str:
    """A logarithm or a small power: out of sample, by likelihood, and over resampled seeds."""
    Ts, fits = report["T"], report["fits"]
    shares = fits["bootstrap"]
    held_out = " and ".join(f"{T:,}" for T in Ts if T > fits["fitted_up_to"])
    verdict = {"power": "On these seeds the data favour the small power law",
               "log": "On these seeds the data favour the logarithm",
               "neither": "On these seeds the data cannot choose between the two laws"}[fits["favoured"]]
    errors = {law: f"{fits[law]['extrapolation_error']:.0%}" for law in LAWS}
    return (f"Each law is fitted on $T \\le {fits['fitted_up_to']:,}$ only and asked to predict $T = {held_out}$. The "
            f"log law misses by {errors['log']} on average, the power law ($p = {fits['power']['exponent']:.2f}$) by "
            f"{errors['power']} (left figure above: dashed and dotted lines, the shaded band is the held-out range). "
            "On all points, both laws have two parameters, so the ratio of their Gaussian likelihoods compares them "
            f"fairly; here it is a factor {math.exp(abs(fits['log_likelihood_ratio'])):,.0f}.\n\n"
            f"{verdict}. But the seeds decide much of this: drawing them again with replacement (at every $T$, "
            f"{shares['draws']} times) and repeating the comparison favours the power law in {shares['power']:.0%} "
            f"of the draws, the logarithm in {shares['log']:.0%}, and neither in {shares['neither']:.0%}. "
            f"{_law_consequence(shares)} The theorem itself does not promise a bare $\\log T$: it bounds what a "
            "bounded-norm head *can* learn by $B^2 \\log T / m$ up to logarithms, and its part 2 says the norms $B$ "
            "needed to represent the AND themselves grow like $\\log T$, so a sample need growing like a power of "
            f"$\\ln T$ is what the theory allows. {_polylog(fits)} The next section measures the norms. With "
            f"intervals as wide as the longest context's, {_separating(report)}.\n")


def norms_setting(report: dict) -> str:
    decayed = report["weight_decay"]
    return (f"A variant trains the same block with AdamW and weight decay {decayed['weight_decay']:g} on every weight, "
            f"the bounded-norm regime, and finds its own $m^*$ at $T = {', '.join(str(T) for T in decayed['T'])}$.\n")


def norm_reading(report: dict) -> str:
    """The norms of the solved runs over T, and what weight decay changes."""
    Ts, stars, adam, decayed = report["T"], report["critical_m"], report["norms"], report["weight_decay"]
    wd_Ts = sorted(decayed["norms"], key=int)
    trends = {key: trend([adam[str(T)][key] for T in Ts]) for key in ("qk", "value", "position")}
    paths = {key: " → ".join(f"{adam[str(T)][key]:.1f}" for T in Ts) for key in trends}
    inside = [_inside(m, report["critical_m_ci"][Ts.index(T)]) for T, m in zip(decayed["T"], decayed["critical_m"])]
    lower = all(decayed["norms"][T][key] < adam[T][key] for T in decayed["norms"] for key in ("qk", "position"))
    ends = {key: f"{decayed['norms'][wd_Ts[0]][key]:.1f} to {decayed['norms'][wd_Ts[-1]][key]:.1f}"
            for key in ("qk", "position")}
    return (f"Over $T = {Ts[0]}$ to {Ts[-1]:,}, with Adam, the largest position embedding {trends['position']} "
            f"({paths['position']}), the query-key product {trends['qk']} ({paths['qk']}) and the value map "
            f"{trends['value']} ({paths['value']}). The representation half of the theorem says the scores must grow "
            "like $\\log T$ for the support to outweigh $T$ other positions. "
            + ("The positions' steady growth is one way to pay for that. " if trends["position"] == "grows steadily"
               else "The positions do not grow steadily, so that is not how these heads pay for it. ")
            + ("Weight decay holds the query-key and position norms lower at every $T$ both measured" if lower else
               "Weight decay does not hold every norm lower")
            + f" (query-key {ends['qk']}, positions {ends['position']} over $T = "
              f"{', '.join(str(T) for T in decayed['T'])}$), and the weight-decay $m^*$ lies inside the bootstrap "
              f"interval of the run without it at {sum(inside)} of {len(inside)} context lengths: $m^* = "
              f"{', '.join(str(m) for m in decayed['critical_m'])}$ with weight decay against "
              f"{', '.join(str(stars[Ts.index(T)]) for T in decayed['T'])} without, at the same $T$. "
            + ("So bounding the norms makes no difference to $m^*$ that these seeds can detect.\n" if all(inside) else
               "So bounding the norms moves $m^*$ at some $T$ by more than these seeds' spread; the comparison is "
               "unpaired, and a grid step is a factor 1.4.\n"))


def recipe(report: dict) -> str:
    """How much of m* is the learning rate, and which perceptron recipes won."""
    Ts, by_lr = report["T"], {}
    for row in report["recipes"]:
        by_lr.setdefault(row["lr"], {})[row["T"]] = row["critical_m"]
    (lr_main, main), (lr_other, other) = list(by_lr.items())[:2]
    short, long = sorted(main)[0], sorted(main)[-1]
    inside = _inside(other[long], report["critical_m_ci"][Ts.index(long)])
    recipes = " and ".join(f"({name})" for name in sorted(set(report["baseline_recipe"].values())))
    scanned = (f"at $T = {short}$ it needs {other[short]} samples (against {main[short]}), at $T = {long:,}$ "
               f"{other[long]} (against {main[long]}): growth factors of {_ratio(other[short], other[long])} and "
               f"{_ratio(main[short], main[long])} over the same range" if short != long else
               f"at $T = {short}$ it needs {other[short]} samples (against {main[short]})")
    return (f"The attention block was also scanned at a learning rate of {lr_other:g} instead of {lr_main:g}: "
            f"{scanned}. At $T = {long:,}$ the lower rate's $m^*$ is "
            + ("inside the interval of the main recipe. " if inside else
               "outside the interval of the main recipe: the growth of $m^*$ with $T$, and so the law it suggests, "
               "depends on the learning rate. ")
            + f"The perceptron was tuned over two widths and two learning rates at every $T$; the best recipes were "
              f"{recipes}. Its $m^*$ for each recipe:\n")


def curve_reading(report: dict) -> str:
    return (f"Between the two, attention's $m^*$ moves by a factor {report['growth_over_baseline_range']:.1f} and the "
            f"perceptron's by {report['baseline_growth']:.1f}.\n")


def late(report: dict) -> str:
    found = report["late_failures"]
    if not found["failed_runs"]:
        return f"At $T = {report['T'][-1]:,}$ every run past $m^*$ succeeds.\n"
    return (f"At $T = {report['T'][-1]:,}$ some seeds fail even above $m^*$: {found['failed_runs']} of the "
            f"{found['runs']} runs past $m^*$. Their median test accuracy is {found['median_accuracy']:.2f} and their "
            f"median attention on the support {found['median_attention_on_support']:.2f}; {found['below_tenth']} of "
            f"them put less than a tenth of it there and {found['above_half']} more than half. Runs that fail with "
            "more samples than half the seeds needed are the part of the story the theorem does not cover: it says "
            "what a bounded-norm head *can* learn from $m$ samples, not whether training finds it.\n")


def attention(report: dict) -> str:
    Ts, solved = report["T"], report["attention_on_support"]
    return (f"Over all {solved['solved_runs']} solved runs (every seed and $m$ that reached 0.95), the mean attention "
            f"on the support is {solved['mean']:.2f}, and {solved['share_above_half']:.0%} of the runs put more than "
            f"half of it there. Runs that failed put {report['attention_on_support_unsolved']['mean']:.2f} there on "
            f"average; uniform attention would give {3 / (Ts[0] + 1):.2f} at $T = {Ts[0]}$ and "
            f"{3 / (Ts[-1] + 1):.3f} at $T = {Ts[-1]:,}$.\n")


def page_values(report: dict) -> dict[str, str]:
    """The page's computed Markdown, by section."""
    return {"reproduced": reproduced_table(claims(report)), "settings": settings(report),
            "critical": critical(report), "laws": laws(report), "norms_setting": norms_setting(report),
            "norms": norm_reading(report), "recipe": recipe(report), "curves": curve_reading(report),
            "late": late(report),
            "attention": attention(report)}
