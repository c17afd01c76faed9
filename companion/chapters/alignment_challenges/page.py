"""The capstone: every sentence and table the page shows, from the report.

`page_values(report)` gives the page's computed Markdown, one entry per section; the notebook shows each
with `companion.core.prose.show`. Links to the chapters are plain Markdown links to their notebooks, with
the heading's anchor, so that they work in the built book (Sphinx resolves them) and open the chapter in
Jupyter.
"""

from __future__ import annotations

from companion.core.prose import VERDICTS, table
from companion.topics import CHAPTERS

from .challenges import CHALLENGES, CHAPTER_TITLES, GRADE_MEANINGS, GRADES

ALIGNMENT_ANCHOR = "what-this-means-for-alignment"  # each chapter's "What this means for alignment" heading
REPRODUCED_ANCHOR = "what-reproduced"  # each chapter's "What reproduced" heading


def chapter_link(topic: str, anchor: str) -> str:
    return f"[{CHAPTER_TITLES[topic]}]({topic}.ipynb#{anchor})"


def verdict_counts(rows: list[dict]) -> dict[str, int]:
    return {verdict: sum(row["verdict"] == verdict for row in rows) for verdict in VERDICTS}


def reproduced(report: dict) -> str:
    """The book's What-reproduced table: for each chapter, how many of its paper's claims its own table
    calls reproduced, partly, not reproduced, or departing from the paper."""
    rows = []
    for topic in CHAPTERS:
        counts = verdict_counts(report["reproduced"][topic])
        rows.append([chapter_link(topic, REPRODUCED_ANCHOR), *(str(counts[v]) for v in VERDICTS)])
    return table(["Chapter", *VERDICTS], rows)


def book_table(report: dict, costs: dict[str, dict]) -> str:
    """The introduction's table: each chapter, what its own What-reproduced table found, and what it costs
    at book scale (benchmarks/RESULTS.md; "not recorded" where the record is missing)."""
    rows = [[chapter_link(topic, REPRODUCED_ANCHOR), summary_line(report["reproduced"][topic]),
             f"{costs[topic]['cpu'] / 60:.1f} min" if topic in costs else "not recorded"] for topic in CHAPTERS]
    return table(["Chapter", "What reproduced (its paper's claims, by verdict)", "CPU at book scale"], rows)


def summary_line(rows: list[dict]) -> str:
    """One chapter's table in a line: "2 reproduced, 1 partly, 1 departs"."""
    counts = verdict_counts(rows)
    return ", ".join(f"{counts[v]} {v}" for v in VERDICTS if counts[v])


def gathering(report: dict) -> str:
    rules, caught = report["wording_rules"], report["rules_with_counterexample"]
    return (f"Each sentence below has a rule on the numbers that checks what its words assert (\"beats\", \"above "
            f"chance\", \"most\"), and the notebook refuses to print a sentence whose rule these results fail. The "
            f"rules are checked too: each of the {rules} is shown made-up results that contradict its sentence, one "
            f"set for every condition it checks, and {caught} of them reject them all.\n")


def map_legend(report: dict) -> str:
    linked, links = report["challenges_linked"], len(report["links"])
    kinds = {"evidence": "filled dots", "analogy": "rings", "illustration": "crosses"}
    legend = "\n".join(f"- *{grade}* ({report['grades'][grade]} links, {kinds[grade]}): {GRADE_MEANINGS[grade]};"
                       for grade in GRADES)
    return (f"{links} links in all, touching {linked} of the {len(report['challenges'])} challenges. The other "
            f"{len(report['challenges']) - linked} are left empty on purpose: no experiment in this book says "
            "anything about them, and pretending otherwise would be the kind of overclaiming the paper warns "
            "against. They return in the discussion questions. Not every link is worth the same, and each says "
            f"what it is worth:\n\n{legend}\n")


def challenge_links(report: dict, section: str) -> str:
    """One challenge's links: each chapter that touches it, what that chapter measured, and the grade."""
    grades = {(link["section"], link["topic"]): link["grade"] for link in report["links"]}
    lines = [f"- {chapter_link(item['topic'], ALIGNMENT_ANCHOR)}: {item['claim']} "
             f"(*{grades[(section, item['topic'])]}*)" for item in report["claims"] if item["section"] == section]
    return "In this book:\n\n" + "\n".join(lines) + "\n"


def page_values(report: dict) -> dict[str, str]:
    """The page's computed Markdown, by section: the book's table, the checks, the map's legend, and one
    list of links per challenge that has any (`links 2.1`, ...)."""
    values = {"reproduced": reproduced(report), "gathering": gathering(report), "map": map_legend(report)}
    values.update({f"links {c.section}": challenge_links(report, c.section) for c in CHALLENGES if c.links})
    return values
