"""How much faster is `helpers.train.fit` than the standard recipe? (make bench)

Both train the same 784-400-20 MLP VAE (`helpers.models.VAE(20, 400)`, the architecture of
pytorch/examples vae/main.py) from the same initial weights, with Adam at lr 1e-3 and batches
of 128, on the same images for the same epochs. They differ only in the loop:

- recipe: a torchvision dataset with `ToTensor` and a `DataLoader` (collating one image at a
  time), `.item()` on every batch, a pass over the test set after each epoch:
  pytorch/examples vae/main.py;
- fit: the images already in one tensor on the device, batches sliced by a seeded permutation,
  losses read back once per epoch, fused Adam, the test set evaluated after each epoch.

Runs alternate in one process (recipe, fit, recipe, fit ...) so that both see the same
machine state. Data: Fashion-MNIST's 60,000 training images when Debian's
dataset-fashion-mnist is installed, else the offline MNIST subset (4,000).

    python bench/train_speed.py [--epochs 3] [--rounds 2] [--device auto]
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import struct
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from helpers.data import FASHION_MNIST_DEBIAN_DIR, load_data
from helpers.models import VAE
from helpers.train import evaluate, fit, resolve_device, set_seed


def write_torchvision_layout(data, root: Path) -> Path:
    """Write the images as MNIST IDX files where torchvision.datasets.MNIST looks for them."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for split, x, y in (("train", data.x_train, data.y_train), ("t10k", data.x_test, data.y_test)):
        images = (x[:, 0] * 255).round().to(torch.uint8).numpy()
        (raw / f"{split}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, *images.shape) + images.tobytes())
        labels = y.to(torch.uint8).numpy()
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, len(labels)) + labels.tobytes())
    return root


def recipe_loss(logits, x, q):
    """pytorch/examples vae/main.py: BCE summed over the batch plus the closed-form KL."""
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    mu, logvar = q.loc, 2 * q.scale.log()
    return bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def train_recipe(model, root: Path, epochs: int, device: torch.device) -> list[float]:
    train = datasets.MNIST(str(root), train=True, download=False, transform=transforms.ToTensor())
    test = datasets.MNIST(str(root), train=False, download=False, transform=transforms.ToTensor())
    loader = DataLoader(train, batch_size=128, shuffle=True)
    test_loader = DataLoader(test, batch_size=128, shuffle=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    seconds = []
    for _ in range(epochs):
        start, train_loss = time.perf_counter(), 0.0
        model.train()
        for data, _ in loader:
            data = data.to(device)
            optimizer.zero_grad()
            q, _, logits = model(data)
            loss = recipe_loss(logits, data, q)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
        model.eval()
        test_loss = 0.0
        with torch.no_grad():
            for data, _ in test_loader:
                data = data.to(device)
                q, _, logits = model(data)
                test_loss += recipe_loss(logits, data, q).item()
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    dataset = "fashion-mnist" if FASHION_MNIST_DEBIAN_DIR.exists() else "mnist"
    data = load_data(dataset, source="offline")
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.epochs} epochs x {args.rounds} rounds, 784-400-20 MLP VAE, Adam 1e-3, batch 128")
    results = {"recipe": [], "fit": []}
    losses = {"recipe": [], "fit": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = write_torchvision_layout(data, Path(tmp))
        x_test = data.x_test.to(device)
        for r in range(args.rounds):
            set_seed(r)
            model = VAE(20, 400).to(device)
            results["recipe"] += train_recipe(model, root, args.epochs, device)
            losses["recipe"].append(evaluate(model, x_test)["loss"])
            set_seed(r)
            model = VAE(20, 400)
            history = fit(model, data, epochs=args.epochs, seed=r, device=device, cache=False,
                          progress=False, verbose=False)
            results["fit"] += history.epoch_seconds
            losses["fit"].append(history.test["loss"][-1])
            print(f"round {r + 1}: recipe {statistics.median(results['recipe'][-args.epochs:]):.2f} s/epoch, "
                  f"fit {statistics.median(history.epoch_seconds):.2f} s/epoch")
        train = datasets.MNIST(str(root), train=True, download=False, transform=transforms.ToTensor())
        start = time.perf_counter()
        for _ in DataLoader(train, batch_size=128, shuffle=True):
            pass
        loader = time.perf_counter() - start
    recipe, ours = statistics.median(results["recipe"]), statistics.median(results["fit"])
    loss_r, loss_f = statistics.mean(losses["recipe"]), statistics.mean(losses["fit"])
    print(f"\n{dataset}, {len(data.x_train):,} training images")
    print(f"seconds per epoch (median): recipe {recipe:.2f}, fit {ours:.2f}, speed-up {recipe / ours:.1f}x")
    print(f"the recipe's DataLoader alone: {loader:.2f} s/epoch, so the same arithmetic without it could be at "
          f"most {recipe / (recipe - loader):.1f}x faster; fit's fused Adam gives the rest")
    print(f"final test loss (nats/image, mean of {args.rounds}): recipe {loss_r:.2f}, fit {loss_f:.2f}, "
          f"difference {100 * abs(loss_f - loss_r) / loss_r:.2f}%")


if __name__ == "__main__":
    main()
