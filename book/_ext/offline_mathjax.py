"""Typeset math from MathJax installed on this machine, never from a CDN.

The book must read the same on a classroom network, a train or an archived copy, where a CDN is out of
reach and every formula would stay raw TeX. `make npm-packages` (which `make book` and `make test` run)
installs MathJax 3 from npm into build/npm; this extension copies the parts a page loads (the TeX
input with CommonHTML output, its fonts, and the TeX extensions it loads on demand) into the built
site's _static/mathjax, where the `mathjax_path` of _config.yml points.
"""

import shutil
from pathlib import Path

from sphinx.errors import ExtensionError

INSTALLED = Path("build") / "npm" / "node_modules" / "mathjax" / "es5"
PARTS = ("tex-mml-chtml.js", "output/chtml/fonts", "input/tex/extensions", "ui", "a11y")


def _installed(app) -> Path:
    source = Path(app.srcdir) / INSTALLED
    if not (source / PARTS[0]).exists():
        raise ExtensionError(f"MathJax is not installed at {source}: run `make npm-packages`")
    return source


def _check(app):
    _installed(app)  # fail before hours of execution, not after


def _copy(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    source, target = _installed(app), Path(app.outdir) / "_static" / "mathjax"
    for part in PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, dirs_exist_ok=True)
        elif (source / part).exists():
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / part, target / part)


def setup(app):
    app.connect("builder-inited", _check)
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
