"""Every chapter runs as a reader runs it in Colab: a fresh environment that holds what Colab always has
and what the chapter's first cell installs (the package and its declared dependencies, no extras), then
the whole notebook top to bottom, at test scale. Once with the versions the book is tested with, once
with the lowest versions `pyproject.toml` allows (torch held at the pinned CPU build)."""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import nbformat
import pytest
from conftest import ROOT
from nbclient import NotebookClient

from companion.core import notebooks

# What a Colab runtime always has, which the package does not install itself (it declares matplotlib,
# numpy and ipywidgets, and the lowest-versions run takes those at their lowest).
COLAB_ALWAYS = ("ipykernel", "ipywidgets", "matplotlib", "numpy")
ENVIRONMENTS = ROOT / ".venv-colab"
CHAPTERS = notebooks.chapter_paths()


def pinned() -> dict[str, str]:
    """requirements.txt as {lower-case name: 'name==version'}."""
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return {line.split("==")[0].lower(): line for line in lines if "==" in line and not line.startswith("#")}


def run(*command, **options):
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, **options)
    assert done.returncode == 0, f"{' '.join(map(str, command))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def environment(mode: str, wheel):
    """A virtual environment for `mode` ("colab" or "lowest"), built once for each state of the
    requirements and kept in .venv-colab/, with this session's `wheel` of the package installed over
    whatever copy an earlier session left there; returns (python, {package: version})."""
    key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + (ROOT / "requirements.txt").read_bytes()
                         + repr((mode, COLAB_ALWAYS)).encode()).hexdigest()[:12]
    home = ENVIRONMENTS / f"{mode}-{key}"
    python = home / "bin" / "python"
    versions = home / "versions.json"
    if not versions.exists():
        shutil.rmtree(home, ignore_errors=True)
        run(sys.executable, "-m", "venv", home)
        pins = pinned()
        run(python, "-m", "pip", "install", "--quiet", pins["torch"])  # the CPU build, first and pinned
        package = ["--quiet", "--no-cache-dir", ROOT]  # what the chapter's first cell installs
        if mode == "colab":
            run(python, "-m", "pip", "install", "--quiet", *(pins[name] for name in COLAB_ALWAYS))
            run(python, "-m", "pip", "install", *package, "--constraint", ROOT / "requirements.txt")
        else:
            held = home / "held.txt"
            held.write_text(pins["torch"] + "\n")
            uv = shutil.which("uv", path=os.path.dirname(sys.executable)) or "uv"
            run(uv, "pip", "install", "--python", python, "--resolution", "lowest-direct", "--constraint", held,
                "--no-cache", ROOT, pins["ipykernel"])
        run(python, "-m", "ipykernel", "install", "--prefix", home, "--name", f"companion-{mode}")
        frozen = run(python, "-m", "pip", "list", "--format", "json")
        versions.write_text(json.dumps({p["name"].lower(): p["version"] for p in json.loads(frozen)}, indent=1))
    # the dependencies stay; the package is always today's tree
    run(python, "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", wheel)
    return python, json.loads(versions.read_text())


@pytest.fixture(scope="session")
def wheel(tmp_path_factory):
    """The package built as the install cell builds it, from a clean copy of the working tree (what a
    clone holds: tracked files and untracked ones git does not ignore), so no stale build/ folder of
    the tree can leak an older module into the wheel."""
    clone, out = tmp_path_factory.mktemp("clone"), tmp_path_factory.mktemp("wheel")
    files = run("git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=ROOT).split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clone / name)
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", out, clone)
    return next(out.glob("companion-*.whl"))


@pytest.fixture(scope="module", params=["lowest", "colab"])
def reader(request, wheel):
    mode = request.param
    python, versions = environment(mode, wheel)
    print(f"{mode} environment: " + ", ".join(f"{n} {versions[n]}" for n in
          ("torch", "numpy", "scipy", "matplotlib", "scikit-learn", "joblib", "safetensors", "ipywidgets")))
    # the test session's result cache for both: conftest.py runs the lowest versions first, so their
    # notebooks compute every chapter's test-scale results (training and analysis) with those versions,
    # and the rest of the session, Colab's versions included, reads what they computed
    cache = os.environ["COMPANION_CACHE"]
    return {"mode": mode, "python": python, "versions": versions, "cache": cache,
            "kernels": python.parent.parent / "share" / "jupyter"}


def test_the_environment_is_bare(reader):
    """Nothing of the book's build tools is there, and the package is an installed copy, not the tree."""
    for tool in ("myst_nb", "sphinx", "jupyter_book", "pytest"):
        done = subprocess.run([reader["python"], "-c", f"import {tool}"], capture_output=True)
        assert done.returncode != 0, f"{tool} is importable in the {reader['mode']} environment"
    where = run(reader["python"], "-c", "import companion; print(companion.__file__)", cwd="/")
    assert "site-packages" in where


@pytest.mark.slow
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_runs_top_to_bottom(reader, path, monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", str(reader["kernels"]))
    monkeypatch.setenv("COMPANION_SCALE", "test")
    monkeypatch.setenv("COMPANION_CACHE", reader["cache"])
    monkeypatch.setenv("COMPANION_PROGRESS", "0")
    nb = nbformat.read(path, as_version=4)
    timeout = nb.metadata.get("mystnb", {}).get("execution_timeout", 900)
    NotebookClient(nb, timeout=timeout, kernel_name=f"companion-{reader['mode']}",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [f"{o.ename}: {o.evalue}" for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert reader_sees_numbers(nb) == []


def reader_sees_numbers(nb) -> list[str]:
    """What a reader without myst-nb would miss: a `{glue` placeholder in the prose (shown raw), or the
    computed sections (Markdown outputs) missing, empty of numbers, or holding a MyST role."""
    problems = [f"a glue placeholder: {c.source[:60]}" for c in nb.cells if c.cell_type == "markdown"
                and "{glue" in c.source]
    markdown = [(c.source, o["data"]["text/markdown"]) for c in nb.cells if c.cell_type == "code"
                for o in c.get("outputs", []) if "text/markdown" in o.get("data", {})]
    sections = [text for cell, text in markdown if "page[" in cell]  # not the source listings, which may hold none
    if len(sections) < 3:
        problems.append(f"{len(sections)} computed sections")
    problems += [f"a computed section without a number: {text[:60]}" for text in sections
                 if not any(ch.isdigit() for ch in text)]
    problems += [f"a role in a computed output: {text[:60]}" for _, text in markdown
                 if "{glue" in text or "{ref}" in text or "{cite" in text]
    return problems


def test_the_check_finds_placeholders_and_missing_numbers():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("the loss is {glue:text}`loss`")])
    found = reader_sees_numbers(nb)
    assert any("placeholder" in p for p in found) and any("0 computed sections" in p for p in found)


def test_the_check_wants_numbers_in_the_sections_but_not_in_source_listings():
    def shown(source, text):
        cell = nbformat.v4.new_code_cell(source)
        cell.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": text})]
        return cell

    sections = [shown(f'show(page["part {i}"])', f"the gap is 0.{i}") for i in range(3)]
    listing = shown("show(source(ac.false_claims))", "`false_claims` in `companion/...`\n```python\ndef f(): pass\n```")
    assert reader_sees_numbers(nbformat.v4.new_notebook(cells=sections + [listing])) == []
    wordy = shown('show(page["verdict"])', "the gap is large")
    assert reader_sees_numbers(nbformat.v4.new_notebook(cells=sections + [wordy])) == [
        "a computed section without a number: the gap is large"]
