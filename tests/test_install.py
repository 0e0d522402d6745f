"""`pip install .` (not editable) puts helpers in site-packages: it must still work from any folder,
keep its data and cache out of the installed package. The wheel ships `helpers` alone: the tools
that build the book (`book/`) stay in the checkout, and neither the notebooks nor `helpers` import them."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parent.parent


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")
            if "__pycache__" not in p.parts and p.suffix != ".pyc"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel, built from a copy of the sources and installed without dependencies into a folder
    of its own (a fresh virtual environment would copy gigabytes of torch)."""
    tmp = tmp_path_factory.mktemp("install")
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("helpers", "book", "bench", "tests"):  # as in a checkout: the wheel must pick helpers alone
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "wheel"), str(source)],
                   check=True, cwd=tmp)
    (wheel,) = (tmp / "wheel").glob("*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(tmp / "site"), str(wheel)], check=True)
    return tmp / "site"


def test_the_installed_package_has_no_checkout(installed):
    out = subprocess.run([sys.executable, "-c", "import helpers, helpers.paths as p; "
                          "print(helpers.__file__); print(p.checkout_root()); print(p.cache_dir())"],
                         env={"PYTHONPATH": str(installed), "PATH": "/usr/bin:/bin"}, cwd=installed.parent,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0].startswith(str(installed)) and out[1] == "None"
    assert out[2] == str(installed.parent / "checkpoints")


def test_the_wheel_ships_helpers_and_not_the_book_tools(installed):
    top = {p.name for p in installed.iterdir() if not p.name.endswith(".dist-info")}
    assert top == {"helpers"}, top
    assert (installed / "helpers" / "widgets" / "latent_explorer.py").is_file()  # subpackages are shipped too
    run = subprocess.run([sys.executable, "-c", "import book"], env={"PYTHONPATH": str(installed),
                         "PATH": "/usr/bin:/bin"}, cwd=installed.parent, capture_output=True, text=True)
    assert run.returncode != 0 and "No module named 'book'" in run.stderr


def test_neither_the_notebooks_nor_helpers_import_the_book_tools():
    import nbformat

    imports_book = re.compile(r"^\s*(from|import)\s+book\b", re.M)
    sources = {str(p.relative_to(ROOT)): p.read_text() for p in (ROOT / "helpers").rglob("*.py")}
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        sources[nb.name] = "\n".join(c.source for c in nbformat.read(nb, as_version=4).cells if c.cell_type == "code")
    assert len(sources) > 10 and [name for name, text in sources.items() if imports_book.search(text)] == []


@pytest.mark.notebook
def test_notebook_01_runs_from_any_folder_and_writes_nothing_into_the_package(installed, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(ROOT / "notebooks" / "01_autoencoder.ipynb", work / "01_autoencoder.ipynb")
    before = files_under(installed / "helpers")
    monkeypatch.setenv("PYTHONPATH", str(installed))  # the kernel imports the installed copy, not the checkout
    monkeypatch.delenv("VAE_CACHE_DIR", raising=False)
    monkeypatch.delenv("VAE_DATA_DIR", raising=False)
    pm.execute_notebook(str(work / "01_autoencoder.ipynb"), str(work / "out.ipynb"), cwd=str(work),
                        parameters={"EPOCHS": 1, "HIDDEN": 32, "LATENT_DIM": 2}, kernel_name="python3",
                        progress_bar=False)
    assert list((work / "checkpoints").glob("autoencoder-*.pt"))  # the cache is in the working directory
    assert files_under(installed / "helpers") == before            # nothing was written into the package
