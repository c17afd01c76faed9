"""The book builds from a clean _build with every warning an error, and its pages work in Chromium.

The build runs at test scale unless COMPANION_SCALE says otherwise: `make test` checks the machinery (every
notebook executes, no warning, pages, figures, controls) on the results the tests computed anyway, and
`make test-book-scale` builds the book at book scale, what `make book` publishes."""

import functools
import html
import http.server
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import jupyter_cache
import pytest
from conftest import ROOT

from companion import alignment_challenges, topics
from companion.core import notebooks

pytestmark = pytest.mark.slow
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CAPSTONE = alignment_challenges.NAME


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    scale = os.environ.get("COMPANION_SCALE", "test")
    done = subprocess.run([str(jupyter_book), "build", str(ROOT), "--path-output", str(out), "-W", "-n",
                           "--keep-going"], capture_output=True, text=True, timeout=3600,
                          env={**os.environ, "COMPANION_SCALE": scale})
    log = done.stdout + done.stderr
    return {"returncode": done.returncode, "log": log, "html": out / "_build" / "html", "scale": scale,
            "executed": out / "_build" / ".jupyter_cache"}


def test_build_has_no_warnings_or_errors(book):
    assert book["returncode"] == 0, book["log"][-6000:]
    for bad in ("WARNING:", "ERROR:", "Traceback"):
        assert bad not in book["log"], book["log"][-6000:]


def test_every_notebook_was_executed_side_by_side_before_sphinx_read_it(book):
    # myst-nb finds each notebook in the jupyter-cache that book/_ext/parallel_execution.py filled; one it
    # had to execute itself would be missing here (and executed serially)
    assert book["log"].count("Using cached notebook") == len(notebooks.book_paths()), book["log"][-6000:]


def test_every_exercise_check_passes_in_the_built_notebooks(book):
    """The solutions stand in the book, so each check prints a tick: a cross in an executed notebook
    means a chapter's own check rejects its own solution."""
    assert book["returncode"] == 0, book["log"][-6000:]
    cache = jupyter_cache.get_cache(book["executed"])  # the notebooks as the build executed them
    records = {Path(record.uri).name: record.pk for record in cache.list_cache_records()}
    for path in notebooks.chapter_paths():
        executed = cache.get_cache_bundle(records[path.name]).nb
        printed = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", [])
                          if o.output_type == "stream")
        assert "\N{CHECK MARK}" in printed or path.stem == CAPSTONE, f"{path.name}: no check ran"
        assert "\N{BALLOT X}" not in printed, f"{path.name}: a check failed at {book['scale']} scale"


def chapter_pages(book):
    return [book["html"] / "book" / f"{p.stem}.html" for p in notebooks.chapter_paths()]


def test_pages_exist_with_figures_and_no_widget_placeholders(book):
    for page in chapter_pages(book):
        html = page.read_text()
        if page.stem == CAPSTONE:  # a map, the chapters' panels and a filter instead of sliders
            assert html.count("<img") >= 2 and "companion-filter" in html, f"{page.name}: figures or filter missing"
        else:
            assert html.count("<img") >= 5, f"{page.name}: figures missing"
            assert "companion-explorer" in html, f"{page.name}: no explorer"
        # live ipywidgets need a kernel: none may appear as a dead control in the static page
        assert "application/vnd.jupyter.widget-view+json" not in html
        assert "jupyter-widgets" not in html and "widget-view" not in html


PAGE_LIMIT, SITE_LIMIT = 2.5e6, 30e6  # bytes: a chapter page (its explorer frames inline), the whole site


def test_pages_are_light(book):
    heavy = {page.name: page.stat().st_size for page in chapter_pages(book) if page.stat().st_size > PAGE_LIMIT}
    assert not heavy, f"pages over {PAGE_LIMIT / 1e6} MB: {heavy}"
    site = sum(path.stat().st_size for path in book["html"].rglob("*") if path.is_file())
    assert site < SITE_LIMIT, f"the built site weighs {site / 1e6:.1f} MB"


