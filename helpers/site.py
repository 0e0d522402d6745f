"""The series as an offline website: `build/site/index.html` and one page per notebook.

`make run` builds it from the notebooks it has just executed; `make site` (and the test suite)
builds it from the committed notebooks, whose outputs are the reference run's, without running
anything:

    python -m helpers.site [--out DIR] [NOTEBOOK ...]    # default: notebooks/NN_*.ipynb -> build/site

What the pages are made of, and why:

- nbconvert's HTMLExporter with its JupyterLab ("lab") template, which the series already uses,
  through a small template of ours (below) that adds the series navigation (previous, index,
  next) and the images' alt text, and drops every script nbconvert would load from a CDN
  (require.js, the widget renderer, mermaid, MathJax);
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

from helpers.outputs import clean
from helpers.paths import checkout_root

NOTEBOOK_NAME = re.compile(r"^\d\d_\w+\.ipynb$")
NO_ALT = "No description has been provided for this image"  # what nbconvert writes when there is no alt text
MATHJAX_DIR = "_static/mathjax"
MARKER = ".vae-notebooks-site"  # marks a folder as one this module built, so that a rebuild may empty it
# What of MathJax the pages need (6.5 MB of the package's 12): its loader, the combined TeX ->
# HTML-CSS configuration, the extensions and jax parts it loads on demand (the accessibility ones
# included), and the STIX web fonts. Left out: the other languages, and the SVG output's fonts
# (the package does not ship the SVG output itself).
MATHJAX_PARTS = ("MathJax.js", "LICENSE", "config", "extensions", "jax/element", "jax/input", "jax/output/HTML-CSS",
                 "fonts", "localization/en")

# The page template: nbconvert's lab template, less its CDN scripts, plus our navigation and alt text.
PAGE_TEMPLATE = r"""
{%- extends 'index.html.j2' -%}

{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}

{%- block html_head_js_mathjax -%}
<script type="text/x-mathjax-config">
MathJax.Hub.Config({
    tex2jax: {
        inlineMath: [['$', '$'], ['\\(', '\\)']],
        displayMath: [['$$', '$$'], ['\\[', '\\]']],
        processEscapes: true,
        processEnvironments: true
    },
    TeX: {equationNumbers: {autoNumber: "AMS", useLabelIds: true}},
    displayAlign: "center",
    messageStyle: "none",
    "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null,
                 linebreaks: {automatic: true}}
});
MathJax.Hub.Register.StartupHook("End", function () {
    document.documentElement.setAttribute("data-mathjax", "done");
});
</script>
<script src="{{ resources.site.mathjax }}/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"></script>
{%- endblock html_head_js_mathjax -%}

{% block extra_css %}
<style type="text/css">{{ resources.site.css }}</style>
{% endblock extra_css %}

{%- block body_header -%}
{{ super() }}
{{ resources.site.nav_top }}
{%- endblock body_header -%}

{% block body_footer %}
{{ resources.site.nav_bottom }}
{{ super() }}
{% endblock body_footer %}

