"""The series' glossary (#20): each term is defined **in bold** in one markdown cell, and no earlier
cell of the series (notebooks in name order, cells in order) uses it. A use is a match of the term's
pattern in a markdown cell's prose: headings, <details> blocks and solutions included; code
(fenced and `inline`) and math ($...$, $$...$$) excluded, except for a term written in math (L_K).
Cells are named by their nbformat 4.5 id, which stays put when cells are edited, added or moved.

`python tests/test_glossary.py --report` prints each term's first bold occurrence and first use.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import NamedTuple

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


class Term(NamedTuple):
    notebook: str  # the defining notebook's file stem, e.g. "01_autoencoder"
    cell_id: str  # the defining markdown cell's id
    pattern: str  # a regex for its uses, matched case-insensitively (as written, for KL)
    in_math: bool = False  # also match inside $...$ (for a term written as math)


class Cell(NamedTuple):
    notebook: str
    index: int
    id: str
    source: str

    def __str__(self) -> str:
        return f"{self.notebook} cell {self.index} (id {self.id})"


# Where each term is defined, in bold, at its first use in the series (the cell ids as
# `python tests/test_glossary.py --report` prints them).
TERMS = {
    "latent code": Term("01_autoencoder", "8c5bf5d4", r"\blatent codes?\b"),
    "Bernoulli": Term("01_autoencoder", "f9dfecd9", r"\bBernoulli\b"),
    "logit": Term("01_autoencoder", "f9dfecd9", r"\blogits?\b"),
    "nat": Term("01_autoencoder", "f9dfecd9", r"\bnats?\b"),
    "cross-entropy": Term("01_autoencoder", "34b7e941", r"\bcross[- ]entrop(y|ies)\b"),
    "prior": Term("02_vae", "9a202038", r"\bpriors?\b(?! to\b)"),  # not English "prior to"
    "posterior": Term("02_vae", "9a202038", r"\bposteriors?\b(?! collapse)"),  # a term of its own
    "KL divergence": Term("02_vae", "13123825", r"(?-i:\bKL\b)|\bKullback"),
    "ELBO": Term("02_vae", "13123825", r"\bELBOs?\b|\bevidence lower bounds?\b"),
    "reparameterization": Term("02_vae", "65f1a081", r"\breparameteri[sz](ation|ed|e|ing)\b"),
    "amortized inference": Term("02_vae", "9a202038", r"\bamorti[sz](ed|ation|ing)\b"),
    "active unit": Term("02_vae", "d2a60eb7", r"\bactive (unit|dimension)s?\b"),
    "posterior collapse": Term("02_vae", "d2a60eb7", r"\b(posterior )?collapse\b|\bcollapsed (dim|unit|model)"),
    "importance sampling": Term("03_elbo", "64cd3783", r"\bimportance[- ](sampl|weight)\w*"),
    "L_K": Term("03_elbo", "fc04a1e7", r"\\mathcal\{L\}_\{?K\b|\bL_\{?K\b|importance-weighted bound", True),
    "bits per dimension": Term("03_elbo", "0b076cd2", r"\bbits? per dim(ension)?\b|\bbits/dim\b"),
    "free bits": Term("04_results", "4fb307d4", r"\bfree[- ]bits?\b"),
    "one-hot": Term("05_going_further", "64e2f876", r"\bone[- ]hot\b"),
}


def prose(source: str, keep_math: bool = False) -> str:
    """A markdown cell's source with code (fenced, inline) and, unless keep_math, math blanked out:
    each character replaced by a space, so that a position in it is the same in the source."""
    def blank(pattern: str, text: str) -> str:
        return re.sub(pattern, lambda m: re.sub(r"[^\n]", " ", m.group()), text, flags=re.S)
    text = blank(r"`[^`\n]*`", blank(r"```.*?```", source))
    return text if keep_math else blank(r"\$\$.*?\$\$|\$[^$]*\$", text)


def uses(term: Term, text: str) -> list[re.Match]:
    return list(re.finditer(term.pattern, prose(text, term.in_math), flags=re.I))


def is_bold(term: Term, text: str) -> bool:
    """Whether a **bold** span of the cell's prose contains a use of the term."""
    return any(re.search(term.pattern, span, flags=re.I)
               for span in re.findall(r"\*\*(.+?)\*\*", prose(text, term.in_math), flags=re.S))


