"""Every chapter notebook: committed clean, installable in Colab, and runs at book scale."""

import json
import os
import re

import nbformat
import pytest
import yaml
from conftest import ROOT
from nbclient import NotebookClient

from companion import topics
from companion.core import notebooks

CHAPTERS = notebooks.chapter_paths()
# The capstone ends with discussion questions for a seminar instead of exercises with checks.
WITH_EXERCISES = [p for p in CHAPTERS if p.stem in topics.CHAPTERS]


def test_there_are_chapters():
    assert sorted(p.name for p in CHAPTERS) == ["alignment-challenges.ipynb", "hidden-progress.ipynb",
                                                "increasing-complexity.ipynb",
                                                "induction-heads.ipynb", "knowable-unknowable.ipynb",
                                                "margin-features.ipynb", "pareto-frontiers.ipynb",
                                                "transcendence.ipynb", "variable-creation.ipynb",
                                                "watermark-sand.ipynb"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_committed_without_outputs_and_installs_from_the_repository(path):
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    # nbformat 4.5 cells need ids: one without makes nbformat warn on stderr inside any kernel that reads
    # the notebook (the capstone does), and the book build fails on that stderr
    raw = json.loads(path.read_text())
    assert all("id" in cell for cell in raw["cells"]), [cell["source"][:1] for cell in raw["cells"] if "id" not in cell]
    first = nb.cells[0]
    assert "remove-cell" in first.metadata.get("tags", [])
    repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    assert f"git+{repository}" in first.source  # the URL lives in _config.yml; the cell must agree


EXERCISE = re.compile(r"^:::\{exercise\} (.+) · (easy|medium|hard) · about (\d+) minutes\n:label: (ex-[\w-]+)\n", re.M)


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.stem)
def test_exercises_have_stub_solution_and_check(path):
    """Each exercise: a directive whose title gives a difficulty and a time, the stub, then one dropdown (a
    gated solution) holding the explanation, the solution and the check that runs on it, so that a tick is
    never shown under an unanswered stub and the solution has one toggle, not two."""
    nb = nbformat.read(path, as_version=4)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    stubs = [i for i, t in enumerate(tags) if "exercise" in t]
    solutions = [i for i, t in enumerate(tags) if "solution" in t]
    assert len(stubs) >= 3 and len(stubs) == len(solutions)
    for stub, solution in zip(stubs, solutions):
        directive = EXERCISE.search(nb.cells[stub - 1].source)
        assert nb.cells[stub - 1].cell_type == "markdown" and directive, nb.cells[stub - 1].source[:80]
        opening = nb.cells[stub + 1]
        assert solution == stub + 2 and opening.cell_type == "markdown", path.name
        assert opening.source.startswith(f"::::{{solution-start}} {directive.group(4)}\n:class: dropdown\n::::")
        assert "hide-input" not in tags[solution]
        assert ".check_" in nb.cells[solution + 1].source  # the chapter's check, e.g. ih.check_bigram_predictor
        assert nb.cells[solution + 2].source.strip() == "::::{solution-end}\n::::"
    labels = [EXERCISE.search(nb.cells[stub - 1].source).group(4) for stub in stubs]
    assert len(set(labels)) == len(labels)


@pytest.mark.slow
@pytest.mark.book_scale
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_runs_at_book_scale(path):
    nb = nbformat.read(path, as_version=4)
    env_scale = os.environ.get("COMPANION_SCALE")
    assert env_scale in (None, "book"), "notebook tests run at book scale"
    # the book's limit per cell, or the chapter's own (the capstone gathers every chapter's results)
    timeout = nb.metadata.get("mystnb", {}).get("execution_timeout", 900)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.output_type == "stream")
    assert "\N{BALLOT X}" not in printed  # every exercise check passes with the solutions in place