{% macro image(output, extra_class, mimetype) -%}
<div class="jp-RenderedImage jp-OutputArea-output {{ extra_class }}">
{%- set alt = output | get_metadata('alt', mimetype) -%}
<img src="data:{{ mimetype }};base64,{{ output.data[mimetype] | escape_html }}"
{%- if alt %} alt="{{ alt | escape_html }}"{% endif %}
{%- set width = output | get_metadata('width', mimetype) -%}
{%- if width is not none %} width={{ width | escape_html }}{% endif %}
{%- set height = output | get_metadata('height', mimetype) -%}
{%- if height is not none %} height={{ height | escape_html }}{% endif %}
{%- if output | get_metadata('unconfined', mimetype) %} class="unconfined"{% endif %}>
{#- A picture that stands for a widget comes with a sentence (its text/plain); a figure's text/plain
    is only its Python repr (<Figure size ...>), which a page does not show. #}
{%- set caption = output.data.get('text/plain', '') | string | trim -%}
{%- if caption and not (caption.startswith('<') and caption.endswith('>')) %}
<p class="site-caption">{{ caption | escape_html }}</p>
{%- endif %}
</div>
{%- endmacro %}

{% block data_png scoped %}{{ image(output, extra_class, 'image/png') }}{% endblock data_png %}
{% block data_jpg scoped %}{{ image(output, extra_class, 'image/jpeg') }}{% endblock data_jpg %}
"""

CSS = """
nav.site-nav { display: flex; justify-content: space-between; gap: 1em; align-items: baseline;
  max-width: 1100px; margin: 0.8em auto; padding: 0.6em 1em; border: 1px solid #d0d7de;
  border-radius: 6px; background: #f6f8fa; font-family: var(--jp-ui-font-family, sans-serif); font-size: 15px; }
nav.site-nav a { text-decoration: none; color: #0969da; }
nav.site-nav a:hover { text-decoration: underline; }
nav.site-nav .site-none { color: #8c959f; }
nav.site-nav .site-prev, nav.site-nav .site-none:first-child { flex: 1; }
nav.site-nav .site-next, nav.site-nav .site-none:last-child { flex: 1; text-align: right; }
.jp-RenderedImage p.site-caption { margin: 0.3em 0 0; font-family: var(--jp-content-font-family, sans-serif);
  font-size: var(--jp-content-font-size1, 14px);
  color: var(--jp-content-font-color2, #555); }
/* MathJax's hidden MathML copy of each formula (read by screen readers) is styled with the TeX
   fonts, which jupyter-server-mathjax does not ship (it ships STIX-Web, which the visible math uses):
   give it a system font, so that the page asks for no file that is not there. */
.MJX_Assistive_MathML, .MJX_Assistive_MathML * { font-family: serif !important; }
"""

INDEX_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{title}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 980px; margin: 2em auto;
  padding: 0 1em; line-height: 1.5; color: #1f2328; }}
table {{ border-collapse: collapse; width: 100%; margin: 1.5em 0; }}
th, td {{ border: 1px solid #d0d7de; padding: 0.5em 0.8em; text-align: left; vertical-align: top; }}
th {{ background: #f6f8fa; }}
td.site-notebook {{ white-space: nowrap; }}
a {{ color: #0969da; }}
footer {{ color: #59636e; font-size: 0.9em; border-top: 1px solid #d0d7de; padding-top: 0.8em; }}
</style>
</head>
<body>
<main>
<h1>{title}</h1>
{intro}
<table class="site-index">
<thead><tr><th>notebook</th><th>what you learn</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
<p>Read them in order: each page links to the previous and the next one. The pages show the outputs of
the notebooks as they were last executed; open the notebooks in JupyterLab (<code>make lab</code>) to run
them and move the widgets.</p>
</main>
<footer>Built {built} from {count} notebooks. Works offline: the math is typeset by a local copy of MathJax.</footer>
</body>
</html>
"""


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


def nav(pages: list[Page], i: int, where: str) -> str:
    def link(page: Page, rel: str, arrow_before: str, arrow_after: str) -> str:
        return (f'<a class="site-{rel}" rel="{rel}" href="{page.html_name}">'
                f"{arrow_before}{html.escape(page.title)}{arrow_after}</a>")

    prev = link(pages[i - 1], "prev", "← ", "") if i > 0 else '<span class="site-none">(first notebook)</span>'
    last = '<span class="site-none">(last notebook)</span>'
    nxt = link(pages[i + 1], "next", "", " →") if i + 1 < len(pages) else last
    return (f'<nav class="site-nav site-nav-{where}" aria-label="series navigation">{prev}'
            f'<a class="site-index" href="index.html">All notebooks</a>{nxt}</nav>')


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
            raise FileExistsError(f"{out} is not empty and was not built by helpers.site; "
                                  "choose an empty or new folder (or delete it)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("built by python -m helpers.site; emptied on every rebuild\n")


def build_site(notebooks: list[Path], out: Path, readme: Path | None = None, source_dir: Path | None = None) -> Path:
    """Write `out`/index.html and one page per notebook, in the order given; return the index.

    `source_dir` is the folder the notebooks' relative links are relative to (the checkout's
    notebooks/ for `make run`, which builds from executed copies in build/); by default each
    notebook's own folder. `readme` provides the index's table (and is what README links point to).
    """
    notebooks = [Path(nb) for nb in notebooks]
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

    contents = [read_notebook(nb) for nb in notebooks]
    title, intro, table = readme_table(readme)
    pages = [Page(nb, f"{nb.stem}.html", notebook_title(content, nb.stem),
                  _inline_markdown(table[nb.stem]) if nb.stem in table else "")
             for nb, content in zip(notebooks, contents)]

    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(extra_loaders=[DictLoader({"vae_site.html.j2": PAGE_TEMPLATE})],
                            template_file="vae_site.html.j2", embed_images=True)
    # nbconvert warns about missing alt text image by image; this module reports it once per notebook.
    # A logger of our own, so that the warning level of nbconvert's shared logger stays as it was.
    exporter.log = logging.getLogger("helpers.site.nbconvert")
    exporter.log.setLevel(logging.ERROR)
    prepare_output_folder(out)
    copy_mathjax(out)
    missing_alt = {}
    for i, (page, content) in enumerate(zip(pages, contents)):
        resources = {"metadata": {"name": page.title, "path": str(source_dir or page.notebook.parent)},
                     "site": {"mathjax": MATHJAX_DIR, "css": CSS, "nav_top": nav(pages, i, "top"),
                              "nav_bottom": nav(pages, i, "bottom")}}
        body, _ = exporter.from_notebook_node(static_notebook(content), resources=resources)
        body = rewrite_links(body, source_dir or page.notebook.parent, out, pages, readme)
        missing = body.count(f'alt="{NO_ALT}"')
        if missing:
            missing_alt[page.notebook.name] = missing
        (out / page.html_name).write_text(body, encoding="utf-8")

    rows = "\n".join(f'<tr><td class="site-notebook"><a href="{p.html_name}">{html.escape(p.notebook.stem)}</a></td>'
                     f"<td>{p.description or html.escape(p.title)}</td></tr>" for p in pages)
    index = out / "index.html"
    intro_html = f"<p>{_inline_markdown(intro)}</p>" if intro else ""
    index.write_text(INDEX_TEMPLATE.format(title=html.escape(title), intro=intro_html, rows=rows, count=len(pages),
                                           built=time.strftime("%Y-%m-%d")), encoding="utf-8")
    for name, count in missing_alt.items():
        print(f"site: {name}: {count} image(s) without alt text (record it: helpers.plots.show(fig, alt=...))",
              file=sys.stderr)
    return index


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.site", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks, in order (default: notebooks/NN_*.ipynb)")
    parser.add_argument("--out", type=Path, help="the site folder (default: build/site in the checkout)")
    args = parser.parse_args(argv)
    root = checkout_root()
    if root is None and not (args.notebooks and args.out):
        print("make site: helpers is installed outside a vae-notebooks checkout; run it in a clone, "
              "or name the notebooks and the folder: python -m helpers.site --out DIR NB ...", file=sys.stderr)
        return 2
    notebooks = args.notebooks or sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
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
