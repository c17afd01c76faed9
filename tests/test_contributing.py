"""What the people who carry the book on need: the licences, the citation file and the guide to adding a
chapter. The citation file must be valid CFF and cite the papers exactly as `book/references.bib` has
them; the guide must not drift from the code: every path, command, flag and name it gives is checked
here, and a guide with a broken one is shown to fail."""

import ast
import contextlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import unicodedata
import zipfile
from functools import cache

import pytest
import yaml
from conftest import ROOT

from companion import topics

GUIDE = ROOT / "CONTRIBUTING.md"
CITATION = ROOT / "CITATION.cff"
BIBLIOGRAPHY = ROOT / "book" / "references.bib"
BENCHMARKS = ROOT / "benchmarks" / "run_benchmarks.py"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
CFFCONVERT = "cffconvert==2.0.0"

# The guide's placeholders and the chapter that stands in for them when its paths are checked.
PLACEHOLDERS = {"<topic>": "margin-features", "<package>": "margin_features"}
TEMPLATE = ROOT / "book" / f"{PLACEHOLDERS['<topic>']}.ipynb"  # the notebook the guide says to follow
PATH_SUFFIXES = (".py", ".ipynb", ".yml", ".md", ".toml", ".cff")
SOURCES = ("companion", "tests", "benchmarks")  # where the names the guide gives are defined
FLAG_VALUES_NOT_PATHS = {"--out", "-k", "-m"}  # what follows them is an output folder or an expression


# ----------------------------------------------------------------------------- what the code offers

@cache
def make_targets() -> frozenset[str]:
    """The Makefile's rules (a name declared .PHONY without a rule is no target)."""
    rules = re.findall(r"^([A-Za-z0-9_.-]+(?:[ \t]+[A-Za-z0-9_.-]+)*)[ \t]*:(?!=)", (ROOT / "Makefile").read_text(),
                       re.M)
    return frozenset(name for rule in rules for name in rule.split() if not name.startswith("."))


def command_line_help(*args: str) -> str:
    from companion.__main__ import main

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.suppress(SystemExit):
        main([*args, "--help"])
    return printed.getvalue()


@cache
def subcommands() -> frozenset[str]:
    usage = command_line_help()
    return frozenset(re.search(r"\{([\w,-]+)\}", usage).group(1).split(","))


@cache
def subcommand_flags(subcommand: str) -> dict[str, tuple[str, ...] | None]:
    """`python -m companion SUBCOMMAND`'s flags, each with its choices (None where any value goes)."""
    text = command_line_help(subcommand)
    flags = {flag: None for flag in re.findall(r"(?<![\w-])(--[\w-]+)", text)}
    for flag, choices in re.findall(r"(--[\w-]+) \{([^}]*)\}", text):
        flags[flag] = tuple(choices.split(","))
    return flags


@cache
def benchmark_script() -> tuple[frozenset[str], tuple[str, ...]]:
    """benchmarks/run_benchmarks.py's flags (from its argparse calls) and its SECTIONS."""
    tree = ast.parse(BENCHMARKS.read_text())
    flags, sections = set(), ()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
            flags.update(arg.value for arg in node.args if isinstance(arg, ast.Constant))
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "SECTIONS" for t in node.targets):
            sections = ast.literal_eval(node.value)
    return frozenset(flags), sections


