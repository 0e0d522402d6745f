"""The series as an offline website: `build/site/index.html` and one page per notebook.

`make run` builds it from the notebooks it has just executed; `make site` (and the test suite)
builds it from the committed notebooks, whose outputs are the reference run's, without running
anything:

    python -m book.site [--out DIR] [NOTEBOOK ...]    # default: notebooks/NN_*.ipynb -> build/site

What the pages are made of, and why:

- nbconvert's HTMLExporter with its JupyterLab ("lab") template, which the series already uses,
  through a small template of ours (``book/templates/page.html.j2``, with ``nav.html.j2`` and
  ``site.css``) that adds the series navigation (previous, index, next) and the images' alt text,
  and drops every script nbconvert would load from a CDN (require.js, the widget renderer,
  mermaid, MathJax); the index is ``book/templates/series_index.html.j2``;
- markdown as JupyterLab renders it: a ``<details>`` block (an exercise's solution, the "how we
  know" of a result) holds its content and starts closed (see `site_exporter`);
- math typeset in the browser by MathJax 2.7, copied into the site from the PyPI package
  ``jupyter-server-mathjax`` (the copy of MathJax that Jupyter itself serves): a page opened from
  the disk with no network typesets its math;
- widget outputs are shown as their static picture with their text line under it (the live
  widget view needs a kernel, or a script from a CDN): the same cleaning `make outputs` applies to
  committed notebooks;
- the alt text of an image is the one the notebook recorded in the output's metadata
  (``output.metadata["image/png"]["alt"]``, set by ``helpers.plots.show`` and the widgets). An
  image without it keeps nbconvert's placeholder ``NO_ALT``, which the browser test rejects;
- links between notebooks (``02_vae.ipynb#Section``) point to their pages, a link to the README
  points to the index, and other relative links point back to the file in the checkout.
"""

from __future__ import annotations

import argparse
import copy
import html
import logging
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from book.notebooks import checkout_root, find_notebooks
from book.outputs import clean

TEMPLATES = Path(__file__).resolve().parent / "templates"  # page.html.j2, series_index.html.j2, nav.html.j2, CSS
NO_ALT = "No description has been provided for this image"  # what nbconvert writes when there is no alt text
MATHJAX_DIR = "_static/mathjax"
MARKER = ".vae-notebooks-site"  # marks a folder as one this module built, so that a rebuild may empty it
# What of MathJax the pages need (6.5 MB of the package's 12): its loader, the combined TeX ->
# HTML-CSS configuration, the extensions and jax parts it loads on demand (the accessibility ones
# included), and the STIX web fonts. Left out: the other languages, and the SVG output's fonts
# (the package does not ship the SVG output itself).
MATHJAX_PARTS = ("MathJax.js", "LICENSE", "config", "extensions", "jax/element", "jax/input", "jax/output/HTML-CSS",
                 "fonts", "localization/en")

@dataclass
class Page:
    notebook: Path      # the notebook the page shows
    html_name: str      # NN_name.html
    title: str          # its first heading
    description: str    # what the README's table says about it (HTML), or the title


def notebook_title(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The text of the notebook's first heading (`# ...`), else `fallback`."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return fallback


def readme_table(readme: Path | None) -> tuple[str, str, dict[str, str]]:
    """The README's title, its first paragraph, and its table of notebooks {stem: description}."""
    if readme is None or not readme.is_file():
        return "vae-notebooks", "", {}
    text = readme.read_text(encoding="utf-8")
    title = next((line.lstrip("#").strip() for line in text.splitlines() if line.startswith("# ")), "vae-notebooks")
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip() and not p.lstrip().startswith(("#", "|"))]
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^\|\s*\[[^\]]*\]\((?:\./)?notebooks/(\d\d_\w+)\.ipynb\)\s*\|(.*)\|\s*$", line)
        if m:
            rows[m.group(1)] = m.group(2).strip()
    return title, paragraphs[0] if paragraphs else "", rows


def _inline_markdown(text: str) -> str:
    """A table cell or a paragraph of the README as HTML (inline markdown: emphasis, code)."""
    import mistune

    rendered = mistune.html(text).strip()
    return re.sub(r"^<p>(.*)</p>$", r"\1", rendered, flags=re.S)


def read_notebook(path: Path) -> nbformat.NotebookNode:
    if not path.is_file():
        raise FileNotFoundError(f"no notebook at {path}")
    try:
        return nbformat.read(path, as_version=4)
    except Exception as error:  # nbformat raises several kinds (JSON, schema, version)
        raise ValueError(f"{path} is not a readable Jupyter notebook: {error}") from error


