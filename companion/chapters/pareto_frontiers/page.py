"""Pareto frontiers: every sentence and verdict word the page shows, from the report.

`page_values(report)` gives the page's computed Markdown, one entry per section; the notebook shows each
with `companion.core.prose.show`. The sentences that interpret a result are chosen here from the
measurement, so the page cannot claim what its runs did not show.
"""

from __future__ import annotations

from companion.core.prose import Claim, reproduced_table, settings_table, span
from companion.core.stats import verdict

from .experiment import INITIALISATIONS, SIGNIFICANCE

SETTINGS = {"n": ("input bits $n$", ""), "k": ("support size $k$", ""), "sparsity": ("sparse neurons' inputs $s$", ""),
            "max_steps": ("time budget $T$", "steps"), "batch_size": ("batch", "samples"),
            "lr": ("learning rate per neuron", ""), "weight_decay": ("weight decay", ""),
            "parametrization": ("parametrisation", ""), "test_size": ("fresh test samples", ""),
            "replicates": ("seeds", "per cell")}


def _m_text(point: dict) -> str:
    """A frontier point as the page prints it: "490 (460-530)", with censored ends spelled out."""
    if point["m_half"] is None:
        return "beyond the grid" if point["censored"] == "above" else "below the grid"
    low, high = point["ci"]
    return f"{point['m_half']:.0f} ({'below the grid' if low is None else f'{low:.0f}'}–" \
           f"{'beyond the grid' if high is None else f'{high:.0f}'})"


def _separated(a: dict, b: dict) -> str | None:
    """"lower" or "higher" where a's frontier interval lies wholly below or above b's, else None."""
    (a_low, a_high), (b_low, b_high) = a["ci"], b["ci"]
    if a_high is not None and b_low is not None and a_high < b_low:
        return "lower"
    if a_low is not None and b_high is not None and a_low > b_high:
        return "higher"
    return None


def _cells(items: list[dict], first: str, second: str) -> str:
    return "; ".join(f"{t['init'] + ', ' if 'init' in t else ''}m = {t['m']}, width {t.get('narrow', t.get('width'))}"
                     f"{' to ' + str(t['wide']) if 'wide' in t else ''} ({t[first]:.2f} against {t[second]:.2f})"
                     for t in items)


def _widths(report: dict) -> list[int]:
    return sorted({r["width"] for r in report["grid"]})


def frontier_moves(report: dict) -> dict[str, list[str]]:
    """Each step up in width whose frontier interval lies wholly below ("lower") or above ("higher") the
    narrower width's, per initialisation."""
    widths = _widths(report)
    moves = {"lower": [], "higher": []}
    for init in INITIALISATIONS:
        for a, b in zip(widths, widths[1:]):
            side = _separated(_point(report, init, b), _point(report, init, a))
            if side:
                moves[side].append(f"from width {a:,} to {b:,} with {init} initialisation")
    return moves


def _point(report: dict, init: str, width: int) -> dict:
    front = report["frontier"][init]
    return front[str(width)] if str(width) in front else front[width]


def claims(report: dict) -> list[Claim]:
    """The What-reproduced table: the paper's claims, what the runs measured, and a verdict each."""
    wide = _widths(report)[-1]
    side = _separated(_point(report, "sparse", wide), _point(report, "dense", wide))
    moves, width = frontier_moves(report), report["width_summary"]
    lottery, tab = report["lottery"], report["tabular"]["summary"]
    beats = [s for s, row in lottery.items() if row["p_ticket_beats_random"] < SIGNIFICANCE]
    down, up = len(moves["lower"]), len(moves["higher"]) + len(width["wider_worse"])
    return [
        Claim("Sparse initialisation makes learning sparse parities more sample-efficient.",
              f"frontier at width {wide:,}: sparse {_m_text(_point(report, 'sparse', wide))}, dense "
              f"{_m_text(_point(report, 'dense', wide))} samples",
              {"lower": "reproduced", "higher": "departs", None: "not reproduced"}[side]),
        Claim("A wider network is more sample-efficient: width never hurts.",
              f"steps up in width that move the frontier down beyond its intervals: {down}; that move it up or "
              f"make success significantly rarer: {up}",
              "reproduced" if down and not up else "departs" if up and not down else "partly" if down else
              "not reproduced"),
        Claim("The neurons that succeed are lottery tickets: rewound to their start, they succeed again alone.",
              f"rewound tickets beat random networks of their width (one-sided Fisher, 5%) at "
              f"{len(beats)} of {len(lottery)} sparsities",
              "reproduced" if len(beats) == len(lottery) else "partly" if beats else "not reproduced"),
        Claim("Wide sparsely initialised MLPs sometimes outperform tuned random forests on tabular data.",
              f"the sparse MLP errs significantly less than the forest in {tab['mlp_better']} of {tab['cells']} "
              f"pairs of data set and size, more in {tab['mlp_worse']}",
              "reproduced" if tab["mlp_better"] else "not reproduced"),
    ]


