"""The offline website (book/site.py): built from notebooks without running them, then read
in headless Chromium with the network cut off.

Two kinds of notebooks are used:
- the committed ones in notebooks/ (their outputs are the reference run's): the real site;
- small synthetic ones written here, one good and one with faults (an image without alt text, a
  picture from the web), to show that each check passes on a good page and fails on a bad one
  for the reason it names.

The browser tests need Debian's chromium (/usr/bin/chromium) and the playwright package; they
are skipped without them. Screenshots of the real site's index and of 03 go to build/screenshots/.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import os
import re
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from book import site
from helpers.metrics import MIME

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "build" / "screenshots"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
MATH_PAGES = ("02_vae", "03_elbo")  # pages that must show typeset math


# --- synthetic notebooks -------------------------------------------------------------------

def png(color: str = "tab:blue") -> str:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.5, 1))
    ax.plot([0, 1, 2], [0, 1, 0], color=color)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def figure_output(alt: str | None) -> nbformat.NotebookNode:
    metadata = {"image/png": {"alt": alt}} if alt is not None else {}
    return new_output("display_data", data={"image/png": png(), "text/plain": "<Figure size 150x100 with 1 Axes>"},
                      metadata=metadata)


def widget_output() -> nbformat.NotebookNode:
    """A widget output as an executed notebook has it: the live view, its picture, its text line."""
    return new_output("execute_result", execution_count=3, data={
        WIDGET_VIEW: {"model_id": "0123456789abcdef", "version_major": 2, "version_minor": 0},
        "image/png": png("tab:red"), "text/plain": "Latent explorer: 2 sliders at z = (0.00, 0.00)"},
        metadata={"image/png": {"alt": "The picture this widget shows now: the decoded digit at z = (0, 0)."}})


def write(nb: nbformat.NotebookNode, path: Path) -> Path:
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    """A checkout-like folder: README.md with a table, notebooks/01_good, 02_second, 03_faulty."""
    root = tmp_path_factory.mktemp("synthetic")
    (root / "notebooks").mkdir()
    (root / "data.txt").write_text("a file the notebooks link to\n")
    (root / "notebooks" / "drawing.png").write_bytes(base64.b64decode(png("tab:green")))
    (root / "README.md").write_text("# A synthetic series\n\nTwo good notebooks and a faulty one.\n\n"
                                    "| notebook | what you learn |\n| --- | --- |\n"
                                    "| [01_good](notebooks/01_good.ipynb) | the *first* idea |\n"
                                    "| [02_second](notebooks/02_second.ipynb) | the second idea |\n")
    good = new_notebook(cells=[
        new_markdown_cell("# 01 · A good notebook\n\nInline math $\\log p(x) \\ge \\mathrm{ELBO}$ and \\(z \\sim "
                          "\\mathcal{N}(0, I)\\), displayed:\n\n$$\\log p(x) = \\mathrm{ELBO}(q) + "
                          "\\mathrm{KL}(q(z|x)\\,\\|\\,p(z|x)).$$\n\nCode is not math: `echo $HOME`.\n\n"
                          "![A green line drawn for this page.](drawing.png)"),
        new_code_cell('label = "$z_1$"  # a dollar sign in code is not raw TeX', execution_count=1,
                      outputs=[new_output("stream", name="stdout", text="costs $5, not $10\n")]),
        new_code_cell("show(fig, alt=...)", execution_count=2,
                      outputs=[figure_output("A small line plot that rises and falls.")]),
        new_code_cell("LatentExplorer(model)", execution_count=3, outputs=[widget_output()]),
        new_markdown_cell("## Exercises\n\n1. **Draw it.** Draw the bound.\n   <details><summary>Solution 1: draw it"
                          "</summary>\n\n   The *solution*, hidden until opened: $a \\le b$.\n\n   ```python\n   "
                          "draw()\n   ```\n   </details>\n\n2. **Second.** Another.\n"),
        new_markdown_cell("Next: [the second notebook](02_second.ipynb#A-section), the [README](../README.md), "
                          "[a file](../data.txt), [the web](https://example.org/)."),
    ])
    good.metadata["widgets"] = {WIDGET_STATE: {"state": {}, "version_major": 2, "version_minor": 0}}
    second = new_notebook(cells=[
        new_markdown_cell("# 02 · The second\n\n## A section\n\nThe prior $p(z) = \\mathcal{N}(0, I)$."),
        new_code_cell("show(fig, alt=...)", execution_count=1,
                      outputs=[figure_output("Another line plot, drawn for the second page.")]),
    ])
    faulty = new_notebook(cells=[
        new_markdown_cell("# 03 · A faulty notebook\n\nA picture from the web: "
                          "![a remote picture](https://example.invalid/picture.png)"),
        new_code_cell("display(fig)", execution_count=1, outputs=[figure_output(None)]),
        new_markdown_cell("<details open><summary>Shown at once</summary>\n\nA spoiler.\n</details>\n\n"
                          "<details><summary>Empty</summary></details>\n\nThe solution, outside its block."),
    ])
    for name, nb in (("01_good", good), ("02_second", second), ("03_faulty", faulty)):
        write(nb, root / "notebooks" / f"{name}.ipynb")
    return root


@pytest.fixture(scope="module")
def synthetic_site(synthetic, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthetic-site") / "site"
    site.build_site(sorted((synthetic / "notebooks").glob("*.ipynb")), out, readme=synthetic / "README.md")
    return out


@pytest.fixture(scope="module")
def real_site(tmp_path_factory) -> Path:
    """The site built from the committed notebooks, as they are, without executing them."""
    out = tmp_path_factory.mktemp("real-site") / "site"
    start = time.perf_counter()
    site.build_site(NOTEBOOKS, out, readme=ROOT / "README.md", source_dir=ROOT / "notebooks")
    print(f"site built from {len(NOTEBOOKS)} committed notebooks in {time.perf_counter() - start:.1f} s")
    return out


# --- the pages as files (no browser) ------------------------------------------------------

@functools.lru_cache(maxsize=32)
def soup(path: Path):
    """A page parsed (once: several tests read the same pages; none changes them)."""
    from bs4 import BeautifulSoup
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def external_references(page) -> list[str]:
    """Every URL a page would load that is not in the site (scripts, styles, images, frames)."""
    found = []
    for tag, attribute in (("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src"),
                           ("source", "src"), ("video", "src"), ("audio", "src")):
        for element in page.find_all(tag):
            url = element.get(attribute)
            if url and re.match(r"^([a-z][a-z0-9+.-]*:|//)", url, re.I) and not url.startswith("data:"):
                found.append(f"<{tag} {attribute}={url[:80]}>")
    for script in page.find_all("script"):
        found += [f"a script that names {u}" for u in re.findall(r"https?://[^\s'\"]+", script.get_text())]
    return found


def test_every_committed_notebook_has_a_page_in_order_with_the_readme_descriptions(real_site):
    index = soup(real_site / "index.html")
    rows = index.select("table.site-index tbody tr")
    assert [r.a["href"] for r in rows] == [f"{nb.stem}.html" for nb in NOTEBOOKS]
    readme = (ROOT / "README.md").read_text()
    for row, nb in zip(rows, NOTEBOOKS):
        assert (real_site / row.a["href"]).is_file()
        if f"(notebooks/{nb.name})" in readme:  # the README's table says what each one teaches
            assert row.find_all("td")[1].get_text().split(";")[0].strip() in readme


def test_pages_link_to_their_neighbours_and_the_index(real_site):
    names = [f"{nb.stem}.html" for nb in NOTEBOOKS]
    for i, name in enumerate(names):
        page = soup(real_site / name)
        navs = page.select("nav.site-nav")
        assert len(navs) == 2, f"{name}: a navigation bar at the top and at the bottom"
        for bar in navs:
            prev, nxt = bar.select_one("a[rel=prev]"), bar.select_one("a[rel=next]")
            assert (prev["href"] if prev else None) == (names[i - 1] if i > 0 else None)
            assert (nxt["href"] if nxt else None) == (names[i + 1] if i + 1 < len(names) else None)
            assert bar.select_one("a.site-index")["href"] == "index.html"


def test_the_site_loads_nothing_from_the_network_and_ships_mathjax(real_site):
    for path in [real_site / "index.html", *sorted(real_site.glob("[0-9][0-9]_*.html"))]:
        page = soup(path)
        assert external_references(page) == [], path.name
        assert WIDGET_VIEW not in str(page) and WIDGET_STATE not in str(page), path.name
    mathjax = real_site / site.MATHJAX_DIR
    assert (mathjax / "MathJax.js").is_file() and (mathjax / "config" / "TeX-AMS-MML_HTMLorMML-full.js").is_file()
    assert list((mathjax / "fonts" / "HTML-CSS" / "STIX-Web" / "woff").glob("*.woff"))


def test_every_figure_of_the_committed_notebooks_has_alt_text(real_site):
    """Fails until the notebooks are regenerated with helpers.plots.show(fig, alt=...)."""
    missing = {}
    for path in sorted(real_site.glob("[0-9][0-9]_*.html")):
        images = soup(path).select("img")
        bad = [img for img in images if not (img.get("alt") or "").strip() or img["alt"] == site.NO_ALT]
        if bad:
            missing[path.name] = f"{len(bad)} of {len(images)} images"
    assert missing == {}, f"images without alt text: {missing}"


def test_synthetic_pages_carry_alt_text_widget_pictures_and_rewritten_links(synthetic_site, synthetic):
    good = soup(synthetic_site / "01_good.html")
    alts = [img.get("alt") for img in good.select("img")]
    assert alts == ["A green line drawn for this page.", "A small line plot that rises and falls.",
                    "The picture this widget shows now: the decoded digit at z = (0, 0)."]
    assert good.select("img")[0]["src"].startswith("data:image/png;base64,")  # embedded: the page stands alone
    # the widget's picture comes with its sentence; a figure's repr (<Figure size ...>) is not shown
    assert [p.get_text() for p in good.select("p.site-caption")] == ["Latent explorer: 2 sliders at z = (0.00, 0.00)"]
    assert external_references(good) == [] and WIDGET_VIEW not in str(good) and WIDGET_STATE not in str(good)
    hrefs = [a["href"] for a in good.select(".jp-RenderedMarkdown a") if not a.get("class")]
    data = Path(os.path.relpath(synthetic / "data.txt", synthetic_site.resolve())).as_posix()
    assert hrefs == ["02_second.html#A-section", "index.html", data, "https://example.org/"]
    assert (synthetic_site / data).is_file()
    faulty = soup(synthetic_site / "03_faulty.html")
    assert [img.get("alt") for img in faulty.select(".jp-OutputArea img")] == [site.NO_ALT]  # detectable
    index = soup(synthetic_site / "index.html")
    assert [td.decode_contents() for td in index.select("tbody td:nth-of-type(2)")] == [
        "the <em>first</em> idea", "the second idea", "03 · A faulty notebook"]  # not in the README: its title
    assert index.h1.get_text() == "A synthetic series"


def details_blocks(page) -> list[tuple[str, str, bool]]:
    """(summary, the text it hides, whether it starts open) of every <details> of a parsed page."""
    found = []
    for block in page.select("details"):
        summary = block.find("summary")
        hidden = "".join(c.get_text() if hasattr(c, "get_text") else str(c) for c in block.children if c is not summary)
        found.append((summary.get_text() if summary else "", " ".join(hidden.split()), block.has_attr("open")))
    return found


def test_a_details_block_holds_its_content_as_in_jupyterlab(synthetic_site):
    """nbconvert's own markdown closed a <details> at once, leaving the solution under it in plain view."""
    good = details_blocks(soup(synthetic_site / "01_good.html"))
    assert good == [("Solution 1: draw it", "The solution, hidden until opened: $a \\le b$. draw()", False)]
    assert soup(synthetic_site / "01_good.html").select_one("details em").get_text() == "solution"  # markdown inside
    faulty = details_blocks(soup(synthetic_site / "03_faulty.html"))
    assert faulty == [("Shown at once", "A spoiler.", True), ("Empty", "", False)]  # what the browser test rejects


