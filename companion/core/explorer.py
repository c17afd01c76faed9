"""Explorers: sliders (and filters) that work without a kernel.

An explorer draws every frame of a sweep in advance (one figure per training step, temperature,
width...) and shows them as one self-contained HTML block: the frames inline (as WebP), a range input and a
few lines of inline JavaScript that show the chosen frame. Nothing is fetched from a network and no
kernel is needed, so the control works the same in the static book, in Jupyter and in Colab.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from .cache import Result, cached
from .config import check_choice
from .plotting import to_png

_ids = itertools.count()


def _mime(frame: bytes) -> str:
    if frame.lstrip()[:4] in (b"<svg", b"<?xm"):
        return "image/svg+xml"
    return "image/webp" if frame[:4] == b"RIFF" and frame[8:12] == b"WEBP" else "image/png"


def _for_the_page(frame: bytes) -> bytes:
    """A PNG frame as WebP, the frames being inlined and so most of a chapter page's weight: lossless
    (the same pixels, about a third smaller than PNG for line plots), or lossy at quality 90 where that
    is less than 70% of the lossless size (pictures full of scattered points or shaded regions, where
    lossless WebP gains little)."""
    if _mime(frame) != "image/png":
        return frame
    from PIL import Image  # Pillow comes with matplotlib

    image = Image.open(io.BytesIO(frame))
    lossless, lossy = io.BytesIO(), io.BytesIO()
    image.save(lossless, format="WEBP", lossless=True, method=4)
    image.convert("RGB").save(lossy, format="WEBP", quality=90, method=4)
    best = lossy if lossy.tell() < 0.7 * lossless.tell() else lossless
    return best.getvalue() if best.tell() < len(frame) else frame


class Explorer:
    """Frames (PNG or SVG bytes) with one label each, shown behind a slider.

    >>> Explorer.from_function(draw, values=[0, 10, 100], name="step")  # draw(value) -> figure
    """

    def __init__(self, frames: Sequence[bytes], labels: Sequence[str], name: str,
                 title: str = "", start: int | None = None):
        if not frames:
            raise ValueError("an explorer needs at least one frame")
        if len(frames) != len(labels):
            raise ValueError(f"got {len(frames)} frames but {len(labels)} labels")
        self.frames, self.labels, self.name, self.title = list(frames), list(labels), name, title
        self.start = len(frames) - 1 if start is None else start

    @classmethod
    def from_updates(cls, fig, update: Callable, values: Sequence, name: str, title: str = "",
                     label: Callable = str, dpi: int = 80, start: int | None = None) -> Explorer:
        """Frames from one figure changed in place by ``update(value)``: much faster than redrawing.

        The layout the first frame settles is kept for the others: a constrained layout is worked out
        afresh at every save, which took more than half of each frame's time, and a frozen one also keeps
        the axes from shifting as the slider moves."""
        frames = []
        for value in values:
            update(value)
            frames.append(to_png(fig, dpi=dpi, close=False))
            fig.set_layout_engine("none")
        plt.close(fig)
        return cls(frames, [f"{name} = {label(v)}" for v in values], name, title, start)

    @classmethod
    def from_function(cls, draw: Callable, values: Sequence, name: str, title: str = "",
                      label: Callable = str, dpi: int = 80, start: int | None = None) -> Explorer:
        frames = [to_png(draw(value), dpi=dpi) for value in values]
        return cls(frames, [f"{name} = {label(v)}" for v in values], name, title, start)

    def for_the_page(self) -> Explorer:
        """The same explorer with its frames as the page shows them (WebP; SVG as it is)."""
        return Explorer([_for_the_page(frame) for frame in self.frames], self.labels, self.name, self.title,
                        self.start)

    def to_html(self) -> str:
        uid = f"companion-explorer-{next(_ids)}"
        frames = [_for_the_page(frame) for frame in self.frames]  # no work for frames already converted
        images = "\n".join(
            f'<img class="companion-frame" data-index="{i}" alt="{html.escape(label)}" '
            f'style="max-width:100%;display:{"block" if i == self.start else "none"}" '
            f'src="data:{_mime(frame)};base64,{base64.b64encode(frame).decode()}"/>'
            for i, (frame, label) in enumerate(zip(frames, self.labels))
        )
        labels = html.escape(json.dumps(self.labels))
        title = (f'<div class="companion-title" style="font-weight:600">{html.escape(self.title)}</div>'
                 if self.title else "")
        # The handler is inline (no <script> element) so it also runs where scripts in outputs are not.
        handler = (
            "var root=this.closest('.companion-explorer');"
            "var frames=root.querySelectorAll('.companion-frame');"
            "var labels=JSON.parse(root.dataset.labels);"
            "for(var i=0;i<frames.length;i++){frames[i].style.display=(i==this.value)?'block':'none';}"
            "root.querySelector('.companion-label').textContent=labels[this.value];"
        )
        return (
            f'<div class="companion-explorer" id="{uid}" data-labels="{labels}" '
            f'style="background:white;color:black;padding:8px;border-radius:4px">'
            f"{title}"
            f'<label style="display:flex;gap:12px;align-items:center">'
            f'<input type="range" class="companion-slider" min="0" max="{len(self.frames) - 1}" '
            f'step="1" value="{self.start}" aria-label="{html.escape(self.name)}" '
            f'style="flex:1" oninput="{handler}"/>'
            f'<span class="companion-label" style="min-width:9em;font-family:monospace">'
            f"{html.escape(self.labels[self.start])}</span></label>"
            f"{images}</div>"
        )

    def _repr_html_(self) -> str:
        return self.to_html()

    def to_result(self) -> Result:
        """The explorer as a cache entry: frames as byte tensors, labels and settings as metrics."""
        arrays = {f"frame.{i:04d}": torch.frombuffer(bytearray(f), dtype=torch.uint8)
                  for i, f in enumerate(self.frames)}
        return Result(metrics={"labels": self.labels, "name": self.name, "title": self.title,
                               "start": self.start}, arrays=arrays)

    @classmethod
    def from_result(cls, result: Result) -> Explorer:
        frames = [result.arrays[key].numpy().tobytes() for key in sorted(result.arrays)]
        m = result.metrics
        return cls(frames, m["labels"], m["name"], m["title"], m["start"])

    def save(self, path) -> None:
        """Write a stand-alone page, for sharing or for the browser tests."""
        Path(path).write_text(f"<!doctype html><meta charset='utf-8'><body>{self.to_html()}</body>")


@dataclass(frozen=True)
class ExplorerKey:
    """Everything an explorer's frames depend on, as JSON: the runs it shows and its own settings."""

    inputs: str
    # The frames are kept as the page shows them: converting a chapter's frames to WebP costs seconds,
    # which every build would pay again. Entries from before, which hold PNG frames, have another key.
    frames: str = "for the page"


