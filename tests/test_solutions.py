"""The machinery of the exercises' worked solutions (book/solutions.py), on synthetic notebooks that train nothing:

- a solution whose claim is false fails its notebook's reference run, both in `make outputs` (which then leaves
  the notebook byte for byte) and in the tests' run of the solutions (tests/test_notebooks.py), while the same
  claim is only a note at other parameters; a true claim passes;
- make outputs writes each solution's output into its block (text in a fence, a figure as an attachment with
  its alt text), a second run replaces it rather than adding another, and the code the tests extract is the
  code alone;
- the website shows that output inside the solution's collapsed block, the figure embedded.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from book import site
from book import solutions as book_solutions
from book.outputs import record_reference_run, regenerate

NAME = "07_synthetic"  # not a notebook of the series: found in its own folder, the kernel's working directory
ALT = "A straight line rising from 0 to 1."
SETUP = f"""import matplotlib.pyplot as plt
import torch

from helpers.data import ImageData
from helpers.notebook import claims_for
from helpers.plots import show

x = torch.zeros(2, 1, 28, 28)
data = ImageData("mnist", "offline (synthetic)", x, torch.zeros(2), x, torch.zeros(2))
claim = claims_for({NAME!r}, {{"N": N}}, data, "cpu")"""
COUNT = ("total = sum(1 for _ in range(N))\nprint(f\"counted {{total}}\")\n"
         "claim(total == {target}, \"counting to N gives N\", f\"{{total}}\")")
DRAW = f"fig, ax = plt.subplots(figsize=(2, 1.5))\nax.plot([0, 1])\nshow(fig, alt={ALT!r})\nprint(\"drawn\")"


def indented(code: str) -> str:
    return "\n".join("   " + line for line in code.split("\n"))


def write_synthetic(folder: Path, holds: bool) -> Path:
    """A notebook with a parameter N and two exercises: solution 1 claims that counting to N gives N (false
    unless `holds`: it compares with N + 1), solution 2 draws a figure with its alt text."""
    count = COUNT.format(target="N" if holds else "N + 1")
    exercises = (f"## Exercises\n\n1. **Count.** Count to N.\n   <details><summary>Solution 1: count</summary>\n\n"
                 f"   It is N.\n\n   ```python\n{indented(count)}\n   ```\n   </details>\n"
                 f"2. **Draw.** Draw a line.\n   <details><summary>Solution 2: draw</summary>\n\n"
                 f"   ```python\n{indented(DRAW)}\n   ```\n   </details>\n")
    nb = new_notebook(cells=[new_markdown_cell("# A synthetic notebook"),
                             new_code_cell("N: int = 3  # how far to count", metadata={"tags": ["parameters"]}),
                             new_code_cell(SETUP), new_markdown_cell(exercises)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{NAME}.ipynb"
    nbformat.write(nb, path)
    return path


def codes(path: Path) -> list[str]:
    return [s.code for s in book_solutions.find_solutions(nbformat.read(path, as_version=4))]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """The notebook with a true claim after two make outputs: its path, its solutions' code and its exercises'
    markdown as written, and the notebook after the first make outputs."""
    folder = tmp_path_factory.mktemp("made")
    path = write_synthetic(folder / "notebooks", holds=True)
    before, written = codes(path), nbformat.read(path, as_version=4).cells[-1].source
    regenerate(path, folder / "cache", folder / "failed")
    first = nbformat.read(path, as_version=4)
    regenerate(path, folder / "cache", folder / "failed")
    return path, before, first, written


@pytest.mark.notebook
def test_make_outputs_embeds_each_solutions_output_once(made):
    path, before, first, written = made
    nb = nbformat.read(path, as_version=4)
    assert not [c for c in nb.cells if c.cell_type == "code" and "solution" in c.metadata.get("tags", [])]
    (md,) = [c for c in nb.cells if "Solution 1" in c.source]
    for number in ("1", "2"):  # once each, after the code, inside the block
        assert md.source.count(f"<!-- output of solution {number} -->") == 1
        assert md.source.count(f"<!-- end of the output of solution {number} -->") == 1
    one, two = md.source.split("<summary>Solution 2")
    assert re.search(r"```python\n.*```\n\n   <!-- output of solution 1 -->\n   Output of the reference run:\n\n"
                     r"   ```text\n   counted 3\n   ✓ counting to N gives N \(3\)\n   ```\n.*</details>", one, re.S)
    assert f"![{ALT}](attachment:solution-2-1.png)" in two and "   ```text\n   drawn\n   ```" in two
    assert two.index("```python") < two.index("attachment:") < two.index("</details>")
    assert list(md.attachments) == ["solution-2-1.png"] and len(md.attachments["solution-2-1.png"]["image/png"]) > 500
    assert md.source == first.cells[-1].source and md.attachments == first.cells[-1].attachments  # a rerun: the same
    assert codes(path) == before  # the tests extract the code alone, never the output after it
    assert book_solutions.without_outputs(md.source) == written  # removing the output gives the block as written


@pytest.mark.notebook
def test_a_false_claim_in_a_solution_fails_make_outputs_and_leaves_the_notebook(tmp_path):
    path = write_synthetic(tmp_path / "notebooks", holds=False)
    original = path.read_bytes()
    with pytest.raises(RuntimeError, match=r"solution 1 \(count\) failed in the reference run: ClaimError: .*"
                                           r"counting to N gives N"):
        regenerate(path, tmp_path / "cache", tmp_path / "failed")
    assert path.read_bytes() == original
    assert (tmp_path / "failed" / path.name).is_file()


@pytest.mark.notebook
def test_the_tests_run_of_the_solutions_fails_on_a_false_claim_only_in_the_reference_run(tmp_path):
    from tests.test_notebooks import execute_with_solutions

    folder = tmp_path / "notebooks"
    path = write_synthetic(folder, holds=False)
    record_reference_run(path)  # as make outputs does: N = 3 is the reference run
    ran = execute_with_solutions(NAME, tmp_path / "reference.ipynb", {}, folder=folder)
    failed = book_solutions.solution_errors(nbformat.read(ran, as_version=4))
    assert list(failed) == ["1"] and failed["1"].startswith("ClaimError: The notebook says “counting to N gives N”")
    other = execute_with_solutions(NAME, tmp_path / "other.ipynb", {"N": 4}, folder=folder)  # not the reference run
    nb = nbformat.read(other, as_version=4)
    assert book_solutions.solution_errors(nb) == {}
    assert "does not hold" in "".join(o.get("text", "") for o in book_solutions.solution_cells(nb)["1"].outputs)


def test_embedding_is_idempotent_and_keeps_the_code_alone():
    """Without a kernel: outputs given by hand, embedded twice; a fence in the output gets a longer fence."""
    md = new_markdown_cell("1. **A.** Do.\n   <details><summary>Solution 1: a</summary>\n\n   ```python\n   "
                           "print('```')\n   ```\n   </details>\n")
    nb = new_notebook(cells=[md])
    for _ in range(2):
        nb = book_solutions.with_solution_cells(nb)
        nb.cells[-1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="```\n"),
                                nbformat.v4.new_output("stream", name="stderr", text="a warning\n")]
        nb = book_solutions.embed_outputs(nb)
    (cell,) = nb.cells
    assert cell.source.count("Output of the reference run:") == 1 and "````text\n   ```\n   ````" in cell.source
    assert "a warning" not in cell.source and "attachments" not in cell
    assert [s.code for s in book_solutions.find_solutions(nb)] == ["print('```')"]
    assert book_solutions.without_outputs(cell.source) == md.source


@pytest.mark.notebook
def test_the_site_shows_a_solutions_output_inside_its_collapsed_block(made, tmp_path):
    from bs4 import BeautifulSoup

    path = made[0]
    site.build_site([path], tmp_path / "site")
    page = BeautifulSoup((tmp_path / "site" / f"{NAME}.html").read_text(encoding="utf-8"), "html.parser")
    blocks = {b.find("summary").get_text(): b for b in page.select("details")}
    assert list(blocks) == ["Solution 1: count", "Solution 2: draw"] and not any(b.has_attr("open")
                                                                               for b in blocks.values())
    assert "counted 3" in blocks["Solution 1: count"].get_text()
    (img,) = blocks["Solution 2: draw"].select("img")
    assert img["src"].startswith("data:image/png;base64,") and img["alt"] == ALT
    assert "drawn" in blocks["Solution 2: draw"].get_text()