def test_every_solution_of_the_committed_notebooks_is_inside_its_block(real_site):
    for path in sorted(real_site.glob("[0-9][0-9]_*.html")):
        blocks = details_blocks(soup(path))
        empty = [summary for summary, hidden, _ in blocks if not hidden]
        assert blocks and empty == [], f"{path.name}: empty blocks {empty}"
        assert not any(is_open for *_, is_open in blocks), path.name


def test_every_solution_of_the_committed_notebooks_shows_its_output_inside_its_block(real_site):
    """make outputs commits each solution's output in its block (book/solutions.py): on the page it is inside the
    collapsed block, after the code, its figures embedded (data: URLs) with their alt text."""
    from book.solutions import HEADING

    for path in sorted(real_site.glob("[0-9][0-9]_*.html")):
        for block in soup(path).select("details"):
            summary = block.find("summary").get_text() if block.find("summary") else ""
            if not summary.startswith("Solution"):
                continue
            assert HEADING in block.get_text(), f"{path.name}, {summary}: no output (make outputs writes it)"
            for img in block.select("img"):
                assert img["src"].startswith("data:image/"), f"{path.name}, {summary}: {img['src'][:60]}"
                assert img.get("alt") and img["alt"] != site.NO_ALT, f"{path.name}, {summary}: an image without alt"


