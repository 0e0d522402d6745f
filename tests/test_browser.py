"""The notebooks as a learner uses them: JupyterLab in a real browser (headless Chromium).

For every notebook: open it, run all cells from the Run menu, wait for the kernel, then check
that there is no error output and that figures rendered as images and widgets as widgets (not
their text fallback). Then drive each notebook's widgets as a person would: in 01 and 02, move a
latent-explorer slider (the decoded image must change) and press the training panel's button (a
progress bar appears, the result updates); in 03, move the ELBO playground's slider (the numbers
change and still add up); in 04, pick another beta in the model browser (its picture and row of
numbers change); in 05, pick another class and a test image's style (the decoded image changes,
the sliders move). Screenshots go to build/screenshots/. JupyterLab and its kernels are shut
down afterwards, also when a step fails.

The run trains every model of the notebooks at its defaults into the test cache, so the strict
nbval run that follows (notebooks/ is collected after tests/) loads them instead of training
them a second time.

Needs Debian's chromium (/usr/bin/chromium; `.ci/run` installs it) and the playwright Python
package, which drives that executable (no browser download). Skipped when either is missing.
Run it alone with `make test-browser`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "build" / "screenshots"
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
RUN_TIMEOUT_MS = 900_000  # notebook 04 trains about a dozen models from an empty cache: three to five minutes

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]
playwright_api = pytest.importorskip("playwright.sync_api")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid: int) -> list[int]:
    import psutil
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


@contextlib.contextmanager
def running_jupyterlab(root: Path):
    """JupyterLab on a free loopback port with a token, serving `root`; on exit (also after an
    exception) it is shut down and every process it started, kernels included, is killed."""
    settings = root / ".settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(root / ".settings"),
           "JUPYTER_RUNTIME_DIR": str(root / ".runtime")}
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
               "--LabApp.expose_app_in_browser=True", "--ServerApp.port_retries=0"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = open(root / "jupyterlab.log", "w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError as error:
                if server.poll() is not None or time.monotonic() > deadline:
                    log_tail = (root / "jupyterlab.log").read_text()[-2000:]
                    raise RuntimeError(f"JupyterLab did not start: {log_tail}") from error
                time.sleep(0.5)
        yield {"url": url, "token": token, "root": root, "pid": server.pid}
    finally:
        children = descendants(server.pid)  # the kernels, which run in sessions of their own
        try:
            request = urllib.request.Request(f"{url}/api/shutdown?token={token}", method="POST")
            urllib.request.urlopen(request, timeout=10)
            server.wait(timeout=20)
        except Exception:
            pass
        for pid in [server.pid, *children]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        server.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    for nb in NOTEBOOKS:
        shutil.copy(ROOT / "notebooks" / nb, root / nb)  # the browser may autosave: never touch the originals
    with running_jupyterlab(root) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        try:
            yield chromium
        finally:
            chromium.close()


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


PANEL = "[...window.jupyterapp.shell.widgets('main')].find(w => w.context && w.context.path === nb)"


def menu(page, top: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=top).first.click()
    page.get_by_role("menuitem", name=item, exact=True).click()


def open_and_run_all(page, lab, notebook: str) -> None:
    page.goto(f"{lab['url']}/lab/tree/{notebook}?reset&token={lab['token']}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
    page.wait_for_function(f"(nb) => window.jupyterapp && {PANEL}?.sessionContext?.session?.kernel?.status === 'idle'",
                           arg=notebook, timeout=90_000)
    menu(page, "Edit", "Clear Outputs of All Cells")  # so that "finished" cannot mean the saved outputs
    page.wait_for_function(f"""(nb) => {PANEL}.content.model.toJSON().cells
        .every(c => c.cell_type !== 'code' || c.execution_count === null)""", arg=notebook, timeout=30_000)
    menu(page, "Run", "Run All Cells")
    # done when every code cell has an execution count and the kernel is idle again
    page.wait_for_function(f"""(nb) => {{
        const panel = {PANEL};
        const cells = panel.content.model.toJSON().cells.filter(c => c.cell_type === 'code');
        return panel.sessionContext.session.kernel.status === 'idle'
            && cells.every(c => c.execution_count !== null);
    }}""", arg=notebook, timeout=RUN_TIMEOUT_MS, polling=1000)


def errors_in(page, notebook: str) -> list[str]:
    return page.evaluate(f"""(nb) => {PANEL}.content.model.toJSON().cells
        .flatMap(c => (c.outputs || []).filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue))""",
                         notebook)


def explorer_image_src(page) -> str:
    return page.locator(".widget-hbox:has(.widget-slider) img.widget-image").first.get_attribute("src")


def check_notebook(page, lab, notebook: str, name: str) -> None:
    open_and_run_all(page, lab, notebook)
    screenshot(page, f"{name}-run")
    assert errors_in(page, notebook) == []
    assert page.locator(".jp-OutputArea-output img").count() >= 8          # figures rendered as images
    assert page.locator(".widget-slider").count() >= 3                    # widgets rendered as widgets ...
    assert page.locator("button.jupyter-button:has-text('Train')").count() == 1
    assert page.get_by_text("run the notebook to move them").count() == 0  # ... not as their text fallback

    # the latent explorer: move the first slider with the keyboard, the decoded image must change
    handle = page.locator(".widget-hbox:has(img.widget-image) .widget-slider .noUi-handle").first
    handle.scroll_into_view_if_needed()
    before = explorer_image_src(page)
    handle.focus()
    for _ in range(15):
        handle.press("ArrowRight")
    page.wait_for_function("(before) => document.querySelector('.widget-hbox img.widget-image').src !== before",
                           arg=before, timeout=30_000)
    screenshot(page, f"{name}-explorer-moved")

    # the training panel: one epoch, then Train; a progress bar appears and the result updates
    panel = page.locator(".widget-vbox:has(button.jupyter-button:has-text('Train'))").last
    epochs = panel.locator(".widget-slider:has(.widget-label:text-is('epochs')) .noUi-handle")
    epochs.scroll_into_view_if_needed()
    epochs.focus()
    epochs.press("Home")
    panel.locator("button:has-text('Train')").click()
    page.wait_for_selector(".widget-vbox .progress, .widget-vbox .widget-hprogress", timeout=60_000)
    page.wait_for_function("() => [...document.querySelectorAll('.widget-html-content')]"
                           ".some(e => e.textContent.includes('test loss'))", timeout=RUN_TIMEOUT_MS)
    status = panel.locator(".widget-html-content:has-text('test loss')").inner_text()
    assert "epochs=1" in status
    assert panel.locator("img.widget-image").count() == 1
    panel.locator("img.widget-image").scroll_into_view_if_needed()
    screenshot(page, f"{name}-trained")


def widget_image_src(page, nth: int = 0) -> str:
    return page.locator(".jp-OutputArea-output img.widget-image").nth(nth).get_attribute("src")


def run_and_check(page, lab, notebook: str, name: str, images: int, sliders: int) -> None:
    open_and_run_all(page, lab, notebook)
    screenshot(page, f"{name}-run")
    assert errors_in(page, notebook) == []
    figures = page.evaluate(f"""(nb) => {PANEL}.content.model.toJSON().cells
        .flatMap(c => c.outputs || []).filter(o => o.data && o.data['image/png']).length""", notebook)
    assert figures >= images                                               # the run made its figures ...
    assert page.locator(".jp-OutputArea-output img").count() >= figures    # ... and they render as images
    assert page.locator(".widget-slider").count() >= sliders               # widgets rendered as widgets ...
    assert page.get_by_text("run the notebook to").count() == 0            # ... not as their text fallback


def check_elbo_playground(page, lab, notebook: str, name: str) -> None:
    run_and_check(page, lab, notebook, name, images=5, sliders=4)
    readout = ".widget-html-content:has-text('ELBO + KL')"
    before, picture = page.locator(readout).inner_text(), widget_image_src(page)
    handle = page.locator(".widget-slider .noUi-handle").first                # the mean of z1
    handle.scroll_into_view_if_needed()
    handle.focus()
    for _ in range(20):
        handle.press("ArrowLeft")
    page.wait_for_function("(before) => [...document.querySelectorAll('.widget-html-content')]"
                           ".some(e => e.textContent.includes('ELBO + KL') && e.textContent !== before)",
                           arg=before, timeout=30_000)
    assert widget_image_src(page) != picture
    numbers = dict(line.split(" = ") for line in page.locator(readout).inner_text().splitlines())
    assert float(numbers["ELBO + KL"]) == pytest.approx(float(numbers["log p(x)"]), abs=2e-3)
    assert float(numbers["ELBO(q)"]) < float(numbers["log p(x)"])
    screenshot(page, f"{name}-playground-moved")


def check_model_browser(page, lab, notebook: str, name: str) -> None:
    run_and_check(page, lab, notebook, name, images=6, sliders=0)
    beta = page.locator(".widget-dropdown:has(label:text-is('β')) select")
    beta.scroll_into_view_if_needed()
    picture, table = widget_image_src(page), page.locator(".widget-html-content:has(table)").inner_text()
    beta.select_option(label="4")
    page.wait_for_function("(before) => [...document.querySelectorAll('.jp-OutputArea-output img.widget-image')]"
                           ".some(e => e.getAttribute('src') !== before)", arg=picture, timeout=30_000)
    assert page.locator(".widget-html-content:has(table)").inner_text() != table
    screenshot(page, f"{name}-browser-beta-4")


def check_conditional_explorer(page, lab, notebook: str, name: str) -> None:
    run_and_check(page, lab, notebook, name, images=4, sliders=10)
    picture = widget_image_src(page)
    label = page.locator(".widget-dropdown:has(label:text-is('class')) select")
    label.scroll_into_view_if_needed()
    label.select_option(label="Boot")
    page.wait_for_function("(before) => document.querySelector('.jp-OutputArea-output img.widget-image')"
                           ".getAttribute('src') !== before", arg=picture, timeout=30_000)
    slider_values = page.locator(".widget-slider .widget-readout").all_inner_texts()
    page.locator(".widget-dropdown:has(label:text-is('style of')) select").select_option(index=4)
    page.wait_for_function("(before) => JSON.stringify([...document.querySelectorAll('.widget-slider "
                           ".widget-readout')].map(e => e.textContent)) !== before",
                           arg=str(slider_values).replace("'", '"'), timeout=30_000)
    screenshot(page, f"{name}-explorer-styled")


NOTEBOOKS = {"01_autoencoder.ipynb": ("01", check_notebook), "02_vae.ipynb": ("02", check_notebook),
             "03_elbo.ipynb": ("03", check_elbo_playground), "04_results.ipynb": ("04", check_model_browser),
             "05_going_further.ipynb": ("05", check_conditional_explorer)}


@pytest.mark.parametrize("notebook", list(NOTEBOOKS))
def test_notebook_in_jupyterlab(lab, browser, notebook):
    name, check = NOTEBOOKS[notebook]
    if notebook.startswith("05") and not FASHION_MNIST.exists():
        pytest.skip("notebook 05 needs Fashion-MNIST offline: apt-get install dataset-fashion-mnist")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        check(page, lab, notebook, name)
    except Exception:
        screenshot(page, f"{name}-failure")
        raise
    finally:
        page.close()



def test_jupyterlab_and_its_kernels_are_gone_even_after_a_failing_step(tmp_path):
    import psutil
    with pytest.raises(RuntimeError, match="a step failed"):
        with running_jupyterlab(tmp_path) as server:
            request = urllib.request.Request(f"{server['url']}/api/kernels?token={server['token']}", method="POST",
                                             data=b"{}", headers={"Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=30)
            deadline = time.monotonic() + 30
            while not descendants(server["pid"]) and time.monotonic() < deadline:
                time.sleep(0.2)
            started = [server["pid"], *descendants(server["pid"])]
            assert len(started) >= 2  # the server and at least one kernel
            raise RuntimeError("a step failed")
    alive = [p for p in started if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert alive == []
