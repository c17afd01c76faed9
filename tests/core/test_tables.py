"""Tables and records render as HTML tables, never as raw reprs, and escape what they show."""

import json

from companion.core.tables import Record, Table


def test_a_record_is_a_dict_that_renders_as_a_nested_table():
    card = Record({"experiment": "x", "config": {"lr": 0.001234567, "widths": [10, 100]}, "note": "<b>"})
    assert json.loads(json.dumps(card)) == dict(card)  # still a plain dict for code and JSON
    shown = card._repr_html_()
    assert shown.count("<table") == 2  # the nested dict is a table inside the table
    assert "<th>lr</th><td>0.001235</td>" in shown and "10, 100" in shown
    assert "&lt;b&gt;" in shown and "<b>" not in shown


def test_a_table_shows_the_chosen_columns_with_fixed_digits():
    shown = Table([{"a": 0.12345, "b": None, "c": "x"}], ["a", "b"], digits=2)._repr_html_()
    assert "<td>0.12</td><td></td>" in shown and "x" not in shown.split("<tbody>")[1]