def test_bad_input_gets_a_clear_error(tmp_path, synthetic):
    nb = synthetic / "notebooks" / "01_good.ipynb"
    with pytest.raises(ValueError, match="at least one notebook"):
        site.build_site([], tmp_path / "a")
    with pytest.raises(FileNotFoundError, match="no notebook at"):
        site.build_site([tmp_path / "01_missing.ipynb"], tmp_path / "b")
    (tmp_path / "01_broken.ipynb").write_text("{not json")
    with pytest.raises(ValueError, match="not a readable Jupyter notebook"):
        site.build_site([tmp_path / "01_broken.ipynb"], tmp_path / "c")
    with pytest.raises(ValueError, match=r"is not a notebook \(\.ipynb\)"):
        site.build_site([synthetic / "README.md"], tmp_path / "d")
    with pytest.raises(ValueError, match="same name"):
        site.build_site([nb, nb], tmp_path / "e")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not a site")
    with pytest.raises(FileExistsError, match="not built by book.site"):
        site.build_site([nb], foreign)
    assert (foreign / "notes.txt").read_text() == "not a site"  # nothing of the user's was deleted


def test_a_rebuild_replaces_the_old_site(tmp_path, synthetic):
    notebooks = sorted((synthetic / "notebooks").glob("*.ipynb"))
    out = tmp_path / "site"
    site.build_site(notebooks, out)
    assert (out / "03_faulty.html").is_file()
    site.build_site(notebooks[:2], out)
    assert sorted(p.name for p in out.glob("*.html")) == ["01_good.html", "02_second.html", "index.html"]


