"""The package's layout holds: the shared machinery imports no chapter, no chapter imports another (the
capstone reads the others through `companion.topics`), and the first layout's module names still work."""

import ast
import importlib
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from companion import topics

PACKAGE = ROOT / "companion"
CAPSTONE = "companion.chapters.alignment_challenges"


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Every module `path` imports, relative imports resolved, at any depth of the file."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[:len(base) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module
            found.add(stem)
            found.update(f"{stem}.{alias.name}" for alias in node.names)
    return found


def chapter_of(module: str) -> str | None:
    parts = module.split(".")
    return ".".join(parts[:3]) if parts[:2] == ["companion", "chapters"] and len(parts) >= 3 else None


def import_problems(root: Path = ROOT) -> list[str]:
    """One line for each forbidden import in the package under `root` (the repository)."""
    chapters = set(topics.TOPICS.values())
    problems = []
    for path in sorted((root / "companion").rglob("*.py")):
        name = module_name(path, root)
        home = chapter_of(name)
        for target in sorted(imported_modules(path, root)):
            if name.startswith("companion.core") and (chapter_of(target) or target.startswith("companion.topics")):
                problems.append(f"{name} (core) imports {target}")
            elif home and chapter_of(target) in chapters and chapter_of(target) != home:
                problems.append(f"{name} imports another chapter: {target}")
            elif home and home != CAPSTONE and target.startswith("companion.topics"):
                problems.append(f"{name} reads the registry of chapters, which only the capstone may")
    return problems


def test_core_imports_no_chapter_and_no_chapter_imports_another():
    assert import_problems() == []


def test_the_check_finds_a_forbidden_import(tmp_path):
    for where, line in [("core/plotting.py", "from companion.chapters.induction_heads import run"),
                        ("chapters/hidden_progress/figures.py", "from ..induction_heads.experiment import run"),
                        ("chapters/margin_features/experiment.py", "from companion import topics")]:
        (PACKAGE / where).exists() or pytest.fail(f"no {where}")
        copy = tmp_path / "companion" / where
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(line + "\n")
    offenders = {line.split(" ")[0] for line in import_problems(tmp_path)}
    assert offenders == {"companion.core.plotting", "companion.chapters.hidden_progress.figures",
                         "companion.chapters.margin_features.experiment"}


def test_every_chapter_has_its_three_rooms():
    for module in topics.CHAPTER_MODULES.values():
        folder = ROOT / Path(*module.split("."))
        assert {"__init__.py", "experiment.py", "figures.py", "exercises.py"} <= {p.name for p in folder.iterdir()}


@pytest.mark.parametrize("old, new", [("companion.plotting", "companion.core.plotting"),
                                      ("companion.tables", "companion.core.tables"),
                                      ("companion.induction_heads", "companion.chapters.induction_heads")])
def test_the_first_layouts_module_names_still_import(old, new):
    module = importlib.import_module(old)
    assert module is importlib.import_module(new) and sys.modules[old] is module
    assert module.__spec__.name == new  # the real module keeps its own name


def test_notebooks_of_the_first_layout_still_find_their_names():
    from companion.plotting import figure

    from companion import exercises, induction_heads, parity

    assert exercises.check_vote_reward is importlib.import_module("companion.chapters.transcendence").check_vote_reward
    assert induction_heads.plot_training.__module__ == "companion.chapters.induction_heads.figures"
    assert parity.parity and callable(figure)
    with pytest.raises(AttributeError):
        exercises.check_nothing_of_the_kind  # noqa: B018


def test_training_processes_never_load_the_figures():
    code = ("import sys; import companion.chapters.hidden_progress.experiment, companion.topics; "
            "print(sorted(m for m in ('matplotlib', 'ipywidgets') if m in sys.modules))")
    import subprocess

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.stdout.strip() == "[]", done.stderr
