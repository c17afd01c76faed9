"""The page's computed prose: ranges, intervals, tables, the What-reproduced rows, the source a page shows
and the reproducibility card, as the reader sees them."""

import pytest

from companion.core import prose


def test_a_range_whose_ends_print_alike_is_one_number():
    assert prose.span([0.791, 0.789]) == "0.79"
    assert prose.span([0.5, 0.1, 0.3]) == "0.10 to 0.50"
    assert prose.span([0.051, 0.052], ".0%") == "5%"
    with pytest.raises(ValueError):
        prose.span([])


def test_intervals_and_counts_read_as_the_page_writes_them():
    assert prose.bracket([-0.2, 0.1]) == "[-0.20, +0.10]"
    assert prose.bracket({"ci": [0.1, 0.25]}, ".0%") == "[10%, 25%]"
    assert prose.bracket({"ci": [None, None]}) == "(no interval: one seed)"
    assert [prose.count(2, 3), prose.count(1, 1)] == ["in 2 of 3 seeds", "in 1 of 1 seed"]


def test_a_table_escapes_its_cells_and_refuses_ragged_rows():
    text = prose.table(["a", "b"], [["x | y", "line\nbreak"]])
    assert text.splitlines() == ["| a | b |", "|---|---|", "| x \\| y | line break |"]
    with pytest.raises(ValueError, match="2 cells"):
        prose.table(["a", "b"], [["only one"]])


def test_a_claim_takes_only_the_four_verdicts():
    row = prose.Claim("the paper says", "we measured", "partly")
    assert "| the paper says | we measured | partly |" in prose.reproduced_table([row])
    with pytest.raises(ValueError, match="verdict must be one of"):
        prose.Claim("the paper says", "we measured", "mostly")


def test_the_settings_table_shows_the_chosen_fields_with_units():
    text = prose.settings_table({"steps": 12000, "lr": 0.002, "name": "x", "ignored": 1},
                                {"steps": ("training steps", ""), "lr": ("learning rate", ""), "name": ("run", "")})
    assert text.splitlines()[2:] == ["| training steps | 12,000 |", "| learning rate | 0.002 |", "| run | x |"]


def test_the_source_shown_is_the_packages_own():
    from companion.chapters.induction_heads import experiment

    shown = prose.source(experiment.previous_token_score, experiment.Config.__post_init__)
    assert "`previous_token_score` in `companion/chapters/induction_heads/experiment.py`" in shown
    assert "`Config.__post_init__`" in shown
    assert "return attention.diagonal(offset=-1, dim1=-2, dim2=-1).mean()" in shown
    assert shown.count("```python") == 2
    with pytest.raises(ValueError):
        prose.source()


def test_the_card_leaves_out_the_config_and_the_cache_and_renders_changes():
    card = {"experiment": "x", "config": {"steps": 1}, "loaded_from_cache": True, "seeds": [0, 1],
            "full_scale_changes": {"steps": "1500 → 6000", "trigram": {"ngram": 3}}, "wall_seconds": 1.5}
    text = prose.card(card)
    assert "config" not in text.lower().replace("full scale changes", "") and "cache" not in text.lower()
    assert "| Seeds | 0, 1 |" in text and "steps: 1500 → 6000; trigram: ngram: 3" in text