def _names_defined(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


@cache
def defined_in(path) -> frozenset[str]:
    return frozenset(_names_defined(ast.parse(path.read_text())))


@cache
def defined_anywhere() -> frozenset[str]:
    return frozenset(name for folder in SOURCES for path in (ROOT / folder).rglob("*.py")
                     for name in defined_in(path))


@cache
def notebook_text(path) -> tuple[str, frozenset[str]]:
    """A notebook's markdown, and the cell tags it uses."""
    cells = json.loads(path.read_text())["cells"]
    markdown = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return markdown, frozenset(tag for c in cells for tag in c.get("metadata", {}).get("tags", []))


@cache
def code_fragments() -> str:
    return "\n".join(path.read_text() for path in [*(ROOT / "companion").rglob("*.py"),
                                                     *(ROOT / "book").glob("*.ipynb")])


def book_tags() -> frozenset[str]:
    return frozenset(tag for path in (ROOT / "book").glob("*.ipynb") for tag in notebook_text(path)[1])


# ----------------------------------------------------------------------------- checking the guide

def substitute(text: str) -> str:
    for placeholder, value in PLACEHOLDERS.items():
        text = text.replace(placeholder, value)
    return text


def looks_like_path(token: str) -> bool:
    return "://" not in token and not token.startswith(("{", "-", "(")) and (
        "/" in token or token.endswith(PATH_SUFFIXES))


def path_problems(token: str) -> list[str]:
    path, _, node = token.partition("::")
    if re.search(r"[<>*]", path):
        return [f"`{token}`: a placeholder the guide does not define (only {', '.join(PLACEHOLDERS)})"]
    if "/" in path:
        found = ROOT / path
        if not (found.is_dir() if path.endswith("/") else found.exists()):
            return [f"`{token}`: no such path in the repository"]
    else:
        found = ROOT / path
        if not found.exists():
            found = next((p for folder in ("book", *SOURCES) for p in (ROOT / folder).rglob(path)), None)
            if found is None:
                return [f"`{token}`: no file of that name in the repository"]
    if node and not re.search(rf"^\s*def {re.escape(node)}\(", found.read_text(), re.M):
        return [f"`{token}`: {path} has no test {node}"]
    return []


def dotted_name_problems(token: str) -> list[str]:
    """`companion.core.stats.mean_interval`: a module of the package, and at most one name defined in it."""
    parts = token.split(".")
    for cut in range(len(parts), 0, -1):
        stem = ROOT.joinpath(*parts[:cut])
        module = stem.with_suffix(".py") if stem.with_suffix(".py").exists() else stem / "__init__.py"
        if module.exists():
            rest = parts[cut:]
            if not rest or (len(rest) == 1 and rest[0] in defined_in(module)):
                return []
            return [f"`{token}`: {module.relative_to(ROOT)} defines no {'.'.join(rest)}"]
    return [f"`{token}`: no such module in the package"]


def flag_problems(words: list[str], known: dict[str, tuple[str, ...] | None], where: str) -> list[str]:
    problems = []
    for i, word in enumerate(words):
        if not word.startswith("--"):
            continue
        if word not in known:
            problems.append(f"`{word}`: {where} has no such flag")
        elif known[word] and i + 1 < len(words) and words[i + 1] not in known[word]:
            problems.append(f"`{word} {words[i + 1]}`: {where} accepts only {', '.join(known[word])}")
    return problems


def command_problems(line: str) -> list[str]:
    words = shlex.split(line, comments=True)
    if not words:
        return []
    problems = []
    if words[0] == "make":
        return [f"`make {target}`: the Makefile has no such target" for target in words[1:]
                if target not in make_targets()]
    for i, word in enumerate(words):
        previous = words[i - 1] if i else ""
        if looks_like_path(word) and previous not in FLAG_VALUES_NOT_PATHS:
            problems += path_problems(word)
    if words[1:3] == ["-m", "companion"] and len(words) > 3:
        subcommand, rest = words[3], words[4:]
        if subcommand not in subcommands():
            return problems + [f"`python -m companion {subcommand}`: no such subcommand ({sorted(subcommands())})"]
        problems += flag_problems(rest, subcommand_flags(subcommand), f"python -m companion {subcommand}")
        if subcommand == "reproduce" and rest and not rest[0].startswith("-") and rest[0] not in topics.TOPICS:
            problems.append(f"`reproduce {rest[0]}`: no such topic")
    if any(word.endswith("run_benchmarks.py") for word in words):
        flags, sections = benchmark_script()
        problems += flag_problems(words, dict.fromkeys(flags), "benchmarks/run_benchmarks.py")
        for flag, allowed in (("--only", sections), ("--topics", topics.CHAPTERS)):
            if flag in words[:-1]:
                problems += [f"`{flag} {value}`: not one of {', '.join(allowed)}"
                             for value in words[words.index(flag) + 1].split(",") if value not in allowed]
    return problems


def is_command(span: str) -> bool:
    first = span.split()[0]
    return " " in span and (first == "make" or re.search(r"(^|/)python3?$", first) is not None
                            or first.startswith(".venv/bin/") or first.endswith(".py"))


def span_problems(span: str) -> list[str]:
    """What is wrong with one inline code span of the guide (placeholders already substituted)."""
    markdown, _ = notebook_text(TEMPLATE)
    if is_command(span):
        return command_problems(span)
    if span.startswith("--"):
        known = {**{flag: choices for sub in subcommands() for flag, choices in subcommand_flags(sub).items()},
                 **dict.fromkeys(benchmark_script()[0])}
        return flag_problems(span.split(), known, "neither the command line nor the benchmarks")
    if re.fullmatch(r"\{[\w:-]+\}", span) or re.fullmatch(r"\([\w-]+\)=", span):
        return [] if span in markdown else [f"`{span}`: not in {TEMPLATE.relative_to(ROOT)}"]
    if span.startswith("#"):
        headings = {line.strip() for line in markdown.splitlines() if line.startswith("#")}
        return [] if span in headings else [f"`{span}`: no such heading in {TEMPLATE.relative_to(ROOT)}"]
    if re.fullmatch(r"companion(\.\w+)+", span):
        return dotted_name_problems(span)
    if called := re.fullmatch(r"([A-Za-z_]\w*)\(.*\)", span):
        return [] if called.group(1) in defined_anywhere() else [f"`{span}`: defined nowhere in {SOURCES}"]
    if re.fullmatch(r"[A-Z][A-Z0-9_]+", span) and not (ROOT / span).exists():
        return [] if span in defined_anywhere() else [f"`{span}`: defined nowhere in {SOURCES}"]
    if " " not in span and looks_like_path(span):
        return path_problems(span)
    if re.match(r"from |import |\(\"|\"", span):  # a line of code to copy: the package or the book has it
        return [] if span in code_fragments() else [f"`{span}`: appears in no source of the package or the book"]
    return []


FENCE = re.compile(r"^```[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
SPAN = re.compile(r"`([^`\n]+)`")
TAGGED = re.compile(r"tagged\s+((?:`[\w-]+`(?:,\s*|\s+and\s+|\s+or\s+)?)+)")


def guide_problems(text: str) -> list[str]:
    """Everything in the guide's text that the repository does not bear out; empty when all holds."""
    prose = FENCE.sub("", text)
    problems = [f"line {n}: a code span broken across lines" for n, line in enumerate(prose.splitlines(), 1)
                if line.count("`") % 2]
    for block in FENCE.findall(text):
        for line in block.splitlines():
            problems += command_problems(substitute(line))
    for span in SPAN.findall(prose):
        problems += span_problems(substitute(span))
    for tags in TAGGED.findall(prose):
        problems += [f"tag `{tag}`: no notebook of the book uses it" for tag in re.findall(r"`([\w-]+)`", tags)
                     if tag not in book_tags()]
    return problems


def test_the_placeholders_stand_for_a_real_chapter():
    assert PLACEHOLDERS["<topic>"] in topics.CHAPTERS
    assert topics.CHAPTER_MODULES[PLACEHOLDERS["<topic>"]] == f"companion.chapters.{PLACEHOLDERS['<package>']}"


def test_every_path_command_flag_and_name_in_the_guide_exists():
    assert guide_problems(GUIDE.read_text()) == []


def test_the_guide_names_every_step_in_the_order_the_code_needs():
    text = GUIDE.read_text()
    steps = ["companion/chapters/<package>/", "companion/topics.py", "book/<topic>.ipynb", "_toc.yml",
             "tests/chapters/test_<package>.py", "failing-when-broken", "benchmarks/run_benchmarks.py",
             "companion/chapters/alignment_challenges/experiment.py", "## The referee standard"]
    places = [text.find(step) for step in steps]
    assert -1 not in places, [step for step, place in zip(steps, places) if place == -1]
    assert places == sorted(places)
    assert 120 <= len(text.splitlines()) <= 200


@pytest.mark.parametrize("broken, named", [
    ("`companion/chapters/<package>/nothing.py`", "nothing.py"),
    ("`tests/test_cli.py::test_that_never_was`", "test_that_never_was"),
    ("`make lint`", "make lint"),  # declared .PHONY in the Makefile, but it has no rule
    ("`python -m companion publish`", "publish"),
    ("`.venv/bin/python -m companion reproduce <topic> --fast`", "--fast"),
    ("`.venv/bin/python -m companion reproduce <topic> --scale huge`", "huge"),
    ("`.venv/bin/python benchmarks/run_benchmarks.py --only chapter`", "chapter"),
    ("`.venv/bin/python benchmarks/run_benchmarks.py --warm-only`", "--warm-only"),
    ("`--cold`", "--cold"),
    ("`companion.core.stats.median_interval`", "median_interval"),
    ("`CHAPTER_THINGS`", "CHAPTER_THINGS"),
    ("`explain()`", "explain"),
    ("`## Homework`", "Homework"),
    ('`"<topic>": "companion.<package>"`', "companion.margin_features"),
    ("a cell tagged `remove-everything`", "remove-everything"),
    ("`book/<chapter>.ipynb`", "placeholder"),
    ("```bash\nmake publish\n```", "make publish"),
])
def test_a_guide_that_names_what_is_not_there_fails(broken, named):
    problems = guide_problems(GUIDE.read_text() + "\n" + broken + "\n")
    assert len(problems) == 1 and named in problems[0], problems


# ----------------------------------------------------------------------------- the licences

def test_the_code_is_mit_and_the_text_and_figures_cc_by():
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License\n")
    assert f"Copyright (c) {CONFIG['copyright']} {CONFIG['author']}" in licence
    assert re.search(r'^license = \{ text = "MIT" \}', (ROOT / "pyproject.toml").read_text(), re.M)
    content = (ROOT / "LICENSE-BOOK.md").read_text()
    assert "CC BY 4.0" in content and "https://creativecommons.org/licenses/by/4.0/" in content
    readme = (ROOT / "README.md").read_text()
    for named in ("CC BY 4.0", "MIT", "(LICENSE)", "(LICENSE-BOOK.md)", "(CITATION.cff)", "(CONTRIBUTING.md)"):
        assert named in readme


def test_the_books_footer_names_both_licences_and_jupyter_book_takes_it():
    from jupyter_book.config import validate_yaml, yaml_to_sphinx

    footer = CONFIG["html"]["extra_footer"]
    assert "CC BY 4.0" in footer and "https://creativecommons.org/licenses/by/4.0/" in footer and "MIT" in footer
    repository = CONFIG["repository"]
    links = re.findall(r'href="(https://github\.com/[^"]+)"', footer)
    assert links
    for link in links:
        prefix = f"{repository['url']}/blob/{repository['branch']}/"
        assert link.startswith(prefix) and (ROOT / link.removeprefix(prefix)).exists(), link
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    validate_yaml(config, raise_on_errors=True)
    assert yaml_to_sphinx(config)[0]["html_theme_options"]["extra_footer"] == footer


# ----------------------------------------------------------------------------- the citation file

def test_the_citation_file_is_valid_cff(tmp_path):
    """Validated by cffconvert in an environment of its own (it pins jsonschema<4, which the book's
    environment must not get); where uv cannot fetch it, by the schema cffconvert ships, with pip."""
    uv = shutil.which("uv", path=os.path.dirname(sys.executable)) or "uv"
    tool = [uv, "tool", "run", "--from", CFFCONVERT, "cffconvert"]
    try:
        available = subprocess.run([*tool, "--version"], capture_output=True, text=True, timeout=300).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        available = False
    if available:
        done = subprocess.run([*tool, "--validate", "-i", str(CITATION)], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "valid" in done.stdout
        return
    import jsonschema

    fetched = subprocess.run([sys.executable, "-m", "pip", "download", CFFCONVERT, "--no-deps", "--quiet", "-d",
                              str(tmp_path)], capture_output=True, text=True, timeout=300)
    if fetched.returncode != 0:
        pytest.skip(f"no package registry reachable: neither uv nor pip could fetch {CFFCONVERT}")
    wheel = next(tmp_path.glob("cffconvert-*.whl"))
    metadata = yaml.safe_load(CITATION.read_text())
    schema = json.loads(zipfile.ZipFile(wheel).read(f"cffconvert/schemas/{metadata['cff-version']}/schema.json"))
    jsonschema.Draft7Validator(schema).validate(metadata)


ACCENTS = {'"': "\u0308", "'": "\u0301", "`": "\u0300", "^": "\u0302", "~": "\u0303"}


def plain(text: str) -> str:
    """BibTeX text as it reads: accents such as {\\"u} as letters, protective braces gone."""
    text = re.sub(r"\{?\\([\"'`^~])\{?(\w)\}?\}?",
                  lambda m: unicodedata.normalize("NFC", m.group(2) + ACCENTS[m.group(1)]), text)
    return " ".join(text.replace("{", "").replace("}", "").split())


def bibliography() -> list[dict]:
    entries = []
    for kind, key, body in re.findall(r"^@(\w+)\{([^,\s]+),(.*?)^\}", BIBLIOGRAPHY.read_text(), re.M | re.S):
        fields = {name.lower(): value for name, value in re.findall(r"^\s*(\w+)\s*=\s*\{(.*)\},?\s*$", body, re.M)}
        entries.append({"kind": kind.lower(), "key": key, **fields})
    return entries


def test_the_citation_references_are_the_reproduced_papers_as_the_bibliography_has_them():
    """The papers are the first entries of references.bib, one per topic of the book."""
    papers = bibliography()[:len(topics.TOPICS)]
    references = yaml.safe_load(CITATION.read_text())["references"]
    assert [r["title"] for r in references] == [plain(p["title"]) for p in papers]
    for paper, reference in zip(papers, references):
        expected = {"type": {"inproceedings": "conference-paper", "article": "article"}[paper["kind"]],
                    "year": int(paper["year"]), "url": f"https://arxiv.org/abs/{paper['eprint']}",
                    **({"collection-title": plain(paper["booktitle"])} if "booktitle" in paper
                       else {"journal": plain(paper["journal"])})}
        assert {name: reference.get(name) for name in expected} == expected, paper["key"]
        authors = [plain(name).split(", ", 1) for name in paper["author"].split(" and ") if name != "others"]
        assert [[a["family-names"], a["given-names"]] for a in reference["authors"]] == authors, paper["key"]


def test_every_reproduced_paper_is_cited_by_the_book():
    notebooks = "\n".join(path.read_text() for path in (ROOT / "book").glob("*.ipynb"))
    for paper in bibliography()[:len(topics.TOPICS)]:
        assert f"`{paper['key']}`" in notebooks, paper["key"]


def test_the_citation_agrees_with_the_books_configuration():
    citation = yaml.safe_load(CITATION.read_text())
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert citation["title"] == citation["preferred-citation"]["title"] == CONFIG["title"]
    assert citation["authors"] == citation["preferred-citation"]["authors"] == [{"name": CONFIG["author"]}]
    assert citation["repository-code"] == CONFIG["repository"]["url"] and citation["version"] == version
    assert citation["preferred-citation"]["year"] == int(CONFIG["copyright"])
    assert (citation["license"], citation["preferred-citation"]["license"]) == ("MIT", "CC-BY-4.0")
