"""Small result tables that render as HTML in notebooks and the book, and as text elsewhere."""

from __future__ import annotations

import html


class Table:
    """Rows of dicts shown as a table: ``Table(rows, ["m", "width", "success_rate"], digits=2)``."""

    def __init__(self, rows: list[dict], columns: list[str] | None = None, digits: int = 3):
        if not rows:
            raise ValueError("a table needs at least one row")
        self.rows, self.digits = rows, digits
        self.columns = columns or list(rows[0])

    def _cell(self, value) -> str:
        if isinstance(value, float):
            return f"{value:.{self.digits}f}"
        return "" if value is None else str(value)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(self._cell(row.get(c)))}</td>" for c in self.columns)
                       + "</tr>" for row in self.rows)
        return f'<table class="companion-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    def __repr__(self) -> str:
        cells = [self.columns] + [[self._cell(row.get(c)) for c in self.columns] for row in self.rows]
        widths = [max(len(line[i]) for line in cells) for i in range(len(self.columns))]
        return "\n".join("  ".join(value.rjust(w) for value, w in zip(line, widths)) for line in cells)


class Record(dict):
    """A dict (a reproducibility card, a configuration) that renders as a table of its keys and values
    in notebooks and the book instead of as a raw dict repr; nested dicts become nested tables. It
    stays a dict for code and JSON."""

    digits = 4

    def _value(self, value) -> str:
        if isinstance(value, dict):
            return Record(value)._repr_html_()
        if isinstance(value, float):
            return html.escape(f"{value:.{self.digits}g}")
        if isinstance(value, (list, tuple)):
            return html.escape(", ".join(str(item) for item in value))
        return html.escape("" if value is None else str(value))

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th>{html.escape(str(key))}</th><td>{self._value(value)}</td></tr>"
                       for key, value in self.items())
        return f'<table class="companion-table companion-record"><tbody>{rows}</tbody></table>'
