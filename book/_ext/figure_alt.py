"""Alt text for the figures that notebooks output.

A figure drawn in a notebook reaches the page as an image file with no text alternative (myst-nb
takes alt text only from cell metadata). `companion.core.plotting` writes each matplotlib figure's
description (its title, and each panel's title and axes) into the PNG's "Description" field, and the
chess boards carry an SVG <title>; this extension makes that the image's alt text.
"""

import html
import re
from pathlib import Path

from docutils import nodes


def description(path: Path) -> str | None:
    if path.suffix == ".png":
        from PIL import Image

        with Image.open(path) as png:
            return png.info.get("Description")
    if path.suffix == ".svg":
        title = re.search(r"<title>(.*?)</title>", path.read_text(errors="replace"), flags=re.S)
        return html.unescape(title.group(1)) if title else None
    return None


def _describe(app, doctree, docname):
    for image in doctree.findall(nodes.image):
        if image.get("alt"):
            continue
        path = Path(app.srcdir) / image["uri"]
        if not path.exists():
            path = Path(app.env.doc2path(docname)).parent / image["uri"]
        if path.exists() and (text := description(path)):
            image["alt"] = text


def setup(app):
    app.connect("doctree-resolved", _describe)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
