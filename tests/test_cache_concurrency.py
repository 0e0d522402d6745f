"""The checkpoint cache with two processes writing the same key at once (two notebooks, or two
learners sharing $VAE_CACHE_DIR, training the same model): no crash, no corrupt file, and a reader
never sees half a file (helpers.cache.save writes a temporary file and renames it)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from helpers import cache
from helpers.models import VAE

ROOT = Path(__file__).resolve().parent.parent
KEY = {"format": "test", "what": "two writers, one key"}


def start(script: str, *args) -> subprocess.Popen:
    """A Python process running `script` with this checkout's helpers (its own interpreter, like a second kernel)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen, timeout: float = 300) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"a writer crashed (exit {process.returncode}):\n{err[-3000:]}"
    return out


WRITER = """
    import sys, time
    from pathlib import Path
    import torch
    from helpers import cache
    from helpers.models import VAE

    path, writer, go = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    torch.manual_seed(writer)
    model = VAE(latent_dim=2, hidden=256)             # about 0.5 MB a file: a write takes a while
    while time.time() < go:                           # both writers start together
        time.sleep(0.001)
    for i in range(60):
        assert cache.save(path, {"format": "test", "what": "two writers, one key"}, model, {"writer": writer, "i": i})
    print("done")
"""


def test_two_processes_saving_one_key_never_leave_a_half_written_file(tmp_path, capsys):
    import time

    path = tmp_path / "vae-same-key.pt"
    go = time.time() + 8  # time for both interpreters to import torch
    writers = [start(WRITER, path, w, go) for w in (1, 2)]
    model, reads = VAE(latent_dim=2, hidden=256), []
    while any(w.poll() is None for w in writers):  # read while they write, as a third notebook would
        history = cache.load(path, KEY, model)  # None while there is no file yet
        if history is not None:
            reads.append(history["writer"])
    outputs = [finish(w) for w in writers]
    assert outputs == ["done\n", "done\n"]
    unreadable = capsys.readouterr().out.count("is unreadable")  # load reports, and deletes, a file it cannot read
    assert unreadable == 0, f"the reader found {unreadable} unreadable files while the writers wrote"
    assert set(reads) == {1, 2}, "the reader did not see both writers' files: the test did not overlap the writes"
    history = cache.load(path, KEY, model)  # the last rename wins: a whole file of one of the writers
    assert history is not None and history["writer"] in (1, 2) and history["i"] == 59
    torch.manual_seed(history["writer"])
    assert all(torch.equal(a, b) for a, b in zip(VAE(latent_dim=2, hidden=256).state_dict().values(),
                                                 model.state_dict().values()))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


FIT = """
    import sys
    import torch
    from helpers.data import load_data, ImageData, spread_indices
    from helpers.models import VAE
    from helpers.train import fit

    cache_dir, device = sys.argv[1], sys.argv[2]
    data = load_data("mnist", verbose=False)
    idx, tdx = spread_indices(len(data.x_train), 256), spread_indices(len(data.x_test), 64)
    vdx = spread_indices(len(data.x_val), 64)
    small = ImageData(data.name, data.source, data.x_train[idx], data.y_train[idx], data.x_test[tdx],
                      data.y_test[tdx], data.x_val[vdx], data.y_val[vdx])
    torch.manual_seed(0)
    model = VAE(latent_dim=2, hidden=32)
    fit(model, small, epochs=2, device=device, progress=False, cache_dir=cache_dir)
    print(sum(p.double().sum().item() for p in model.state_dict().values()))
"""


def test_two_notebooks_training_the_same_model_at_once_both_get_it_and_the_next_run_loads_it(tmp_path, device):
    """Two fit calls with the same key at once, each in its own process: both train (neither file is there yet),
    both save, neither crashes; a third run loads the file they left, and gets the weights they trained."""
    cache_dir = tmp_path / "cache"
    runs = [start(FIT, cache_dir, device.type) for _ in range(2)]
    outputs = [finish(r) for r in runs]
    first, second = (o.splitlines() for o in outputs)
    assert all(any(line.startswith("Trained VAE") for line in o) for o in (first, second)), outputs
    assert first[-1] == second[-1]  # the same seed and data: the same weights, whichever rename came last
    (file,) = cache_dir.iterdir()  # one file, no temporary file left
    third = finish(start(FIT, cache_dir, device.type)).splitlines()
    assert any(line.startswith("Loaded VAE from the cache") for line in third), third
    assert third[-1] == first[-1]
    assert cache.load(file, torch.load(file, weights_only=True)["key"], VAE(latent_dim=2, hidden=32)) is not None
