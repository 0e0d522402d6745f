"""The exercises' worked solutions: found in a notebook's markdown, run as cells, their output written back.

Each exercise's solution is a collapsed markdown block,

    <details><summary>Solution N: title</summary>
    what it shows, in words
    ```python
    code
    ```
    <!-- output of solution N -->  ... what the code printed and drew ...  <!-- end of the output of solution N -->
    </details>

`make outputs` (book.outputs) runs a notebook at its defaults (its reference run) with every solution's
code appended as a cell (`with_solution_cells`), so that a solution's false `claim(...)` raises and the
notebook fails; then `embed_outputs` writes each solution cell's output into its block (between the two
comments, replacing an earlier one) and drops the appended cells. What is written:

- printed text and text results in a ```text fence, after a line "Output of the reference run:";
- images as attachments of the markdown cell (`![alt text](attachment:solution-N-k.png)`), with the alt text
  that helpers.plots.show recorded in the output's metadata;
- of a widget, its static picture, else its text line (the live view needs a kernel);
- not stderr (warnings, progress bars).

The code of a solution (`find_solutions`) is its python fence alone, never its embedded output.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

import nbformat

SOLUTION = re.compile(r"<summary>Solution (\d+): ([^<]+)</summary>(.*?)</details>", re.S)
CODE = re.compile(r"```python\n(.*?)\n\s*```", re.S)
# An embedded output, with the newline before it: removing it gives back the block as it was written.
OUTPUT = re.compile(r"\n[ \t]*<!-- output of solution (\d+) -->.*?<!-- end of the output of solution \1 -->\n", re.S)
TAG = "solution"                 # the tag of an appended solution cell
HEADING = "Output of the reference run:"
NO_ALT = "No description has been provided for this image"  # nbconvert's placeholder, which the site reports
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class Solution:
    number: str
    title: str
    code: str    # the python fence's text, dedented
    cell: int    # the index of its markdown cell


def without_outputs(text: str) -> str:
    """Markdown with every embedded solution output removed."""
    return OUTPUT.sub("", text)


def find_solutions(nb: nbformat.NotebookNode) -> list[Solution]:
    """Every worked solution in the notebook's markdown, in order."""
    import textwrap

    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for number, title, body in SOLUTION.findall(cell.source):
            codes = CODE.findall(without_outputs(body))
            if len(codes) != 1:
                raise ValueError(f"cell {i}, solution {number}: a solution has one ```python fence; this has "
                                 f"{len(codes)}")
            found.append(Solution(number, title.strip(), textwrap.dedent(codes[0]), i))
    return found


def with_solution_cells(nb: nbformat.NotebookNode, tags: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    """A copy of `nb` with every solution's code appended as a code cell tagged `solution` (and `tags`)."""
    nb = copy.deepcopy(nb)
    for s in find_solutions(nb):
        cell = nbformat.v4.new_code_cell(f"# solution {s.number}: {s.title}\n{s.code}")
        cell.metadata["tags"] = [TAG, *tags]
        cell.metadata["solution"] = s.number
        nb.cells.append(cell)
    return nb


def solution_cells(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    """The appended solution cells of an executed notebook, by solution number."""
    return {c.metadata["solution"]: c for c in nb.cells
            if c.cell_type == "code" and TAG in c.metadata.get("tags", []) and "solution" in c.metadata}


def solution_errors(nb: nbformat.NotebookNode) -> dict[str, str]:
    """solution number -> its error ("ClaimError: ...") for every appended solution cell that raised."""
    return {n: f"{o['ename']}: {o['evalue']}" for n, c in solution_cells(nb).items()
            for o in c.get("outputs", []) if o.get("output_type") == "error"}


def _text(text: str | list[str]) -> str:
    """Printed text as a reader saw it: no colour codes, each line as its last carriage return left it."""
    text = ANSI.sub("", "".join(text) if isinstance(text, list) else text)
    return "\n".join(line.split("\r")[-1].rstrip() for line in text.split("\n"))


def _alt(output: dict) -> str:
    alt = output.get("metadata", {}).get("image/png", {}).get("alt") or NO_ALT
    return re.sub(r"\s+", " ", alt).replace("[", "(").replace("]", ")").strip()


def render_output(number: str, outputs: list[dict], indent: str) -> tuple[str, dict]:
    """The markdown of a solution cell's outputs (the delimited block `embed_outputs` inserts) and its attachments."""
    parts: list[tuple[str, str]] = []  # ("text", str) or ("image", markdown)
    attachments = {}
    for output in outputs:
        kind, data = output.get("output_type"), output.get("data", {})
        if kind == "stream":
            if output.get("name") == "stdout":
                parts.append(("text", _text(output["text"])))
        elif kind in ("display_data", "execute_result"):
            if "image/png" in data:
                name = f"solution-{number}-{len(attachments) + 1}.png"
                attachments[name] = {"image/png": "".join(data["image/png"]).strip()}
                parts.append(("image", f"![{_alt(output)}](attachment:{name})"))
            elif "text/plain" in data:
                parts.append(("text", _text(data["text/plain"]) + "\n"))
        elif kind == "error":
            raise ValueError(f"solution {number} raised {output['ename']}: it has no output to commit")
    blocks, text = [], ""
    for kind, content in [*parts, ("end", "")]:
        if kind == "text":
            text += content
            continue
        if text.strip("\n"):
            body = text.strip("\n")
            fence = "`" * max(3, 1 + max((len(r) for r in re.findall(r"`+", body)), default=0))
            blocks.append(f"{fence}text\n{body}\n{fence}")
        text = ""
        if kind == "image":
            blocks.append(content)
    lines = [f"<!-- output of solution {number} -->", HEADING, ""]
    for block in blocks or ["(no output)"]:
        lines += [*block.split("\n"), ""]
    lines.append(f"<!-- end of the output of solution {number} -->")
    return "\n" + "\n".join(f"{indent}{line}" if line else "" for line in lines) + "\n", attachments


def _embed_in_cell(cell: nbformat.NotebookNode, index: int, cells: dict[str, nbformat.NotebookNode]) -> None:
    """Write the outputs of `cells` into the solution blocks of one markdown cell (in place)."""
    attachments = {k: v for k, v in cell.get("attachments", {}).items() if not k.startswith("solution-")}

    def embed(match: re.Match) -> str:
        number, body = match.group(1), without_outputs(match.group(3))
        if number not in cells:
            raise ValueError(f"solution {number} (markdown cell {index}) has no executed solution cell")
        fence = re.search(r"^([ \t]*)```python", body, re.M)
        block, images = render_output(number, cells[number].get("outputs", []), fence.group(1) if fence else "")
        attachments.update(images)
        kept = body.rstrip(" \t")  # the block ends with the code fence's line, then </details>'s indentation
        return match.group(0)[:match.start(3) - match.start(0)] + kept + block + body[len(kept):] + "</details>"

    cell.source = SOLUTION.sub(embed, cell.source)
    if attachments:
        cell["attachments"] = attachments
    else:
        cell.pop("attachments", None)


def embed_outputs(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Write each appended solution cell's outputs into its solution's block (replacing an earlier embedded
    output, and its attachments) and remove the appended cells. In place; returns `nb`."""
    cells = solution_cells(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and SOLUTION.search(cell.source):
            _embed_in_cell(cell, i, cells)
    nb.cells = [c for c in nb.cells if not (c.cell_type == "code" and TAG in c.metadata.get("tags", []))]
    return nb
