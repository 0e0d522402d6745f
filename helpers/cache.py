"""The checkpoint cache: a model trained before with the same everything is loaded, not retrained.

Used by `helpers.train.fit` (notebook 01 explains it). "The same everything" is the key of a
cache file, and it holds every number that can change the trained weights:

- every setting of `fit` (its `FitSettings`, with their defaults), except the four that only
  change what is shown or where the file goes (`progress`, `verbose`, `cache`, `cache_dir`),
  with the device as its type and the callback as whether there is one. The settings build
  this part of the key from their fields, so an option added to `fit` later is in the key
  without anyone remembering to add it;
- the model: its class, ``repr(model)`` (layers and activations: ReLU and ELU differ) and a
  hash of its initial weights;
- the data: name, source and a hash of the contents of every tensor (same sizes but other
  images is another key);
- the device type (cpu, cuda, mps: their arithmetic differs in the last bits);
- a hash of the source code that defines the models, the loss and the training loop, and
  torch's version: change either and every model is retrained.

A callback's snapshots depend on code the cache cannot see (a lambda, a closure, a partial), so
`fit` caches a run with a callback only when it is given ``cache_key="..."``, a string that names
what the callback records; without one it trains and says it did not cache.

Files are written atomically (a reader never sees half a file), loaded with
``weights_only=True`` (no code runs on load), and a file that cannot be read is retrained. An
unwritable cache folder gives a warning, never a lost model.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
import weakref
from pathlib import Path

import torch

from helpers.paths import ENV_CACHE_DIR, cache_dir, short

FORMAT = 2
# The code that determines a trained model: any edit to these files retrains (safe, if eager).
CODE_FILES = ("data.py", "early_stopping.py", "elbo.py", "models.py", "random_state.py", "train.py")
SNAPSHOT_LEAVES = (torch.Tensor, int, float, bool, str, type(None))

_digests: dict[int, tuple] = {}  # id(tensor) -> (weak reference, version, digest)


def tensor_digest(*tensors: torch.Tensor | None) -> str:
    """sha256 of the tensors' dtypes, shapes and bytes. Remembered per tensor until it changes
    (its in-place version counter moves), so hashing 60,000 images costs once per session."""
    h = hashlib.sha256()
    for t in tensors:
        if t is None:
            h.update(b"none")
            continue
        known = _digests.get(id(t))
        if known is None or known[0]() is not t or known[1] != t._version:
            flat = t.detach().cpu().contiguous().reshape(-1)
            body = hashlib.sha256(flat.view(torch.uint8).numpy() if flat.numel() else b"").hexdigest()
            known = (weakref.ref(t), t._version, f"{t.dtype}{tuple(t.shape)}{body}")
            for stale in [i for i, entry in _digests.items() if entry[0]() is None]:
                del _digests[stale]
            _digests[id(t)] = known
        h.update(known[2].encode())
    return h.hexdigest()


def code_digest() -> str:
    """sha256 of the source files that define the models, the loss and the training loop."""
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in CODE_FILES:
        h.update(name.encode())
        h.update((here / name).read_bytes())
    return h.hexdigest()


def cache_key(settings: dict, model: torch.nn.Module, data) -> dict:
    """The key of a `fit` run: `settings` are the settings that change its numbers (from
    helpers.train.FitSettings.key), `model` the untrained model, `data` its ImageData."""
    state = model.state_dict()
    return json.loads(json.dumps({  # as it reads back from the file: tuples become lists
        "format": FORMAT, "torch": torch.__version__, "code_sha256": code_digest(), **settings,
        "model": {"class": type(model).__qualname__, "repr": repr(model), "config": model.config,
                  "initial_weights_sha256": tensor_digest(*(state[k] for k in sorted(state)))},
        "data": {"name": data.name, "source": data.source,
                 "sha256": tensor_digest(data.x_train, data.y_train, data.x_val, data.y_val, data.x_test, data.y_test)},
    }))


def cache_path(model: torch.nn.Module, key: dict, folder: str | Path | None = None) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return Path(folder or cache_dir()) / f"{type(model).__name__.lower()}-{digest}.pt"


def check_snapshot(snapshot: object, where: str = "snapshot") -> None:
    """Raise TypeError unless `snapshot` is made of what ``torch.load(weights_only=True)`` reads
    back: tensors, numbers, strings, None, and lists, tuples and dicts of them."""
    if isinstance(snapshot, SNAPSHOT_LEAVES):
        return
    if isinstance(snapshot, (list, tuple)):
        for i, item in enumerate(snapshot):
            check_snapshot(item, f"{where}[{i}]")
        return
    if isinstance(snapshot, dict):
        for k, item in snapshot.items():
            check_snapshot(k, f"a key of {where}")
            check_snapshot(item, f"{where}[{k!r}]")
        return
    kind = f"{type(snapshot).__module__}.{type(snapshot).__qualname__}"
    raise TypeError(f"the callback returned a {kind} in {where}; the cache can store only tensors, numbers, "
                    "strings, None, and lists, tuples and dicts of them (it loads with weights_only=True). "
                    "Convert it (torch.from_numpy(array), a figure's data as a tensor), or pass cache=False.")


def load(path: Path, key: dict, model: torch.nn.Module) -> dict | None:
    """The saved history (a dict) after loading the weights into `model`, or None on a miss.
    A file that cannot be read (truncated, corrupt, foreign) is deleted and reported."""
    if not path.exists():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob.get("key") != key:
            raise ValueError("its key does not match")
        model.load_state_dict(blob["state_dict"])
        return blob["history"]
    except Exception as err:  # truncated, corrupt or foreign file: retrain, never crash
        print(f"Cache file {short(path)} is unreadable ({type(err).__name__}: {err}); retraining.")
        path.unlink(missing_ok=True)
        return None


def save(path: Path, key: dict, model: torch.nn.Module, history: dict) -> bool:
    """Write atomically; on any OS error warn and return False (the caller keeps its model)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save({"key": key, "state_dict": state, "history": history}, buffer)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(buffer.getvalue())
        os.replace(tmp, path)  # atomic: a reader never sees a half-written file
        return True
    except OSError as err:
        warnings.warn(f"The trained model could not be cached in {path} ({type(err).__name__}: {err}); it is "
                      f"returned, but the next run will train it again. Set ${ENV_CACHE_DIR} to a writable "
                      "folder, or pass cache=False.", RuntimeWarning, stacklevel=3)
        return False
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
