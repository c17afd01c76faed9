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


ROOMS = {"__init__.py", "experiment.py", "analysis.py", "page.py", "figures.py", "exercises.py"}
LATER_ROOMS = ("analysis", "page", "figures", "exercises")  # the story (experiment and its parts) imports none
MAX_FILE_LINES, MAX_FUNCTION_LINES = 620, 66  # "about 600" and "about 60", with the slack "about" allows


def public_names(tree) -> list[str]:
    """The functions, classes and constants a module defines at its top level, not those starting with _."""
    import ast

    names = [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    names += [target.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
              for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
              if isinstance(target, ast.Name)]
    return [name for name in names if not name.startswith("_")]


def seam_problems(root: Path = ROOT) -> list[str]:
    """One line for each way a chapter breaks the seam: a room missing; the story importing the analysis,
    the page, the figures or the exercises; the analysis importing the page or the figures; the page
    importing the figures; a file or a function too long to read as one piece; a public name defined in
    two files (the chapter's lookup would serve only the first, silently)."""
    import ast

    problems = []
    for module in topics.TOPICS.values():
        folder = root / Path(*module.split("."))
        names = {p.name for p in folder.iterdir()}
        defined_in: dict[str, str] = {}
        stems = {p.stem for p in folder.glob("*.py")} | {"PARTS"}
        rooms = ROOMS - ({"exercises.py"} if module == CAPSTONE else set())  # discussion questions instead
        problems += [f"{module}: no {room}" for room in sorted(rooms - names)]
        for path in sorted(folder.glob("*.py")):
            room = path.stem
            forbidden = {"analysis": ("page", "figures", "exercises"), "page": ("figures", "exercises"),
                         "figures": (), "exercises": (), "__init__": ()}.get(room, LATER_ROOMS)
            for target in imported_modules(path, root):
                if target.startswith(module + ".") and target[len(module) + 1:].split(".")[0] in forbidden:
                    problems.append(f"{module}.{room} imports {target}")
            text = path.read_text()
            if len(text.splitlines()) > MAX_FILE_LINES:
                problems.append(f"{path.relative_to(root)}: {len(text.splitlines())} lines")
            tree = ast.parse(text)
            for name in public_names(tree) if room != "__init__" else ():
                if name in defined_in:
                    problems.append(f"{module}: {name} is defined in {defined_in[name]} and {room}")
                if name in stems or name == "PARTS":  # the module (or the lookup's own PARTS) would win
                    problems.append(f"{module}: {name} in {room} has the name of the chapter's {name}")
                defined_in.setdefault(name, room)
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = node.end_lineno - node.lineno + 1
                    if length > MAX_FUNCTION_LINES:
                        problems.append(f"{path.relative_to(root)}: {node.name} is {length} lines")
    return problems


def test_every_chapter_follows_the_seam():
    assert seam_problems() == []


def test_the_seam_check_finds_a_broken_chapter(tmp_path):
    """A copy of one chapter with a missing page, a story that imports the page, and a function too long:
    each is reported."""
    import shutil

    source = PACKAGE / "chapters" / "hidden_progress"
    copy = tmp_path / "companion" / "chapters" / "hidden_progress"
    shutil.copytree(source, copy)
    for module in topics.TOPICS.values():
        if module != "companion.chapters.hidden_progress":
            shutil.copytree(ROOT / Path(*module.split(".")), tmp_path / Path(*module.split(".")))
    (copy / "page.py").unlink()
    (copy / "experiment.py").write_text((copy / "experiment.py").read_text() + "\nfrom .page import claims\n"
                                        + "\ndef long():\n" + "    x = 1\n" * 80)
    (copy / "figures.py").write_text((copy / "figures.py").read_text() + "\ndef run():\n    pass\n"
                                     + "\ndef analysis():\n    pass\n")
    found = seam_problems(tmp_path)
    assert "companion.chapters.hidden_progress: no page.py" in found
    assert "companion.chapters.hidden_progress.experiment imports companion.chapters.hidden_progress.page" in found
    assert any("long is 81 lines" in line for line in found), found
    assert "companion.chapters.hidden_progress: run is defined in experiment and figures" in found
    assert "companion.chapters.hidden_progress: analysis in figures has the name of the chapter's analysis" in found


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