def settings(report: dict) -> str:
    rows = report["grid"]
    return (settings_table(report["config"], SETTINGS)
            + f"\nThe grid: $m \\in \\{{{', '.join(f'{m:,}' for m in sorted({r['m'] for r in rows}))}\\}}$ by width "
              f"$\\in \\{{{', '.join(f'{w:,}' for w in _widths(report))}\\}}$ by initialisation.\n")


def frontier_reading(report: dict) -> str:
    """The frontier table and what it says about sparsity and width."""
    widths = _widths(report)
    rows = [f"| {width:,} | {_m_text(_point(report, 'dense', width))} | {_m_text(_point(report, 'sparse', width))} |"
            for width in widths]
    wide = widths[-1]
    side = _separated(_point(report, "sparse", wide), _point(report, "dense", wide))
    said = {"lower": f"At width {wide:,} the sparse frontier lies below the dense one: their bootstrap intervals do "
                     "not overlap, so sparse networks need fewer samples there.",
            "higher": f"At width {wide:,} the sparse frontier lies above the dense one, against the paper: sparse "
                      "networks need more samples there.",
            None: f"At width {wide:,} the two frontiers' intervals overlap, so this grid does not show that sparse "
                  "networks need fewer samples there."}[side]
    moves = frontier_moves(report)
    width = (("Going up in width, the frontier moves down beyond its intervals " + " and ".join(moves["lower"]) + "; "
              if moves["lower"] else "No step up in width moves the frontier down beyond its intervals; ")
             + ("it moves up " + " and ".join(moves["higher"]) + ", against the paper's picture."
                if moves["higher"] else "no step moves it up, and every other step leaves it within them."))
    return "\n".join(["| width | dense | sparse |", "|---|---|---|", *rows]) + f"\n\n{said} {width}\n"


def width(report: dict) -> str:
    summary = report["width_summary"]
    return (f"We test each step up in width with a one-sided Fisher exact test of \"the wider network succeeds "
            f"less often\", and the opposite test too, {summary['tests']} steps in all, with Holm's correction for "
            "testing them together (family-wise 5%). "
            + ("No step up in width made success significantly rarer. " if not summary["wider_worse"] else
               f"Width made success significantly rarer at "
               f"{_cells(summary['wider_worse'], 'wide_rate', 'narrow_rate')}. ")
            + ("Significantly more common: " + _cells(summary["wider_better"], "wide_rate", "narrow_rate") + ". "
               if summary["wider_better"] else "No step made it significantly more common either. ")
            + f"The smallest uncorrected p-value for \"wider is worse\" was {summary['smallest_p_wider_worse']:.3f}.\n")


def sparse(report: dict) -> str:
    """Sparse against dense, cell by cell, and the steps to success at the largest m."""
    summary, timing = report["sparse_summary"], report["time"]
    runs = report["grid"][0]["runs"]
    cells = (("Sparse networks succeeded significantly more often at "
              + _cells(summary["sparse_better"], "sparse_rate", "dense_rate") + ". "
              if summary["sparse_better"] else "In no single cell is sparse initialisation's success rate "
                                               "significantly higher than dense initialisation's. ")
             + ("Significantly less often at " + _cells(summary["sparse_worse"], "sparse_rate", "dense_rate") + "."
                if summary["sparse_worse"] else "In none is it significantly lower."))
    faster = [w for w, t in timing["by_width"].items() if t["p_sparse_faster"] < SIGNIFICANCE]
    steps = " ".join(f"At width {int(w):,}: {t['sparse_median']:,.0f} steps sparse against {t['dense_median']:,.0f} "
                     f"dense (one-sided Mann-Whitney p = {t['p_sparse_faster']:.3f})."
                     for w, t in timing["by_width"].items())
    return (f"The same exact tests at each of the {summary['tests']} pairs of $m$ and width compare sparse with "
            f"dense initialisation. {cells} {runs} seeds a cell can only separate large differences, so the "
            "frontier above, which pools the cells of a width, is the sharper measurement.\n\n"
            f"Success within $T$ steps is one axis; how many steps it takes is another. At $m = {timing['m']:,}$, "
            f"the median steps to success over the seeds that succeed: {steps} "
            + ("Sparse networks solve the task in significantly fewer steps at width "
               + " and ".join(f"{int(w):,}" for w in faster) + ".\n" if faster else
               "At no width do sparse networks solve the task in significantly fewer steps.\n"))


