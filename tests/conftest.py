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
