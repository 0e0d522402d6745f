"""`make run`: execute every notebook in order with papermill into build/, build the series'
website from the executed notebooks into build/site/ (book.site), write every notebook's recorded
metrics to build/metrics.json, and print a short table: each notebook, how long it ran, how many
of its checked sentences held, and two or three of its numbers, with their units.

    python -m book.run_notebooks [NOTEBOOK ...]
"""

from __future__ import annotations

import json
import numbers
import os
import sys
import time
from pathlib import Path

from book.notebooks import checkout_root, environment, execute, find_notebooks
from helpers.metrics import read_metrics

# The numbers each notebook's row shows: (label, metric recorded by its last cell, format with units).
HEADLINES: dict[str, list[tuple[str, str, str]]] = {
    "01_autoencoder": [("test reconstruction", "test_reconstruction", "{:.1f} nats/image"),
                       ("train", "train_reconstruction", "{:.1f} nats/image")],
    "02_vae": [("test ELBO", "test_elbo", "{:.1f} nats/image"), ("KL", "test_kl", "{:.1f} nats/image"),
               ("active units", "active_units", "{}")],
    "03_elbo": [("log p(x)", "mnist_log_likelihood", "{:.1f} nats/image"),
                ("ELBO", "mnist_mean_elbo", "{:.1f} nats/image"),
                ("amortization gap", "amortization_gap", "{:.2f} nats/image")],
    "04_results": [("test -log p(x)", "test_nll_mean", "{:.1f} nats/image"),
                   ("", "test_nll_bits_per_dim", "{:.3f} bits/dim"),
                   ("classifier accuracy", "classifier_accuracy", "{:.1%}")],
    "05_going_further": [("-log p(x): MLP", "mlp_nll", "{:.1f} nats/image"), ("conv", "conv_nll", "{:.1f} nats/image"),
                         ("CVAE label accuracy", "cvae_label_accuracy", "{:.0%}")],
}
NOT_HEADLINES = ("claims_checked", "claims_held", "reference_run", "seconds")


def duration(seconds: float) -> str:
    """58 s, 5 min 48 s."""
    seconds = round(seconds)
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60} s"


def claims(metrics: dict) -> str:
    """'15 of 15' (held of checked), or '-' for a notebook that checks none."""
    if "claims_checked" not in metrics:
        return "-"
    return f"{metrics.get('claims_held', 0)} of {metrics['claims_checked']}"


def headline(name: str, metrics: dict) -> str:
    """Two or three of a notebook's numbers with units; for a notebook without a list in HEADLINES,
    its first three plain numbers."""
    spec = HEADLINES.get(name) or [(k, k, "{:.4g}" if isinstance(v, float) else "{}") for k, v in metrics.items()
                                   if k not in NOT_HEADLINES and isinstance(v, numbers.Number)
                                   and not isinstance(v, bool)][:3]
    parts = [f"{label} {fmt.format(metrics[key])}".strip() for label, key, fmt in spec
             if isinstance(metrics.get(key), numbers.Number)]
    return ", ".join(parts) or "-"


def summary_table(rows: list[tuple[str, float, dict]]) -> str:
    """The table `make run` prints: one row per (notebook, seconds it ran, its recorded metrics)."""
    table = [("notebook", "time", "claims held", "numbers")]
    table += [(name, duration(seconds), claims(m), headline(name, m)) for name, seconds, m in rows]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3] for row in table)


def run_one(nb: Path, build: Path) -> float:
    """Execute one notebook into build/ (its name kept); return the seconds it took."""
    print(f"running {nb.name} ...", flush=True)
    start = time.perf_counter()
    execute(nb, build / nb.name)
    return time.perf_counter() - start


def write_metrics(rows: list[tuple[str, float, dict]], path: Path) -> None:
    """Every metric of every notebook, and how long each ran, as JSON."""
    path.write_text(json.dumps({name: {"run_seconds": round(seconds, 1), "metrics": metrics}
                                for name, seconds, metrics in rows}, indent=1) + "\n", encoding="utf-8")


def main(argv: list[str]) -> int:
    from book import site

    root = checkout_root()
    if root is None and not argv:
        print("make run: not in a vae-notebooks checkout, so there are no notebooks to run; run it from a clone "
              "of the repository (or name the notebooks: python -m book.run_notebooks NB ...).", file=sys.stderr)
        return 2
    notebooks_dir = root / "notebooks" if root else Path.cwd()
    notebooks = [Path(a) for a in argv] or find_notebooks(notebooks_dir)
    if not notebooks:
        print(f"make run: no notebooks (NN_name.ipynb) in {notebooks_dir}; nothing was run.", file=sys.stderr)
        return 1
    build = (root or Path.cwd()) / "build"
    build.mkdir(exist_ok=True)
    # The executed notebooks are static documents: a progress-bar widget would show as "0%" there.
    with environment(TQDM_DISABLE=os.environ.get("TQDM_DISABLE") or "1"):
        seconds = [run_one(nb, build) for nb in notebooks]
    rows = [(nb.stem, s, read_metrics(build / nb.name)) for nb, s in zip(notebooks, seconds)]
    # The site shows the notebooks just executed; their relative links are relative to where the
    # originals live (notebooks/), not to build/.
    readme = root / "README.md" if root else None
    index = site.build_site([build / nb.name for nb in notebooks], build / "site", readme=readme,
                            source_dir=notebooks[0].resolve().parent)
    write_metrics(rows, build / "metrics.json")
    print(f"\n{summary_table(rows)}\n")
    print(f"The website: {index}")
    print(f"Every number each notebook recorded: {build / 'metrics.json'} (the executed notebooks: {build}/)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