def static_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of `nb` as a static page shows it: no live-widget views or widget state (their
    pictures and text lines stay), no per-run metadata, and no output left empty by that."""
    nb = clean(copy.deepcopy(nb))
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if o.output_type not in ("display_data", "execute_result")
                            or o.get("data")]
    return nb


def templates():
    """The jinja2 environment of the index and the navigation (HTML-escaped unless marked safe)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))


def nav(pages: list[Page], i: int, where: str) -> str:
    """The navigation bar of page `i` (`where`: top or bottom): previous, the index, next."""
    return templates().get_template("nav.html.j2").render(
        where=where, prev=pages[i - 1] if i > 0 else None, next=pages[i + 1] if i + 1 < len(pages) else None)


_HREF = re.compile(r'(<a\s[^>]*?href=")([^"]*)(")')


def rewrite_links(page_html: str, source_dir: Path, out: Path, pages: list[Page], readme: Path | None) -> str:
    """Relative links as the site needs them: a notebook of the site -> its page (anchor kept), the
    README -> the index, any other file -> that file in the checkout (a path relative to the site,
    so it works while the site stays where it was built)."""
    by_name = {p.notebook.name: p for p in pages}

    def fix(match: re.Match) -> str:
        href = html.unescape(match.group(2))
        if not href or href.startswith(("#", "/")) or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", href):
            return match.group(0)
        path, _, fragment = href.partition("#")
        target = (source_dir / path).resolve()
        if target.parent == source_dir.resolve() and target.name in by_name:
            new = by_name[target.name].html_name
        elif readme is not None and target == readme.resolve():
            return match.group(1) + "index.html" + match.group(3)  # the index has none of the README's anchors
        elif target.exists():
            new = Path(os.path.relpath(target, out.resolve())).as_posix()
        else:
            return match.group(0)  # a broken link stays as written (tests/test_links.py reports it)
        new += f"#{fragment}" if fragment else ""
        return match.group(1) + html.escape(new) + match.group(3)

    return _HREF.sub(fix, page_html)


def mathjax_source() -> Path:
    """The MathJax 2 files of the `jupyter-server-mathjax` package."""
    try:
        import jupyter_server_mathjax
    except ImportError as error:
        raise RuntimeError("the site needs MathJax from the package jupyter-server-mathjax: "
                           "pip install jupyter-server-mathjax (make install does)") from error
    static = Path(jupyter_server_mathjax.__file__).parent / "static"
    if not (static / "MathJax.js").is_file():
        raise RuntimeError(f"jupyter-server-mathjax is installed but has no MathJax.js in {static}")
    return static


def copy_mathjax(out: Path) -> None:
    source, target = mathjax_source(), out / MATHJAX_DIR
    for part in MATHJAX_PARTS:
        src = source / part
        if src.is_dir():
            shutil.copytree(src, target / part)
        elif src.is_file():
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / part)