def sentence(source: str, at: int) -> str:
    """The sentence, heading or list item around position `at` of a cell's source, on one line."""
    cut = r"[.!?](?=\s)|\n\s*\n|\n(?=\s*([-#]|\d+\.))"
    start = max([m.end() for m in re.finditer(cut, source[:at])], default=0)
    end = at + re.search(cut + r"|\Z", source[at:]).end()
    lo, hi = max(start, at - 120), min(end, at + 120)
    return ("..." if lo > start else "") + " ".join(source[lo:hi].split()) + ("..." if hi < end else "")


def series_cells(notebooks: list[Path]) -> list[Cell]:
    """Every markdown cell of the series, in reading order (notebooks sorted by name)."""
    return [Cell(path.stem, i, cell.get("id", ""), cell.source)
            for path in sorted(notebooks) for i, cell in enumerate(nbformat.read(path, as_version=4).cells)
            if cell.cell_type == "markdown"]


def check(name: str, term: Term, cells: list[Cell]) -> tuple[list[str], list[str]]:
    """What is wrong with the term's definition cell, and one message for each earlier cell that uses it."""
    k = next((k for k, c in enumerate(cells) if (c.notebook, c.id) == (term.notebook, term.cell_id)), None)
    if k is None:
        missing = [f"{name!r}: {term.notebook} has no markdown cell with id {term.cell_id}"]
        return missing, missing
    return ([] if is_bold(term, cells[k].source) else [f"{name!r} is not in bold in {cells[k]}"],
            [f"{name!r} used in {c} before its definition in {cells[k]}: \"{sentence(c.source, m.start())}\""
             for c in cells[:k] for m in uses(term, c.source)[:1]])


@pytest.fixture(scope="module")
def series() -> list[Cell]:
    return series_cells(list(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")))


@pytest.mark.parametrize("name", TERMS)
def test_the_definition_cell_holds_the_term_in_bold(name, series):
    problems = check(name, TERMS[name], series)[0]
    assert not problems, problems[0]


@pytest.mark.parametrize("name", TERMS)
def test_no_cell_before_the_definition_uses_the_term(name, series):
    found = check(name, TERMS[name], series)[1]
    assert not found, "\n".join(found)


SYNTHETIC = {  # case -> cells of notebook 01, cells of 02, the cell of 02 that TERMS names, the failure expected
    "correct": (["`nats = 0`, $\\text{nats}$"], ["## Nats\n\nA **nat** is a unit.", "Two nats."], 0, None),
    "used in an earlier notebook": (["# A\n\nIt costs 3 nats. Then"], ["A **nat**."], 0, "used in 01_a cell 0 (id "),
    "used in an earlier cell": (["# A"], ["Three nats.", "A **nat** is a unit."], 1, "used in 02_b cell 0 (id "),
    "not in bold": (["# A"], ["A nat is a unit."], 0, "is not in bold in 02_b cell 0 (id "),
    "defined in another cell": (["# A"], ["Units.", "A **nat** is a unit."], 0, "is not in bold in 02_b cell 0"),
}


@pytest.mark.parametrize("case", SYNTHETIC)
def test_the_checker_fails_where_it_should(case, tmp_path):
    first, second, at, expected = SYNTHETIC[case]
    paths = [tmp_path / "01_a.ipynb", tmp_path / "02_b.ipynb"]
    for path, sources in zip(paths, (first, second)):
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(s) for s in sources]), path)
    cells = series_cells(paths)
    term = Term("02_b", cells[len(first) + at].id, r"\bnats?\b")
    found = sum(check("nat", term, cells), [])
    assert (found == []) if expected is None else (len(found) == 1 and found[0].startswith(f"'nat' {expected}")), found
    if case == "used in an earlier notebook":
        assert found == [f"'nat' used in 01_a cell 0 (id {cells[0].id}) before its definition in 02_b cell 0 "
                         f"(id {term.cell_id}): \"It costs 3 nats.\""]


def report(notebooks: list[Path]) -> None:
    """For each term: its first bold occurrence and first use in the series, and what the tests say."""
    cells = series_cells(notebooks)
    for name, term in TERMS.items():
        bold = next((str(c) for c in cells if is_bold(term, c.source)), "nowhere")
        first = next((f"{c}: \"{sentence(c.source, m.start())}\""
                      for c in cells for m in uses(term, c.source)[:1]), "none")
        problems = sum(check(name, term, cells), [])
        print(f"{name}\n  first bold: {bold}\n  first use:  {first}\n  TERMS: {term.notebook} id {term.cell_id}: "
              f"{f'{len(problems)} problem(s)' if problems else 'ok'}")
        for problem in problems:
            print(f"    - {problem}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--report"]:
        sys.exit("usage: python tests/test_glossary.py --report")
    report(list(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")))
