"""The page's computed prose: Markdown that a notebook shows as a cell's output.

A chapter's `page.py` turns its report into Markdown, one section at a time; the notebook shows each
section with `show`, from a cell whose input the built book hides. myst-nb renders a Markdown output
as text (tables, math and code blocks included), and so do Jupyter and Colab, so the reader sees the
same numbers and sentences in all three. Nothing here may use a MyST role or directive: Jupyter and
Colab would print it raw.

The helpers keep the house rules in one place: a range whose ends print alike is one number, an
interval is written [low, high], a verdict of the What-reproduced table is one of `VERDICTS`, and a
function's source comes from the package itself, so the page can never drift from the code.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

VERDICTS = ("reproduced", "partly", "not reproduced", "departs")
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds companion/


def show(markdown: str) -> None:
    """Display `markdown` as the cell's output (rendered in the book, Jupyter and Colab alike)."""
    from IPython.display import Markdown, display

    display(Markdown(markdown))


def span(values, spec: str = ".2f") -> str:
    """The range of `values` in prose: "0.79 to 0.85", or one number where both ends print alike."""
    values = list(values)
    if not values:
        raise ValueError("span needs at least one value")
    low, high = format(min(values), spec), format(max(values), spec)
    return low if low == high else f"{low} to {high}"


def bracket(interval, spec: str = "+.2f") -> str:
    """An interval [low, high] as the page prints it; `interval` is a pair or a dict with "ci"."""
    low, high = interval["ci"] if isinstance(interval, dict) else interval
    if low is None or high is None:
        return "(no interval: one seed)"
    return f"[{format(low, spec)}, {format(high, spec)}]"


def count(k: int, n: int, noun: str = "seed") -> str:
    """ "in 3 of 3 seeds", "in 1 of 1 seed": how many units of n a statement holds for."""
    return f"in {k} of {n} {noun}{'' if n == 1 else 's'}"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table; a "|" inside a cell is escaped, a line break becomes a space."""
    if any(len(row) != len(header) for row in rows):
        raise ValueError(f"every row needs {len(header)} cells, got {[len(row) for row in rows]}")
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Claim:
    """One row of a chapter's What-reproduced table: the paper's claim in our words, what the chapter
    measured (with its interval, over seeds), and the verdict computed from that measurement."""

    paper: str
    measured: str
    verdict: str

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


def reproduced_table(claims: list[Claim]) -> str:
    """The What-reproduced table that opens every chapter."""
    return table(["The paper's claim", "What this chapter measured", "Verdict"],
                 [[c.paper, c.measured, c.verdict] for c in claims])


def settings_table(config, settings: dict[str, tuple[str, str]]) -> str:
    """The settings that matter, as a table: `settings` maps a field of `config` (a dataclass or dict)
    to (what it is, its unit or ""), in the order the table shows them."""
    values = config if isinstance(config, dict) else vars(config)
    rows = []
    for field, (meaning, unit) in settings.items():
        value = values[field]
        shown = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else f"{value:g}" \
            if isinstance(value, float) else str(value)
        rows.append([meaning, f"{shown} {unit}".strip()])
    return table(["Setting", "Value"], rows)


def source(*functions) -> str:
    """The source of `functions` (or classes) as the package holds it, each under the file it lives in,
    as Markdown code blocks: the page shows the code that made its numbers, never a retyped copy."""
    if not functions:
        raise ValueError("source needs at least one function")
    blocks = []
    for function in functions:
        target = inspect.unwrap(function)
        path = Path(inspect.getsourcefile(target)).resolve()
        where = path.relative_to(PACKAGE_ROOT) if path.is_relative_to(PACKAGE_ROOT) else path.name
        code = inspect.getsource(target).rstrip()
        blocks.append(f"`{target.__qualname__}` in `{where}`:\n\n```python\n{code}\n```\n")
    return "\n".join(blocks)


CARD_LEFT_OUT = ("config", "loaded_from_cache")  # the settings table shows the config; the cache is no fact


def _card_value(value) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_card_value(item)}" for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_card_value(item) for item in value)
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)


def card(reproducibility_card: dict) -> str:
    """A chapter's reproducibility card (`runtime.reproducibility_card`) as a two-column table: what was
    run, on what, in how long, and what `--scale full` changes, without the config (the chapter's settings
    table shows it) and without whether it came from the cache."""
    rows = [[key.replace("_", " ").capitalize(), _card_value(value)]
            for key, value in reproducibility_card.items() if key not in CARD_LEFT_OUT]
    return table(["Item", "Value"], rows)