def cached_explorer(name: str, version: int, build: Callable[[], Explorer], **inputs) -> Explorer:
    """An explorer drawn once and kept in the result cache, keyed on `inputs`: every value its frames
    depend on (the configs of the runs it shows, and each of its own parameters: a count, a neuron, a
    text), so that changing any of them draws new frames instead of serving old ones."""
    key = ExplorerKey(inputs=json.dumps(inputs, sort_keys=True, default=_plain))
    return Explorer.from_result(cached(name, version, key, lambda: build().for_the_page().to_result()))


def _plain(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"an explorer's inputs must be JSON, dataclasses or lists of them, got {type(value).__name__}")


class FilterExplorer:
    """A list of items with drop-down filters, one per facet, that works without a kernel.

    Each item is an HTML body and, per facet, the values it belongs to; choosing a value in a facet's
    drop-down shows only the items that carry it (all facets must match), and a counter says how many.

    >>> FilterExplorer([("<b>one</b>", {"colour": ["red"]})], {"colour": ["red", "blue"]}, noun="items")
    """

    def __init__(self, items: Sequence[tuple[str, dict[str, list[str]]]], facets: dict[str, list[str]],
                 title: str = "", noun: str = "items"):
        if not items:
            raise ValueError("a filter explorer needs at least one item")
        for _body, tags in items:
            unknown = {facet: [v for v in values if v not in facets.get(facet, [])] for facet, values in tags.items()}
            if any(unknown.values()):
                raise ValueError(f"item tags {unknown} are not among the facets' values {facets}")
        self.items, self.facets, self.title, self.noun = list(items), dict(facets), title, noun

    def visible(self, **chosen: str) -> list[int]:
        """The indices of the items a reader sees with these choices (facet=value): what the page's script does."""
        for facet, value in chosen.items():
            check_choice(facet, value, self.facets.get(facet, []))
        return [i for i, (_, tags) in enumerate(self.items)
                if all(value in tags.get(facet, []) for facet, value in chosen.items())]

    def to_html(self) -> str:
        uid = f"companion-filter-{next(_ids)}"
        # Inline handlers (no <script> element), as in Explorer, so they run wherever the HTML is shown.
        handler = (
            "var root=this.closest('.companion-filter');"
            "var selects=root.querySelectorAll('.companion-filter-select');"
            "var items=root.querySelectorAll('.companion-filter-item');var shown=0;"
            "for(var i=0;i<items.length;i++){var keep=true;"
            "for(var j=0;j<selects.length;j++){var value=selects[j].value;"
            "var tags=JSON.parse(items[i].getAttribute('data-'+selects[j].getAttribute('data-facet')));"
            "if(value&&tags.indexOf(value)<0){keep=false;}}"
            "items[i].style.display=keep?'block':'none';if(keep){shown++;}}"
            "root.querySelector('.companion-filter-count').textContent="
            "shown+' of '+items.length+' '+root.getAttribute('data-noun');"
        )
        controls = "".join(
            f'<label style="margin-right:16px">{html.escape(facet)} '
            f'<select class="companion-filter-select" data-facet="{html.escape(facet)}" '
            f'aria-label="{html.escape(facet)}" onchange="{html.escape(handler)}">'
            f'<option value="">all</option>'
            + "".join(f'<option value="{html.escape(v)}">{html.escape(v)}</option>' for v in values)
            + "</select></label>"
            for facet, values in self.facets.items())
        items = "".join(
            '<div class="companion-filter-item" '
            + "".join(f'data-{html.escape(facet)}="{html.escape(json.dumps(tags.get(facet, [])))}" '
                      for facet in self.facets)
            + f'style="display:block;border-top:1px solid #ddd;padding:6px 0">{body}</div>'
            for body, tags in self.items)
        title = (f'<div class="companion-title" style="font-weight:600">{html.escape(self.title)}</div>'
                 if self.title else "")
        count = f"{len(self.items)} of {len(self.items)} {self.noun}"
        return (
            f'<div class="companion-filter" id="{uid}" data-noun="{html.escape(self.noun)}" '
            f'style="background:white;color:black;padding:8px;border-radius:4px">{title}'
            f'<div style="margin:6px 0">{controls}'
            f'<span class="companion-filter-count" style="font-family:monospace">{html.escape(count)}</span></div>'
            f"{items}</div>"
        )

    def _repr_html_(self) -> str:
        return self.to_html()

    def save(self, path) -> None:
        Path(path).write_text(f"<!doctype html><meta charset='utf-8'><body>{self.to_html()}</body>")