def prepare_output_folder(out: Path) -> None:
    """Empty `out` if it is a site built here before; refuse to write into any other non-empty folder."""
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise FileExistsError(f"{out} is not empty and was not built by book.site; "
                                  "choose an empty or new folder (or delete it)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("built by python -m book.site; emptied on every rebuild\n")


def _embed_img_sources(renderer, fragment: str) -> str:
    """The `src` of each <img> of an HTML fragment embedded as a data: URL, the rest left as written."""
    def embed(match: re.Match) -> str:
        url = renderer._src_to_base64(html.unescape(match.group(2)))
        return match.group(1) + (url or match.group(2)) + match.group(3)

    return re.sub(r'(<img\s[^>]*?src=")([^"]*)(")', embed, fragment, flags=re.I)


def site_exporter():
    """nbconvert's HTML exporter with the site's page template (templates/page.html.j2).

    Its markdown differs from nbconvert's in one way: nbconvert embeds the images of a raw-HTML
    block by parsing the block alone with BeautifulSoup, which closes every tag left open there,
    so `<details><summary>Solution</summary>` (its content follows as markdown, and `</details>`
    in a later block) became an empty block with the solution under it, in plain view. Here the
    images are embedded in place, and the block reaches the page as written, as in JupyterLab.
    """
    from jinja2 import FileSystemLoader, pass_context
    from nbconvert import HTMLExporter
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    class SiteRenderer(IPythonRenderer):
        def block_html(self, fragment: str) -> str:
            return super(IPythonRenderer, self).block_html(_embed_img_sources(self, fragment))

        def inline_html(self, fragment: str) -> str:
            return super(IPythonRenderer, self).inline_html(_embed_img_sources(self, fragment))

    class SiteExporter(HTMLExporter):
        @pass_context
        def markdown2html(self, context, source):
            cell = context.get("cell", {})
            renderer = SiteRenderer(escape=False, attachments=cell.get("attachments", {}), embed_images=True,
                                    path=context.get("resources", {}).get("metadata", {}).get("path", ""),
                                    anchor_link_text=self.anchor_link_text,
                                    exclude_anchor_links=self.exclude_anchor_links, **self.lexer_options)
            return MarkdownWithMath(renderer=renderer).render(source)

    exporter = SiteExporter(extra_loaders=[FileSystemLoader(TEMPLATES)], template_file="page.html.j2",
                            embed_images=True)
    # nbconvert warns about missing alt text image by image; this module reports it once per notebook.
    # A logger of our own, so that the warning level of nbconvert's shared logger stays as it was.
    exporter.log = logging.getLogger("book.site.nbconvert")
    exporter.log.setLevel(logging.ERROR)
    return exporter


def check_notebooks(notebooks: list[Path], out: Path) -> None:
    """Raise ValueError unless `notebooks` are .ipynb files, named apart, none of them in `out`."""
    if not notebooks:
        raise ValueError("build_site needs at least one notebook; got none")
    for nb in notebooks:
        if nb.suffix != ".ipynb":
            raise ValueError(f"{nb} is not a notebook (.ipynb)")
    stems = [nb.stem for nb in notebooks]
    if len(set(stems)) != len(stems):
        raise ValueError(f"two notebooks with the same name: {sorted(s for s in stems if stems.count(s) > 1)}")
    if out.resolve() in [nb.resolve().parent for nb in notebooks]:
        raise ValueError(f"the site folder {out} cannot be the notebooks' own folder")


def build_site(notebooks: list[Path], out: Path, readme: Path | None = None, source_dir: Path | None = None) -> Path:
    """Write `out`/index.html and one page per notebook, in the order given; return the index.

    `source_dir` is the folder the notebooks' relative links are relative to (the checkout's
    notebooks/ for `make run`, which builds from executed copies in build/); by default each
    notebook's own folder. `readme` provides the index's table (and is what README links point to).
    """
    notebooks = [Path(nb) for nb in notebooks]
    check_notebooks(notebooks, out)
    contents = [read_notebook(nb) for nb in notebooks]
    title, intro, table = readme_table(readme)
    pages = [Page(nb, f"{nb.stem}.html", notebook_title(content, nb.stem),
                  _inline_markdown(table[nb.stem]) if nb.stem in table else "")
             for nb, content in zip(notebooks, contents)]
    exporter = site_exporter()
    prepare_output_folder(out)
    copy_mathjax(out)
    missing_alt = {}
    for i, (page, content) in enumerate(zip(pages, contents)):
        resources = {"metadata": {"name": page.title, "path": str(source_dir or page.notebook.parent)},
                     "site": {"mathjax": MATHJAX_DIR, "nav_top": nav(pages, i, "top"),
                              "nav_bottom": nav(pages, i, "bottom")}}
        body, _ = exporter.from_notebook_node(static_notebook(content), resources=resources)
        body = rewrite_links(body, source_dir or page.notebook.parent, out, pages, readme)
        if body.count(f'alt="{NO_ALT}"'):
            missing_alt[page.notebook.name] = body.count(f'alt="{NO_ALT}"')
        (out / page.html_name).write_text(body, encoding="utf-8")
    index = out / "index.html"
    index.write_text(templates().get_template("series_index.html.j2").render(
        title=title, intro=_inline_markdown(intro) if intro else "", pages=pages, built=time.strftime("%Y-%m-%d")),
        encoding="utf-8")
    for name, count in missing_alt.items():
        print(f"site: {name}: {count} image(s) without alt text (record it: helpers.plots.show(fig, alt=...))",
              file=sys.stderr)
    return index


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m book.site", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks, in order (default: notebooks/NN_*.ipynb)")
    parser.add_argument("--out", type=Path, help="the site folder (default: build/site in the checkout)")
    args = parser.parse_args(argv)
    root = checkout_root()
    if root is None and not (args.notebooks and args.out):
        print("make site: not in a vae-notebooks checkout; run it in a clone, "
              "or name the notebooks and the folder: python -m book.site --out DIR NB ...", file=sys.stderr)
        return 2
    notebooks = args.notebooks or find_notebooks(root / "notebooks")
    if not notebooks:
        print(f"make site: no notebooks (NN_name.ipynb) in {root / 'notebooks'}", file=sys.stderr)
        return 1
    out = args.out or root / "build" / "site"
    readme = root / "README.md" if root else None
    start = time.perf_counter()
    try:
        index = build_site(notebooks, out, readme=readme)
    except (OSError, ValueError, RuntimeError) as error:
        print(f"make site: {error}", file=sys.stderr)
        return 1
    print(f"site: {len(notebooks)} notebook pages in {time.perf_counter() - start:.1f} s; open {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