def trap(report: dict) -> str:
    rows, summary = report["trap"], report["width_summary"]
    by = {row["init"]: row for row in rows}
    memorised = min(float(row["memorised_without_decay"]) for row in rows)
    decayed = min(row["successes_with_decay"] / row["runs"] for row in rows)
    undecayed = max(row["successes_without_decay"] / row["runs"] for row in rows)
    verdict_text = (
        "An earlier version of this chapter trained without weight decay and concluded that width hurts dense "
        "networks. Without weight decay most runs here end memorised and almost none succeed, while with it "
        "almost all do, and no step up in width hurt significantly: that conclusion came from the trap, not "
        "from width." if memorised >= 0.75 and undecayed <= 0.25 and decayed >= 0.75 and not summary["wider_worse"]
        else "Here the runs without weight decay do not all fall into the trap, so this comparison does not by "
             "itself explain the earlier version's finding that width hurts dense networks.")
    parts = [f"{init} networks succeeded in {by[init]['successes_without_decay']} of {by[init]['runs']} seeds (with "
             f"weight decay: {by[init]['successes_with_decay']}), and {by[init]['memorised_without_decay']:.0%} of "
             "them ended memorised" for init in INITIALISATIONS if init in by]
    return (f"We trained the cells at $m = {rows[0]['m']:,}$ and width {rows[0]['width']} once more without weight "
            f"decay. {parts[0][0].upper()}{parts[0][1:]}; {'; '.join(parts[1:])}. {verdict_text}\n")


def lottery_reading(report: dict) -> str:
    rows = report["lottery"]
    first = next(iter(rows.values()))
    beats = [s for s, row in rows.items() if row["p_ticket_beats_random"] < SIGNIFICANCE]
    rates = " ".join(f"At $s = {s}$ the rewound tickets succeed with rate {row['rewound_success']:.2f}, the rewound "
                     f"weakest neurons with {row['weakest_success']:.2f} and random networks with "
                     f"{row['random_success']:.2f} (one-sided Fisher p = {row['p_ticket_beats_random']:.3f})."
                     for s, row in rows.items())
    enriched = [s for s, row in rows.items() if verdict(row["overlap_excess"]) == "above"]
    off = [row["ticket_off_support"] for row in rows.values() if row["ticket_off_support"] is not None]
    beat_text = (f"Rewound tickets beat random networks of their size significantly at $s = "
                 f"{', '.join(map(str, beats))}$"
                 + (f", not at $s = {', '.join(str(s) for s in rows if s not in beats)}$." if len(beats) < len(rows)
                    else ".")
                 if beats else "At no sparsity do rewound tickets beat random networks of their size significantly.")
    start = (("At every sparsity" if len(enriched) == len(rows) else
              f"At $s = {', '.join(map(str, enriched))}$" if enriched else "At no sparsity")
             + " the tickets started on significantly more of $S$ than the other neurons of their network (95% "
               "interval over seeds of the difference)"
             + (f"; yet {span(off, '.0%')} of them started on none of the support bits, so where a ticket started "
                "explains only part of why it won." if off and max(off) > 0.2 else "."))
    return (f"Sources: sparse networks of width {first['source_width']:,} at $m = {first['m']}$, each keeping its "
            f"{first['ticket_width']} strongest neurons. {beat_text} {rates} {start}\n")


def tabular_reading(report: dict) -> str:
    tab = report["tabular"]["summary"]
    splits = report["tabular"]["paired"][0]["splits"]
    paper = ("So, as the paper says, the wide sparse network is sometimes better than a tuned forest, and here it is "
             "sometimes worse too." if tab["mlp_better"] and tab["mlp_worse"] else
             "So, as the paper says, the wide sparse network is sometimes better than a tuned forest."
             if tab["mlp_better"] else
             "So this comparison does not reproduce the paper's finding that wide sparse networks are sometimes "
             "better than tuned forests: none of our intervals shows it.")
    pairs = f"{tab['cells']} pair{'' if tab['cells'] == 1 else 's'}"
    return (f"Over {pairs} of data set and size, {splits} splits each, the sparse network errs "
            f"significantly less than the dense one in {tab['sparse_better']} and more in {tab['sparse_worse']}; "
            f"against the tuned forest it errs less in {tab['mlp_better']} and more in {tab['mlp_worse']}; every "
            f"other interval contains zero. {paper}\n")


def page_values(report: dict) -> dict[str, str]:
    """The page's computed Markdown, by section."""
    return {"reproduced": reproduced_table(claims(report)), "settings": settings(report),
            "frontier": frontier_reading(report), "width": width(report), "sparse": sparse(report),
            "trap": trap(report),
            "lottery": lottery_reading(report), "tabular": tabular_reading(report)}
