"""Student notebooks: the chapters with the solutions taken out.

A chapter marks its exercise stubs with the cell tag ``exercise`` and the worked answers with
``solution``. A solution is one dropdown in the book: a markdown cell that opens it with a gated
``{solution-start}`` directive and explains the answer, the ``solution`` code cell, the check that runs on
it, and a markdown cell holding ``{solution-end}``. Student copies drop the solution cells and the two
markdown cells of each gate (the explanation is part of the answer), keep the check (it now runs on the
student's code), drop any plain ``solution`` directive left in the markdown, keep the stubs (which raise
NotImplementedError until filled in) and clear all outputs.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from .config import InputError

BOOK = Path(__file__).resolve().parents[2] / "book"  # companion/core/ is two folders down
SOLUTION_DIRECTIVE = re.compile(r"^(`{3,}|:{3,})\{solution(-start)?\}.*?^\1\s*$\n?", re.M | re.S)
SOLUTION_BLOCK = re.compile(r"^(`{3,}|:{3,})\{solution-start\}.*?^\1\{solution-end\}\s*$\n?", re.M | re.S)
GATE = re.compile(r"^(`{3,}|:{3,})\{solution-(start|end)\}", re.M)  # a cell that opens or closes a dropdown


def strip_solutions(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of `notebook` without solution cells, solution directives and outputs."""
    student = nbformat.from_dict(notebook)
    kept = []
    for cell in student.cells:
        if "solution" in cell.get("metadata", {}).get("tags", []):
            continue
        if cell.cell_type == "markdown":
            whole = SOLUTION_BLOCK.sub("", cell.source)
            if GATE.search(whole):  # a gate's own cell: the dropdown's opening (and explanation) or its end
                continue
            cell.source = SOLUTION_DIRECTIVE.sub("", whole)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        kept.append(cell)
    student.cells = kept
    return student


FRONT_MATTER = ("intro",)  # notebooks of the book that are not chapters: no exercises, nothing for a class


def chapter_paths(book: Path = BOOK) -> list[Path]:
    """The chapters' notebooks (the front matter left out)."""
    return sorted(p for p in book.glob("*.ipynb") if p.stem not in FRONT_MATTER)


def book_paths(book: Path = BOOK) -> list[Path]:
    """Every notebook the book executes: the chapters and the front matter."""
    return sorted(book.glob("*.ipynb"))


def write_student_notebooks(out: Path, book: Path = BOOK, force: bool = False) -> list[Path]:
    """Write a student copy of every chapter into `out`; return the paths written.

    Refuses (``InputError``, before writing anything) an `out` that is the book's own folder, that is a
    file, or that already holds a notebook of the same name, unless `force` (which still never writes
    into the book's folder).
    """
    out = Path(out)
    for folder in (out, *out.parents):
        if folder.exists() and not folder.is_dir():
            raise InputError(f"OUT must be a folder, but {folder} is a file")
    if out.resolve() == Path(book).resolve():
        raise InputError(f"OUT must not be the book's folder {book}: the student copies would replace the "
                         "chapters' solutions; choose another folder (for example student/)")
    chapters = chapter_paths(book)
    if not chapters:
        raise FileNotFoundError(f"no chapter notebooks found in {book}")
    existing = [out / path.name for path in chapters if (out / path.name).exists()]
    if existing and not force:
        raise InputError(f"OUT already holds {len(existing)} of the notebooks ({existing[0]}, ...): pass --force "
                         "to overwrite them, or choose an empty folder")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in chapters:
        student = strip_solutions(nbformat.read(path, as_version=4))
        target = out / path.name
        nbformat.write(student, target)
        written.append(target)
    return written