def test_the_command_line_builds_the_site_and_names_its_index(tmp_path, synthetic, capsys):
    nb = synthetic / "notebooks" / "02_second.ipynb"
    assert site.main(["--out", str(tmp_path / "site"), str(nb)]) == 0
    assert str(tmp_path / "site" / "index.html") in capsys.readouterr().out
    assert site.main(["--out", str(tmp_path / "other"), str(tmp_path / "01_nothing.ipynb")]) == 1
    assert "no notebook at" in capsys.readouterr().err


def test_make_run_builds_the_site_from_the_executed_notebooks(tmp_path, synthetic, monkeypatch, capsys):
    """book.run_notebooks with the execution replaced by a copy: the site comes from build/."""
    from book import run_notebooks

    (tmp_path / "notebooks").mkdir()
    for nb in ("01_good", "02_second"):
        (tmp_path / "notebooks" / f"{nb}.ipynb").write_text((synthetic / "notebooks" / f"{nb}.ipynb").read_text())
    (tmp_path / "README.md").write_text((synthetic / "README.md").read_text())
    monkeypatch.setattr(run_notebooks, "checkout_root", lambda: tmp_path)

    def fake_run_one(nb, build):
        executed = json.loads(nb.read_text())
        executed["cells"][0]["source"] = "# executed copy\n\n" + "".join(executed["cells"][0]["source"])
        executed["cells"].append(new_code_cell("report(...)", outputs=[new_output(
            "display_data", data={MIME: {"claims_checked": 3, "claims_held": 3, "kl": 2.5}, "text/plain": "Metrics"})]))
        (build / nb.name).write_text(json.dumps(executed))
        return 12.0

    monkeypatch.setattr(run_notebooks, "run_one", fake_run_one)
    assert run_notebooks.main([]) == 0
    out = capsys.readouterr().out
    index = tmp_path / "build" / "site" / "index.html"
    assert f"The website: {index}" in out and str(tmp_path / "build" / "metrics.json") in out
    assert re.search(r"^01_good +12 s +3 of 3 +kl 2\.5$", out, re.M), out
    assert "executed copy" in (tmp_path / "build" / "site" / "01_good.html").read_text()
    assert 'href="index.html"' in (tmp_path / "build" / "site" / "01_good.html").read_text()


