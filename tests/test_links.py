"""Links and the front matter of the project.

- Every relative link in the notebooks' markdown cells and in README.md resolves to a file of the
  checkout, and an anchor (`02_vae.ipynb#The-reparameterization-trick`, `README.md#data`) names a
  heading of that file. Links to the web are not followed (the tests run offline).
- The last markdown cell of each notebook links to the previous and the next notebook (where
  there is one) and to the README, so a reader can go on from where the notebook ends.
- LICENSE (MIT, as pyproject.toml says) and CITATION.cff (Citation File Format 1.2.0) are there
  and agree with pyproject.toml.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import nbformat
import pytest
import yaml

try:
    import tomllib  # Python 3.11+
except ModuleNotFoundError:  # Python 3.10: the dev extra installs tomli, the same parser
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
README = ROOT / "README.md"
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
HTML_LINK = re.compile(r"""(?:href|src)\s*=\s*["']([^"']+)["']""", re.I)


def parse(markdown: str) -> list[dict]:
    import mistune

    # Math first goes: `$[0, 1](x)$` is TeX, not a link.
    markdown = re.sub(r"\$\$[\s\S]*?\$\$", " ", markdown)
    markdown = re.sub(r"(?<!\\)\$[^$\n]+?(?<!\\)\$", " ", markdown)
    return mistune.create_markdown(renderer=None, plugins=["table"])(markdown)


def walk(tokens: list[dict]):
    for token in tokens:
        yield token
        yield from walk(token.get("children") or [])


def text_of(token: dict) -> str:
    return token.get("raw", "") + "".join(text_of(c) for c in token.get("children") or [])


def links(markdown: str) -> list[str]:
    """Every link and image target of a markdown text (inline, reference and raw HTML), code excluded."""
    found = []
    for token in walk(parse(markdown)):
        if token["type"] in ("link", "image"):
            found.append(token["attrs"]["url"])
        elif token["type"] in ("inline_html", "block_html"):
            found += HTML_LINK.findall(token.get("raw", ""))
    return found


def anchors(markdown: str) -> set[str]:
    """The anchors of every heading, as JupyterLab and nbconvert write them (the text, spaces as
    '-') and as GitHub writes them (lower case, punctuation dropped, spaces as '-')."""
    found = set()
    for token in walk(parse(markdown)):
        if token["type"] == "heading":
            text = text_of(token).strip()
            found.add(re.sub(r"\s", "-", text))
            found.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text.lower())))
        elif token["type"] in ("inline_html", "block_html"):
            found.update(re.findall(r"""(?:id|name)\s*=\s*["']([^"']+)["']""", token.get("raw", "")))
    return found


def markdown_of(path: Path) -> list[str]:
    """The markdown cells of a notebook, or the whole text of a markdown file."""
    if path.suffix == ".ipynb":
        return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]
    return [path.read_text(encoding="utf-8")]


def resolve(source: Path, target: str) -> tuple[Path, str] | None:
    """(file, anchor) that a relative link of `source` points to; None for a link to the web."""
    if SCHEME.match(target) or target.startswith("//"):
        return None
    path, _, anchor = target.partition("#")
    return ((source.parent / unquote(path)).resolve() if path else source.resolve()), unquote(anchor)


def broken_links(source: Path) -> list[str]:
    problems = []
    for markdown in markdown_of(source):
        for target in links(markdown):
            resolved = resolve(source, target)
            if resolved is None:
                continue
            path, anchor = resolved
            if not path.exists():
                problems.append(f"{target}: no file {path}")
            elif anchor and path.suffix in (".ipynb", ".md"):
                known = set().union(*(anchors(m) for m in markdown_of(path)))
                if anchor not in known:
                    problems.append(f"{target}: no heading '{anchor}' in {path.name}")
    return problems


@pytest.mark.parametrize("source", [README, *NOTEBOOKS], ids=lambda p: p.name)
def test_every_relative_link_resolves(source):
    assert broken_links(source) == []


@pytest.mark.parametrize("i", range(len(NOTEBOOKS)), ids=[nb.stem for nb in NOTEBOOKS])
def test_the_last_markdown_cell_links_to_the_neighbours_and_the_readme(i):
    nb = NOTEBOOKS[i]
    cells = markdown_of(nb)
    assert cells, f"{nb.name} has no markdown cell"
    targets = {r[0] for r in (resolve(nb, t) for t in links(cells[-1])) if r is not None}
    expected = {"the README": README.resolve()}
    if i > 0:
        expected["the previous notebook"] = NOTEBOOKS[i - 1].resolve()
    if i + 1 < len(NOTEBOOKS):
        expected["the next notebook"] = NOTEBOOKS[i + 1].resolve()
    missing = {what: str(path.relative_to(ROOT)) for what, path in expected.items() if path not in targets}
    assert missing == {}, f"the last markdown cell of {nb.name} should also link to {missing}"


# --- the checks themselves, on small examples -------------------------------------------------

def test_the_link_finder_sees_every_kind_of_link_and_skips_code_and_math():
    text = ("See [a](a.ipynb#Top), ![fig](fig.png), <a href='raw.md'>raw</a>, [ref][1], `[code](no.md)`, "
            "$[0, 1](x)$ and [web](https://example.org).\n\n```\n[fenced](no.md)\n```\n\n[1]: ref.md\n")
    assert links(text) == ["a.ipynb#Top", "fig.png", "raw.md", "ref.md", "https://example.org"]
    assert {"The-reparameterization-trick", "the-reparameterization-trick"} <= anchors(
        "## The reparameterization trick\n")
    assert "data-where-mnist-comes-from" in anchors("## Data: where MNIST comes from\n")


def test_a_broken_link_and_a_missing_anchor_are_reported(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## A section\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md#A-section) [gone](missing.ipynb) [bad anchor](other.md#Nowhere) "
                    "[web](https://example.org/missing)\n")
    assert broken_links(page) == [f"missing.ipynb: no file {tmp_path / 'missing.ipynb'}",
                                  "other.md#Nowhere: no heading 'Nowhere' in other.md"]


# --- front matter --------------------------------------------------------------------------

def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_the_licence_is_mit_as_pyproject_says():
    assert pyproject()["license"] == {"text": "MIT"}
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License")
    assert re.search(r"Copyright \(c\) \d{4} the vae-notebooks authors", licence)
    assert "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND" in licence


def test_citation_cff_is_valid_and_agrees_with_pyproject():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    assert {"cff-version", "message", "title", "authors"} <= set(cff)  # required by CFF 1.2.0
    assert all(isinstance(a, dict) and ("name" in a or "family-names" in a) for a in cff["authors"])
    assert cff["authors"] == [{"name": "the vae-notebooks authors"}]
    assert cff["version"] == pyproject()["version"]
    assert cff["license"] == "MIT"
    assert cff["type"] == "software"