def test_every_figure_has_a_text_alternative(book):
    """Figures say what they show (companion.core.plotting.describe, via book/_ext/figure_alt.py), and
    explorer frames say which frame they are: no image's alt text is empty or its file name."""
    for page in chapter_pages(book):
        for tag in re.findall(r"<img\b[^>]*>", page.read_text()):
            alt, src = re.search(r'alt="([^"]*)"', tag), re.search(r'src="([^"]+)"', tag)
            alt = alt.group(1).strip() if alt else ""
            assert alt and "_images/" not in alt, f"{page.name}: {src.group(1)[:80]} has alt text {alt!r}"


def cell_outputs(text: str) -> list[str]:
    """The HTML inside each cell output of a page, up to the `</div>` that closes it."""
    outputs = []
    for start in re.finditer(r'<div class="cell_output docutils container">', text):
        depth = 1
        for tag in re.finditer(r"<div\b|</div>", text[start.end():]):
            depth += 1 if tag.group(0) == "<div" else -1
            if depth == 0:
                outputs.append(text[start.end():start.end() + tag.start()])
                break
    return outputs


def bookkeeping(page: Path) -> list[str]:
    """What a reader should not see on a page: a visible code cell that calls glue(...) or only shows a
    computed section (`show(page[...])`, which the page hides), a glue placeholder, an output that is a raw
    dict or dataclass repr (a sentence, a table or a figure says it better), or a computed sentence set
    wholly in bold."""
    text, found = page.read_text(), []
    for block in re.findall(r'<div class="cell_input docutils container">(.*?)</div>\s*</div>', text, flags=re.S):
        lines = [line.strip() for line in html.unescape(re.sub(r"<[^>]+>", "", block)).splitlines()]
        code = [line for line in lines if line and not line.startswith("#")]
        if any("glue(" in line for line in code):
            found.append(f"a visible cell calling glue: {code[0]}")
        if any(line.startswith("show(page[") for line in code):
            found.append(f"a visible cell showing a computed section: {code[0]}")
    found += [f"a glue placeholder: {hit}" for hit in re.findall(r"\{glue:?\w*\}`[^`]*`", text)]
    outputs = cell_outputs(text)
    found += [f"a computed sentence in bold: {hit[:60]}" for output in outputs
              for hit in re.findall(r"<p><strong>([^<]*)</strong></p>", output)]
    for body in re.findall(r'<div class="output text_plain[^"]*"><div class="highlight"><pre><span></span>(.*?)</pre>',
                           text, flags=re.S):
        shown = html.unescape(re.sub(r"<[^>]+>", "", body)).strip()
        if shown.startswith(("{", "[{")) or re.match(r"[A-Z]\w*\(\w+=", shown):
            found.append(f"a raw repr: {shown[:80]}")
    # glued text is pasted as it is: TeX in it would reach the reader as dollars and backslashes
    found += [f"TeX in glued text: {pasted}" for pasted in re.findall(r'<span class="pasted-text">([^<]*)</span>', text)
              if "$" in pasted or "\\" in pasted]
    return found


def test_pages_show_no_bookkeeping(book):
    for page in chapter_pages(book):
        assert not bookkeeping(page), f"{page.name}: {bookkeeping(page)}"


def test_the_bookkeeping_check_finds_what_it_names(tmp_path):
    page = tmp_path / "page.html"
    page.write_text('<div class="cell_input docutils container"><pre>glue("x", 1)</pre></div></div>'
                    '<p>a {glue:text}`x` here</p><p><strong>A typed label</strong></p>'
                    '<div class="cell_output docutils container"><div><p>x</p></div><p><strong>All of it bold.</strong>'
                    '</p></div><p><strong>Another typed label</strong></p>')
    assert bookkeeping(page) == ['a visible cell calling glue: glue("x", 1)', "a glue placeholder: {glue:text}`x`",
                                 "a computed sentence in bold: All of it bold."]


def test_every_chapter_opens_with_what_reproduced_and_shows_its_code(book):
    """Each chapter page has its What-reproduced table (the book's table on the capstone) before its first
    exercise or seminar, and the source of at least two of the package's functions (the capstone: of its
    checks), each under the file it lives in."""
    for page in chapter_pages(book):
        text = page.read_text()
        section = text.split('id="what-reproduced"', 1)
        assert len(section) == 2, f"{page.name}: no What-reproduced section"
        table = re.search(r"<table.*?</table>", section[1], flags=re.S)
        assert table and ("Verdict" in table.group(0) or "departs" in table.group(0)), page.name
        verdicts = re.findall(r"<td><p>(reproduced|partly|not reproduced|departs)</p></td>", table.group(0))
        assert verdicts or page.stem == CAPSTONE, f"{page.name}: no verdicts in its table"
        shown = re.findall(r"<code[^>]*><span class=\"pre\">(\w[\w.]*)</span></code> in <code[^>]*>"
                           r"<span class=\"pre\">companion/", text)
        assert len(set(shown)) >= 2, f"{page.name}: the source of {shown} only"