@pytest.mark.notebook
def test_make_run_executes_a_notebook_and_builds_its_page(tmp_path, monkeypatch, capfd):
    """The real path of `make run` on a one-cell notebook: papermill, the summary table, the page, and
    nothing from the kernel's log (its TCP warning) on the terminal."""
    from book import run_notebooks

    (tmp_path / "notebooks").mkdir()
    write(new_notebook(cells=[new_markdown_cell("# 01 · Tiny\n\nThe bound $\\log p(x) \\ge \\mathrm{ELBO}$."),
                              new_code_cell("from helpers.metrics import report\nreport(answer=6 * 7)")],
                       metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}),
          tmp_path / "notebooks" / "01_tiny.ipynb")
    monkeypatch.setattr(run_notebooks, "checkout_root", lambda: tmp_path)
    assert run_notebooks.main([]) == 0
    captured = capfd.readouterr()  # at the file descriptors: the kernel's own output too
    index = tmp_path / "build" / "site" / "index.html"
    assert re.search(r"^01_tiny +\d+ s +- +answer 42$", captured.out, re.M), captured.out
    assert f"The website: {index}" in captured.out
    assert "without encryption" not in captured.out + captured.err
    recorded = json.loads((tmp_path / "build" / "metrics.json").read_text())
    assert recorded["01_tiny"]["metrics"] == {"answer": 42} and recorded["01_tiny"]["run_seconds"] > 0
    page = (tmp_path / "build" / "site" / "01_tiny.html").read_text()
    assert "Metrics: answer=42" in page and "$\\log p(x) \\ge \\mathrm{ELBO}$" in page


# --- in a real browser ----------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                    reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")

# What a page shows, read after MathJax has finished. Raw TeX is looked for in the prose (rendered
# markdown, LaTeX and HTML outputs), outside code, and outside what MathJax produced.
READ_PAGE = r"""() => {
  const skip = 'code, pre, script, style, .MathJax, .MathJax_Display, .MathJax_Preview, .MJX_Assistive_MathML';
  let areas = [...document.querySelectorAll('.jp-RenderedMarkdown, .jp-RenderedLatex, .jp-RenderedHTMLCommon')];
  areas = areas.filter(a => !areas.some(b => b !== a && b.contains(a)));
  if (!areas.length) areas = [document.body];
  const raw = [];
  for (const area of areas) {
    let text = '';
    const walker = document.createTreeWalker(area, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) if (!walker.currentNode.parentElement.closest(skip)) text += walker.currentNode.data;
    for (const re of [/\$\$/, /\$[^$]+\$/, /\\\(/, /\\\[/, /\\begin\{/]) {
      const m = text.match(re);
      if (m) raw.push(text.slice(Math.max(0, m.index - 30), m.index + 50).replace(/\s+/g, ' '));
    }
  }
  return {
    raw,
    math: document.querySelectorAll('span.MathJax, div.MathJax_Display').length,
    mathErrors: document.querySelectorAll('.MathJax_Error, .merror, .noError').length,
    images: [...document.images].map(i => ({width: i.naturalWidth, alt: i.getAttribute('alt'),
                                            src: i.src.slice(0, 50)})),
    details: [...document.querySelectorAll('details')].map(d => ({
      summary: (d.querySelector(':scope > summary') || {}).textContent || '', open: d.open,
      content: [...d.childNodes].filter(n => n.nodeName !== 'SUMMARY').map(n => n.textContent).join('').trim().length,
      shown: [...d.children].filter(n => n.nodeName !== 'SUMMARY').some(n => n.checkVisibility())})),
    links: [...document.querySelectorAll('a[href]')].map(a => ({url: a.href, rel: a.getAttribute('rel') || '',
                                                                index: a.classList.contains('site-index'),
                                                                nav: !!a.closest('nav.site-nav')})),
  };
}"""

