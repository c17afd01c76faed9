"""Marks for submitted student notebooks: ``python -m companion grade SUBMISSIONS/ --out grades.csv``.

Each submission (a student copy of a chapter, filled in) runs top to bottom in a fresh kernel with a
time limit of its own. Every exercise check it calls appends its verdict to a log (``checks.GRADE_LOG``);
after each cell the log's new lines are credited to the exercise whose check cell that was, named by
the label of its ``{exercise}`` directive. A submission that crashes, kills its kernel or loops forever
costs its own row (the error column says what happened), never the run.

A submission is code the instructor chose to run: it runs with the instructor's rights, as it would
in Jupyter.
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .checks import GRADE_LOG
from .config import InputError
from .notebooks import BOOK, chapter_paths

EXERCISE_LABEL = re.compile(r"^(`{3,}|:{3,})\{exercise\}[^\n]*\n(?::[^\n]*\n)*?:label:\s*(\S+)", re.M)


def exercise_cells(nb) -> dict[int, str]:
    """{index of a check cell: the label of the exercise it checks}: a code cell calling a chapter's
    ``check_`` after an exercise directive, and not the exercise's stub or its solution."""
    found, label = {}, None
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            labels = [match.group(2) for match in EXERCISE_LABEL.finditer(cell.source)]
            label = labels[-1] if labels else label
        elif label and ".check_" in cell.source and not {"exercise", "solution"} & set(cell.metadata.get("tags", [])):
            found[index] = label
    return found


def labels(nb) -> list[str]:
    return list(dict.fromkeys(exercise_cells(nb).values()))


@dataclass
class Grade:
    submission: str
    chapter: str
    results: dict[str, bool] = field(default_factory=dict)  # label -> the last verdict of its check
    hints: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _chapter_of(nb, path: Path, chapters: dict[str, list[str]]) -> str:
    """The chapter a submission copies: by file name, else by the exercise labels it carries."""
    if path.stem in chapters:
        return path.stem
    found = set(labels(nb))
    best = max(chapters, key=lambda name: len(found & set(chapters[name])))
    return best if found & set(chapters[best]) else ""


def grade_notebook(path: Path, chapters: dict[str, list[str]], timeout: float, scale: str,
                   kernel_name: str = "python3") -> Grade:
    """Run one submission and read its checks' verdicts; never raises for what the notebook does."""
    from nbclient import NotebookClient  # a test and classroom dependency, not the package's
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:  # not a notebook at all: its row says so
        return Grade(str(path), "", errors=[f"unreadable notebook ({type(err).__name__}: {err})"])
    chapter = _chapter_of(nb, path, chapters)
    grade = Grade(str(path), chapter)
    checks = exercise_cells(nb)
    deadline = time.monotonic() + timeout
    with tempfile.TemporaryDirectory(prefix="companion-grade-") as scratch:
        log = Path(scratch) / "checks.jsonl"
        log.touch()
        read = [0]

        def credit(cell=None, cell_index=None, execute_reply=None, **_):
            lines = log.read_text(encoding="utf-8").splitlines()
            new, read[0] = lines[read[0]:], len(lines)
            if cell_index not in checks:
                return
            label = checks[cell_index]
            for line in new:
                verdict = json.loads(line)
                grade.results[label], grade.hints[label] = bool(verdict["ok"]), verdict["hint"]
            reply = (execute_reply or {}).get("content", {})
            if not new and reply.get("status") == "error":  # the cell failed before its check could judge
                grade.results[label] = False
                grade.hints[label] = f"the check cell raised {reply.get('ename')}: {reply.get('evalue')}"

        client = NotebookClient(nb, kernel_name=kernel_name, allow_errors=True,
                                timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
                                resources={"metadata": {"path": str(path.parent)}}, on_cell_executed=credit)
        # the kernel's own environment, so that submissions graded side by side never share a log
        env = {**os.environ, GRADE_LOG: str(log), "COMPANION_SCALE": scale, "COMPANION_PROGRESS": "0"}
        try:
            client.execute(env=env)
        except CellTimeoutError:
            grade.errors.append(f"timeout: still running after {timeout:g} s")
        except DeadKernelError:
            grade.errors.append("kernel died")
        except Exception as err:  # whatever else a submission manages, it is this row's problem
            grade.errors.append(f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
    expected = chapters.get(chapter, labels(nb))
    missing = [label for label in expected if label not in set(checks.values())]
    if missing:
        grade.errors.append("missing cell: no check for " + ", ".join(missing))
    return grade


def write_csv(grades: list[Grade], out: Path, order: list[str]) -> None:
    columns = ["submission", "chapter"]
    for label in order:
        columns += [label, f"{label} hint"]
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns + ["error"])
        writer.writeheader()
        for grade in grades:
            row = {"submission": grade.submission, "chapter": grade.chapter, "error": "; ".join(grade.errors)}
            for label in order:
                if label in grade.results:
                    row[label] = grade.results[label]
                    row[f"{label} hint"] = grade.hints.get(label, "")
            writer.writerow(row)


def grade_folder(submissions: Path, out: Path, timeout: float = 900.0, scale: str = "book",
                 book: Path = BOOK, kernel_name: str = "python3", jobs: int = 1) -> list[Grade]:
    """Grade every notebook under `submissions` into the CSV `out`: one row per notebook, one column
    (and one hint column) per exercise: True or False (False too where the check's cell raised, with
    the error as its hint), empty where the check never ran."""
    paths = sorted(p for p in Path(submissions).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not paths:
        raise InputError(f"SUBMISSIONS must hold notebooks (*.ipynb), but {submissions} has none")
    chapters = {path.stem: labels(nbformat.read(path, as_version=4)) for path in chapter_paths(book)}
    # `jobs` kernels at a time: each is its own process, so threads that wait on them are enough
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        grades = list(pool.map(lambda path: grade_notebook(path, chapters, timeout, scale, kernel_name), paths))
    for grade in grades:
        grade.submission = str(Path(grade.submission).relative_to(submissions))
    order = [label for chapter in chapters.values() for label in chapter]
    order += [label for grade in grades for label in grade.results if label not in order]
    write_csv(grades, Path(out), list(dict.fromkeys(order)))
    return grades
