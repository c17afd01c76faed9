import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Every test run gets a cache of its own unless the caller chose one (CI does), so no test reads a
# result computed by older code.
os.environ.setdefault("COMPANION_CACHE", tempfile.mkdtemp(prefix="companion-test-cache-"))
os.environ["COMPANION_PROGRESS"] = "0"


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """An empty cache root for tests that inspect the cache itself."""
    monkeypatch.setenv("COMPANION_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def unfinished(*args):
    """A student's answer that is still the notebook's stub."""
    raise NotImplementedError


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """The lowest-versions Colab run (tests/test_colab.py) goes first. Its notebooks compute every
    chapter's test-scale results with the oldest dependencies pyproject.toml allows, into the session's
    cache, and the tests after it read them: the oldest versions run the training and the analysis,
    and no result is computed twice. The sort is stable, so everything else keeps its order."""
    def later(item):
        spec = getattr(item, "callspec", None)
        return not (spec is not None and spec.params.get("reader") == "lowest")
    items.sort(key=later)


def page_problems(values: dict) -> list[str]:
    """What a chapter's `page_values` must never hand the reader: a non-text or empty section, a `{glue`
    placeholder, a NaN or None printed as a number, a range whose ends print alike ("0.79 to 0.79"), a
    sentence set wholly in bold, or a Greek letter spelled out in Latin letters outside the math."""
    import re

    found = []
    for name, text in values.items():
        if not isinstance(text, str) or not text.strip():
            found.append(f"{name}: not text, or empty")
            continue
        prose = re.sub(r"\$[^$]*\$", "", text)  # the math, where \tau and \mu belong
        checks = {"a glue placeholder": "{glue" in text, "nan or None": re.search(r"\b(nan|None)\b", prose),
                  "a range with equal ends": re.search(r"(?<![\w.+-])([-+]?\d[\d.,%]*) to \1(?![\w.])", prose),
                  "a sentence in bold": re.search(r"(^|\n)\*\*[^*\n]+\*\*\s*(\n|$)", text),
                  "tau or mu in Latin letters": re.search(r"(?<![\\\w])(tau|mu)\b", prose)}
        found += [f"{name}: {what}" for what, hit in checks.items() if hit]
    return found