MATHJAX_SETTLED = """() => document.readyState === 'complete' && (
    document.documentElement.getAttribute('data-mathjax') === 'done'
    || !document.querySelector('script[src*="MathJax.js"]')
    || !(window.MathJax && window.MathJax.Hub))"""


def local_path(url: str) -> Path:
    return Path(unquote(urlparse(url).path))


class SiteReader:
    """One browser context with every request that is not file: aborted and recorded."""

    def __init__(self, browser):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.attempted: list[str] = []   # every request, by URL
        self.failed: list[str] = []      # file: requests that failed (a missing file)

        def route(route):
            if route.request.url.startswith("file:"):
                route.continue_()
            else:
                route.abort()

        self.context.route("**/*", route)
        self.context.on("request", lambda request: self.attempted.append(request.url))
        self.context.on("requestfailed", lambda request: self.failed.append(request.url)
                        if request.url.startswith("file:") else None)
        self.page = self.context.new_page()

    def close(self):
        self.context.close()

    def off_machine(self) -> list[str]:
        """Requests to anything but file:, data: and about: (which never leave the machine)."""
        return [u for u in self.attempted if not u.startswith(("file:", "data:", "about:"))]

    def check(self, path: Path, prev: Path | None = None, nxt: Path | None = None, nav: bool = True,
              math: bool = False) -> tuple[list[str], dict]:
        """Open `path`; return what is wrong with it (empty: nothing) and what was read."""
        failed_before, problems = len(self.failed), []
        self.page.goto(path.as_uri())
        try:
            self.page.wait_for_function(MATHJAX_SETTLED, timeout=60_000, polling=100)
            self.page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=30_000)
        except Exception as error:  # a timeout: say so, and read the page as it is
            problems.append(f"the page did not settle: {str(error).splitlines()[0]}")
        read = self.page.evaluate(READ_PAGE)
        problems += [f"raw TeX in the text: ...{r}..." for r in read["raw"]]
        if math and read["math"] == 0:
            problems.append("no typeset math on a page that must have some")
        if read["mathErrors"]:
            problems.append(f"{read['mathErrors']} formula(s) MathJax could not typeset")
        for i, image in enumerate(read["images"]):
            if image["width"] == 0:
                problems.append(f"image {i + 1} did not load ({image['src']}...)")
            alt = (image["alt"] or "").strip()
            if not alt or alt == site.NO_ALT:
                problems.append(f"image {i + 1} has no alt text (alt={image['alt']!r})")
        for block in read["details"]:
            if not block["content"]:
                problems.append(f"the block “{block['summary']}” holds nothing (its content is outside it)")
            if block["open"] or block["shown"]:
                problems.append(f"the block “{block['summary']}” starts open")
        for link in read["links"]:
            if link["url"].startswith("file:") and not local_path(link["url"]).exists():
                problems.append(f"a link to a missing file: {local_path(link['url'])}")
        if nav:
            for rel, expected in (("prev", prev), ("next", nxt)):
                found = {local_path(link["url"]) for link in read["links"] if link["nav"] and link["rel"] == rel}
                if found != ({expected} if expected else set()):
                    problems.append(f"the {rel} links go to {sorted(map(str, found))}, not {expected}")
            index = path.parent / "index.html"
            if not any(link["index"] and local_path(link["url"]) == index for link in read["links"]):
                problems.append("no link back to the index")
        problems += [f"a local file failed to load: {url}" for url in self.failed[failed_before:]]
        return problems, read

    def check_site(self, index: Path) -> tuple[dict[str, list[str]], dict[str, dict]]:
        """The index, then every page it lists, each with its neighbours in the index's order."""
        problems, read = {}, {}
        problems["index.html"], read["index.html"] = self.check(index, nav=False)
        pages = [local_path(link["url"]) for link in read["index.html"]["links"]
                 if link["url"].endswith(".html") and not link["nav"]]
        if not pages:
            problems["index.html"].append("the index lists no pages")
        for i, page in enumerate(pages):
            problems[page.name], read[page.name] = self.check(
                page, prev=pages[i - 1] if i else None, nxt=pages[i + 1] if i + 1 < len(pages) else None,
                math=page.stem in MATH_PAGES)
        return problems, read


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def reader(browser):
    reader = SiteReader(browser)
    yield reader
    reader.close()