def test_every_link_between_the_capstone_and_the_chapters_resolves(book):
    pages = book["html"] / "book"
    capstone = (pages / f"{CAPSTONE}.html").read_text()
    hrefs = re.findall(r'class="companion-filter-link" href="([^"]+)"', capstone)
    assert len(hrefs) == len(alignment_challenges.links()) + len(alignment_challenges.CHALLENGES)
    for href in set(hrefs):
        page, _, anchor = href.partition("#")
        target = capstone if not page else (pages / page).read_text()
        assert f'id="{anchor}"' in target, f"the explorer's link {href} lands nowhere"
    for topic in topics.CHAPTERS:
        section = (pages / f"{topic}.html").read_text().split(f'id="{topic}-alignment"', 1)[1]
        anchors = set(re.findall(rf'href="{CAPSTONE}\.html#([^"]+)"', section))
        expected = {c.label for c in alignment_challenges.CHALLENGES if topic in c.chapters}
        assert expected <= anchors, f"{topic}: links back to {sorted(anchors)}, expected {sorted(expected)}"
        assert all(f'id="{anchor}"' in capstone for anchor in anchors)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("Chromium is not installed: apt-get install chromium chromium-driver (make test does this as root)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
                 "--window-size=1280,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def server(book):
    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(QuietHandler, directory=str(book["html"]))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def page_errors(driver):
    """Console errors, except failed loads of off-site resources (this machine has no internet)."""
    errors = []
    for entry in driver.get_log("browser"):
        if entry["level"] != "SEVERE":
            continue
        message = entry["message"]
        offsite = message.split(" ")[0].startswith("https://") and "net::ERR_" in message
        if not offsite:
            errors.append(message)
    return errors


def test_pages_have_no_console_errors_and_every_slider_changes_the_picture(book, browser, server):
    assert book["returncode"] == 0
    for page in ["index.html", "book/how-to-use.html"] + [f"book/{p.name}" for p in chapter_pages(book)]:
        browser.get(f"{server}/{page}")
        explorers = browser.find_elements("css selector", ".companion-explorer")
        for explorer in explorers:
            slider = explorer.find_element("css selector", "input.companion-slider")
            browser.execute_script("arguments[0].scrollIntoView()", explorer)
            seen = set()
            for value in (0, int(slider.get_attribute("max")) // 2, int(slider.get_attribute("max"))):
                browser.execute_script(
                    "arguments[0].value = arguments[1];"
                    "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));", slider, value)
                shown = [img for img in explorer.find_elements("css selector", "img.companion-frame")
                         if img.is_displayed()]
                assert len(shown) == 1, f"{page}: {len(shown)} frames visible at value {value}"
                label = explorer.find_element("css selector", ".companion-label").text
                seen.add((shown[0].get_attribute("src"), label))
            assert len(seen) == 3, f"{page}: the slider did not change the picture"
        if page == f"book/{CAPSTONE}.html":
            check_challenge_filter(browser)
        elif page.startswith("book/") and page != "book/how-to-use.html":
            assert explorers, f"{page}: no explorer found"
        errors = page_errors(browser)
        assert not errors, f"{page}: {errors}"


def test_every_formula_is_typeset_by_mathjax_from_the_site_itself(book, browser, server):
    """No page fetches MathJax from a CDN, and once MathJax has run no raw TeX delimiter is left."""
    assert book["returncode"] == 0
    pages = ["index.html", "book/how-to-use.html"] + [f"book/{p.name}" for p in chapter_pages(book)]
    typeset = 0
    for page in pages:
        html = (book["html"] / page).read_text()
        assert "cdn.jsdelivr.net" not in html and "mathjax@" not in html, f"{page}: MathJax from a CDN"
        browser.get(f"{server}/{page}")
        state = browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "if (!window.MathJax || !MathJax.startup || !MathJax.startup.promise) { done('absent'); return; }"
            "MathJax.startup.promise.then(() => done('typeset'), error => done('failed: ' + error));")
        formulas = html.count('class="math notranslate nohighlight"')
        if formulas:
            assert state == "typeset", f"{page}: MathJax {state}"
            shown = len(browser.find_elements("css selector", "mjx-container"))
            assert shown >= formulas, f"{page}: {shown} typeset formulas of {formulas}"
            typeset += shown
        text = browser.execute_script("return document.body.innerText")
        for delimiter in ("\\(", "\\[", "$$"):
            where = text.find(delimiter)
            assert where < 0, f"{page}: raw TeX {delimiter!r} left: ...{text[max(where - 80, 0):where + 80]}..."
    assert typeset > 100  # the chapters are full of formulas: a check that found none would prove nothing


AXE = ROOT / "build" / "npm" / "node_modules" / "axe-core" / "axe.min.js"  # make npm-packages installs it
# axe rules that fail only in markup this project does not write, and why they stay
NOT_OURS = {
    "label-content-name-mismatch": "pydata-sphinx-theme's search and theme-switch buttons: their aria-label "
                                   "leaves out the visible keyboard hint",
    "aria-required-children": "docutils' citation list on the bibliography page: role=list around back-links",
}


def test_pages_have_no_critical_or_serious_accessibility_violations(book, browser, server):
    if not AXE.exists():
        pytest.fail(f"axe-core is not installed at {AXE}: run make npm-packages")
    browser.set_script_timeout(120)
    pages = ["index.html", "book/intro.html", "book/how-to-use.html", "book/bibliography.html"]
    for page in pages + [f"book/{p.name}" for p in chapter_pages(book)]:
        browser.get(f"{server}/{page}")
        browser.execute_script(AXE.read_text())
        violations = browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.map("
            "v => ({id: v.id, impact: v.impact, where: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))));")
        serious = [v for v in violations if v["impact"] in ("critical", "serious") and v["id"] not in NOT_OURS]
        assert not serious, f"{page}: {serious}"


def test_explorer_sliders_work_from_the_keyboard(book, browser, server):
    from selenium.webdriver.common.keys import Keys

    page = next(p for p in chapter_pages(book) if p.stem != CAPSTONE)  # the capstone has a filter, no slider
    browser.get(f"{server}/book/{page.name}")
    explorer = browser.find_element("css selector", ".companion-explorer")
    slider = explorer.find_element("css selector", "input.companion-slider")
    assert slider.get_attribute("aria-label"), "the slider has no accessible name"
    browser.execute_script("arguments[0].scrollIntoView()", explorer)

    def shown():
        return [img.get_attribute("data-index") for img in explorer.find_elements("css selector", "img.companion-frame")
                if img.is_displayed()]
    slider.send_keys(Keys.HOME)
    assert shown() == ["0"], "the Home key did not move to the first frame"
    slider.send_keys(Keys.ARROW_RIGHT)
    assert shown() == ["1"], "the right arrow key did not move to the next frame"


def check_challenge_filter(browser):
    """Each category and each chapter shows exactly its challenges; "all" shows the eighteen again."""
    challenges = alignment_challenges.CHALLENGES
    root = browser.find_element("css selector", ".companion-filter")
    browser.execute_script("arguments[0].scrollIntoView()", root)
    choices = [("category", category, [c for c in challenges if c.category == category])
               for category in alignment_challenges.CATEGORIES]
    choices += [("chapter", title, [c for c in challenges if topic in c.chapters])
                for topic, title in alignment_challenges.CHAPTER_TITLES.items()]
    for facet, value, expected in choices + [("chapter", "", challenges)]:
        for other in root.find_elements("css selector", ".companion-filter-select"):
            chosen = value if other.get_attribute("data-facet") == facet else ""
            browser.execute_script("arguments[0].value = arguments[1];"
                                   "arguments[0].dispatchEvent(new Event('change', {bubbles: true}));", other, chosen)
        shown = [item.text.split(" ", 1)[0] for item in root.find_elements("css selector", ".companion-filter-item")
                 if item.is_displayed()]
        assert shown == [c.section for c in expected], f"{facet} = {value!r}: showed {shown}"
        count = root.find_element("css selector", ".companion-filter-count").text
        assert count.startswith(f"{len(expected)} of 18"), count
