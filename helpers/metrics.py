"""Recording a notebook's key numbers, and reading them back from an executed notebook.

The last cell of every notebook calls `report(...)`. It displays one output with two forms:
a JSON bundle under the MIME type ``application/vnd.vae-notebooks.metrics+json`` (for tools)
and a readable line (for people). `read_metrics` finds that bundle in an executed notebook;
the tests and ``make run`` use it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

MIME = "application/vnd.vae-notebooks.metrics+json"


def _plain(value):
    """Tensors, NumPy scalars and tuples -> JSON-ready Python values."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    return value


def _readable(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_readable(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_readable(v)}" for k, v in value.items()) + "}"
    return str(value)


def format_metrics(metrics: dict) -> str:
    """One readable line: key=value pairs, floats to 4 significant digits."""
    return ", ".join(f"{k}={_readable(v)}" for k, v in metrics.items())


def report(**metrics) -> None:
    """Display the metrics as a JSON bundle plus a readable line."""
    from IPython.display import display

    bundle = _plain(metrics)
    json.dumps(bundle)  # fail here, in the notebook, if something is not serializable
    text = "Metrics: " + format_metrics(bundle)
    display({MIME: bundle, "text/plain": text}, raw=True)


def read_metrics(notebook: str | Path) -> dict:
    """The metrics recorded by `report` in an executed notebook (later reports win)."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    found: dict = {}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if MIME in data:
                found.update(data[MIME])
    if not found:
        raise LookupError(f"{notebook} holds no {MIME} output; did its last cell (report) run?")
    return found
