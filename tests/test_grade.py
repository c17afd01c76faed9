"""`python -m companion grade`: marks for submitted student notebooks, with a row of its own for a
submission that is wrong or never ends."""

import csv
import re
import subprocess
import sys

import nbformat
import pytest
from conftest import ROOT

from companion import topics
from companion.core import grading, notebooks

# two kinds of chapter: one whose exercises are all functions, one with a value and a multiple choice too
CHAPTERS = ("margin-features", "induction-heads")
# seconds per notebook: the right and the wrong ones end within a quarter of it at test scale (11 to 16 s
# alone, measured), and each hanging one costs all of it
TIME_LIMIT = 60


def filled_in(chapter: str, wrong: bool = False, hang: bool = False) -> nbformat.NotebookNode:
    """A student copy of `chapter` with every stub followed by its solution; `wrong` then spoils the
    first exercise's answer, `hang` makes the last exercise's cell loop forever."""
    nb = nbformat.read(ROOT / "book" / f"{chapter}.ipynb", as_version=4)
    tags = [cell.metadata.get("tags", []) for cell in nb.cells]
    stubs = [i for i, t in enumerate(tags) if "exercise" in t]
    for stub in stubs:
        solution = next(i for i in range(stub, len(nb.cells)) if "solution" in tags[i])
        nb.cells[stub].source += "\n\n" + nb.cells[solution].source  # the stub's imports stay
    if wrong:
        source = nb.cells[stubs[0]].source
        defined = re.search(r"^def (\w+)\(", source, re.M) or re.search(r"^(\w+) =", source, re.M)
        nb.cells[stubs[0]].source += f"\n\n{defined.group(1)} = " + (
            "lambda *args, **kwargs: 0.5" if source.lstrip().startswith(("def", "import")) else '"z"')
    if hang:
        nb.cells[stubs[-1]].source = "import time\nwhile True:\n    time.sleep(0.5)\n" + nb.cells[stubs[-1]].source
    return notebooks.strip_solutions(nb)


@pytest.mark.slow
def test_grades_right_wrong_and_hanging_submissions(tmp_path):
    # TIME_LIMIT holds for notebooks that find their chapter's results in the cache: compute them first
    # (or wait on a process already computing them), so the grading is timed on a warm cache
    for chapter in CHAPTERS:
        topics.topic_module(chapter).reproduce(scale="test")
    submissions = tmp_path / "submissions"
    for chapter in CHAPTERS:
        for student, options in (("ada", {}), ("bo", {"wrong": True}), ("cy", {"hang": True})):
            (submissions / student).mkdir(parents=True, exist_ok=True)
            nbformat.write(filled_in(chapter, **options), submissions / student / f"{chapter}.ipynb")
    out = tmp_path / "grades.csv"
    done = subprocess.run([sys.executable, "-m", "companion", "grade", str(submissions), "--out", str(out),
                           "--timeout", str(TIME_LIMIT), "--scale", "test", "--jobs", "2"],
                          capture_output=True, text=True, timeout=3600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {row["submission"]: row for row in csv.DictReader(out.open())}
    assert len(rows) == 3 * len(CHAPTERS)
    raised = {}
    for chapter in CHAPTERS:
        labels = grading.labels(nbformat.read(ROOT / "book" / f"{chapter}.ipynb", as_version=4))
        right, wrong, hung = (rows[f"{student}/{chapter}.ipynb"] for student in ("ada", "bo", "cy"))
        assert [right[label] for label in labels] == ["True"] * len(labels) and right["error"] == ""
        assert wrong[labels[0]] == "False" and wrong[f"{labels[0]} hint"], "the spoilt answer must fail, with a hint"
        # a later exercise may build on the spoilt one (induction-heads' plateau uses the unigram predictor):
        # its check cell then raises, which is marked False with the error as the hint
        later = [wrong[label] if wrong[label] == "True" else wrong[f"{label} hint"][:22] for label in labels[1:]]
        assert set(later) <= {"True", "the check cell raised "} and wrong["error"] == "", later
        raised[chapter] = later.count("the check cell raised ")
        assert hung["error"].startswith("timeout")
        assert [hung[label] for label in labels[:-1]] == ["True"] * (len(labels) - 1) and hung[labels[-1]] == ""
    assert raised == {"margin-features": 0, "induction-heads": 1}


def test_exercise_cells_are_found_by_label():
    for path in notebooks.chapter_paths():
        nb = nbformat.read(path, as_version=4)
        found = grading.labels(nb)
        stubs = sum("exercise" in cell.metadata.get("tags", []) for cell in nb.cells)
        assert len(found) == stubs, f"{path.stem}: {found} for {stubs} exercises"


def test_refuses_a_folder_without_notebooks_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "companion", "grade", str(tmp_path), "--out",
                           str(tmp_path / "g.csv")], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and "SUBMISSIONS must hold notebooks" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("option, value, complaint", [("--jobs", "0", "jobs must be a whole number"),
                                                      ("--timeout", "-5", "timeout must be a positive")])
def test_bad_options_are_refused_in_one_line(tmp_path, option, value, complaint):
    done = subprocess.run([sys.executable, "-m", "companion", "grade", str(tmp_path), option, value],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and complaint in done.stderr