@pytest.mark.browser
@needs_chromium
def test_the_site_of_the_committed_notebooks_reads_well_offline(real_site, reader):
    """Fails until the committed notebooks carry alt text for every figure (make outputs)."""
    start = time.perf_counter()
    problems, read = reader.check_site(real_site / "index.html")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    reader.page.goto((real_site / "index.html").as_uri())
    reader.page.screenshot(path=str(SCREENSHOTS / "site-index.png"))
    page_03 = next(real_site.glob("03_*.html"), None)
    if page_03 is not None:
        reader.page.goto(page_03.as_uri())
        reader.page.wait_for_function(MATHJAX_SETTLED, timeout=60_000)
        reader.page.screenshot(path=str(SCREENSHOTS / "site-03_elbo.png"))
        display = reader.page.locator("div.MathJax_Display").first
        if display.count():
            display.scroll_into_view_if_needed()
            reader.page.screenshot(path=str(SCREENSHOTS / "site-03_elbo-derivation.png"))
    print(f"read {len(read)} pages in {time.perf_counter() - start:.1f} s")
    assert sorted(read) == sorted(["index.html", *(f"{nb.stem}.html" for nb in NOTEBOOKS)])
    assert reader.off_machine() == []
    for name in MATH_PAGES:
        assert read[f"{name}.html"]["math"] > 0, f"{name}: no typeset math"
    assert {page: p for page, p in problems.items() if p} == {}


@pytest.mark.browser
@needs_chromium
def test_the_checks_pass_on_good_pages_and_fail_on_faulty_ones_for_the_right_reason(synthetic_site, reader):
    problems, read = reader.check_site(synthetic_site / "index.html")
    assert problems["index.html"] == []
    assert problems["01_good.html"] == [] and problems["02_second.html"] == []
    assert read["01_good.html"]["math"] >= 3 and read["02_second.html"]["math"] >= 1  # typeset, offline
    assert len(read["01_good.html"]["images"]) == 3               # the markdown picture, the figure, the widget
    assert [(b["open"], b["content"] > 20) for b in read["01_good.html"]["details"]] == [(False, True)]
    assert [b["shown"] for b in read["03_faulty.html"]["details"]] == [True, False]  # the check sees an open one
    faulty = problems["03_faulty.html"]
    assert any("image 1 did not load (https://example.invalid" in p for p in faulty), faulty  # the web picture
    assert any(p.startswith("image 2 has no alt text") and site.NO_ALT in p for p in faulty), faulty  # the figure
    assert "the block “Shown at once” starts open" in faulty, faulty
    assert "the block “Empty” holds nothing (its content is outside it)" in faulty, faulty
    assert len(faulty) == 4, faulty
    assert reader.off_machine() == ["https://example.invalid/picture.png"]           # tried, and aborted


@pytest.mark.browser
@needs_chromium
def test_without_its_mathjax_a_page_shows_raw_tex_and_the_check_says_so(synthetic_site, tmp_path, reader):
    import shutil

    broken = tmp_path / "site"
    shutil.copytree(synthetic_site, broken, ignore=shutil.ignore_patterns("mathjax"))
    problems, read = reader.check(broken / "02_second.html", prev=broken / "01_good.html",
                                  nxt=broken / "03_faulty.html", math=True)
    assert read["math"] == 0
    assert any(p.startswith("raw TeX in the text") and "$p(z)" in p for p in problems), problems
    assert "no typeset math on a page that must have some" in problems
    assert any(p.startswith("a local file failed to load") and "MathJax.js" in p for p in problems), problems
