import re

import pytest

from companion.core.explorer import Explorer
from companion.core.plotting import PALETTE, figure


def draw(value):
    fig, ax = figure()
    ax.plot([0, 1], [0, value], color=PALETTE["blue"])
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    return fig


def test_explorer_is_self_contained_html():
    html = Explorer.from_function(draw, [1, 2, 3], name="height", title="A test").to_html()
    assert html.count('class="companion-frame"') == 3
    assert 'type="range"' in html and 'max="2"' in html
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert len(set(re.findall(r'src="(data:image/webp;base64,[^"]+)"', html))) == 3  # frames differ
    assert "height = 3" in html  # starts on the last frame


def test_frames_go_to_the_page_as_lossless_webp_with_the_same_pixels():
    import base64
    import io

    import numpy as np
    from PIL import Image

    explorer = Explorer.from_function(draw, [1, 2], name="height")
    shown = re.findall(r'src="data:image/webp;base64,([^"]+)"', explorer.to_html())
    for png, webp in zip(explorer.frames, shown):
        page = base64.b64decode(webp)
        assert len(page) < len(png)
        original = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(page)).convert("RGBA")), original)


def test_explorer_rejects_mismatched_input():
    with pytest.raises(ValueError, match="2 frames but 1 labels"):
        Explorer([b"a", b"b"], ["only one"], name="x")
    with pytest.raises(ValueError, match="at least one frame"):
        Explorer([], [], name="x")


def test_house_style_figures_are_opaque():
    fig, _ = figure()
    assert fig.get_facecolor()[3] == 1.0


def test_explorer_from_updates_and_cache_round_trip(private_cache):
    from dataclasses import dataclass

    from companion.core.explorer import cached_explorer

    @dataclass(frozen=True)
    class Settings:
        points: int = 3

    fig, ax = figure()
    (line,) = ax.plot([0, 1], [0, 0])
    built = []

    def build():
        built.append(1)
        return Explorer.from_updates(fig, lambda v: line.set_ydata([0, v]), [1, 2, 3], name="slope")

    first = cached_explorer("toy-explorer", 1, build, run=Settings(), count=3)
    second = cached_explorer("toy-explorer", 1, build, run=Settings(), count=3)
    assert len(built) == 1
    cached_explorer("toy-explorer", 1, build, run=Settings(), count=4)  # any other input: drawn anew
    cached_explorer("toy-explorer", 1, build, run=Settings(points=4), count=3)
    assert len(built) == 3
    assert first.frames == second.frames and first.labels == second.labels == ["slope = 1", "slope = 2", "slope = 3"]
    assert len(set(first.frames)) == 3


def test_frames_from_updates_keep_the_layout_of_the_first(monkeypatch):
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    layouts = []
    execute = ConstrainedLayoutEngine.execute
    monkeypatch.setattr(ConstrainedLayoutEngine, "execute", lambda self, fig: layouts.append(1) or execute(self, fig))
    fig, ax = figure()
    (line,) = ax.plot([0, 1], [0, 0])
    explorer = Explorer.from_updates(fig, lambda v: (line.set_ydata([0, v]), ax.set_ylim(0, v)), [1, 10, 1000],
                                     name="slope")
    assert len(set(explorer.frames)) == 3
    assert len(layouts) == 1  # matplotlib lays a constrained figure out again at every save otherwise
    assert [a.get_position().bounds for a in fig.axes] == [ax.get_position().bounds]


def test_a_cached_explorer_keeps_its_frames_as_the_page_shows_them(private_cache, monkeypatch):
    from companion.core import explorer as explorer_module

    def page(explorer):
        return re.sub(r"companion-explorer-\d+", "", explorer.to_html())

    drawn = Explorer.from_function(draw, [1, 2, 3], name="height")
    cached = explorer_module.cached_explorer("toy-explorer", 1, lambda: drawn, count=3)
    expected = page(drawn)
    assert page(cached) == expected  # the same page as the explorer drawn afresh
    converted = []
    monkeypatch.setattr(explorer_module, "_for_the_page", lambda frame: converted.append(frame) or frame)
    again = explorer_module.cached_explorer("toy-explorer", 1, lambda: drawn, count=3)
    assert page(again) == expected and not [f for f in converted if f[:4] == b"\x89PNG"]  # nothing to convert


def test_filter_explorer_shows_what_the_choices_match():
    from companion.core.explorer import FilterExplorer

    items = [("<b>red square</b>", {"colour": ["red"], "shape": ["square"]}),
             ("<b>blue square</b>", {"colour": ["blue"], "shape": ["square"]}),
             ("<b>red and blue circle</b>", {"colour": ["red", "blue"], "shape": ["circle"]})]
    explorer = FilterExplorer(items, {"colour": ["red", "blue"], "shape": ["square", "circle"]}, noun="shapes")
    assert explorer.visible() == [0, 1, 2]
    assert explorer.visible(colour="red") == [0, 2]
    assert explorer.visible(colour="blue", shape="square") == [1]
    html = explorer.to_html()
    assert html.count('class="companion-filter-select"') == 2 and html.count('class="companion-filter-item"') == 3
    assert "3 of 3 shapes" in html and "<script" not in html and "https://" not in html
    assert 'data-colour="[&quot;red&quot;, &quot;blue&quot;]"' in html
    with pytest.raises(ValueError, match="shape must be one of"):
        explorer.visible(shape="triangle")
    with pytest.raises(ValueError, match="at least one item"):
        FilterExplorer([], {"colour": ["red"]})


def test_a_figure_describes_itself_from_its_titles_and_axes():
    from companion.core.plotting import describe, figure

    fig, (left, right) = figure(2)
    fig.suptitle("Two panels")
    left.set(title="Loss", xlabel="step", ylabel="nats")
    right.set(xlabel="width")
    assert describe(fig) == "Figure. Two panels. Loss: nats against step. A panel: width."
    empty, _ = figure()
    assert describe(empty) == "Figure."
