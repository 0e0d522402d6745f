"""How fast is `helpers.train.fit`, against the standard recipe and against the arithmetic? (make bench)

Both train the same 784-400-20 MLP VAE (`helpers.models.VAE(20, 400)`, the architecture of
pytorch/examples vae/main.py) from the same initial weights, with Adam at lr 1e-3 and batches
of 128, on the same images for the same epochs. They differ only in the loop:

- recipe: a torchvision dataset with `ToTensor` and a `DataLoader` (collating one image at a
  time), `.item()` on every batch, a pass over the test set after each epoch:
  pytorch/examples vae/main.py;
- fit: the images already in one tensor on the device, batches sliced by a seeded permutation,
  losses read back once per epoch, fused Adam, the test set evaluated after each epoch.

The **roofline** is the work that no training loop can skip: the matrix products of the
forward and backward passes of every batch (the forward product of each layer, the weight
gradient of each layer, the input gradient of every layer but the first, at batch 128), one
fused Adam step on the same 652,824 parameters per batch, and the forward products of the
evaluation pass over the test images, each timed alone. fit's epoch time divided by it says how
much of the epoch is overhead: elementwise work (sigmoid, softplus, the KL), indexing, Python.

Runs alternate in one process (recipe, fit, roofline, recipe, fit, roofline ...) so that all
see the same machine state; the medians are over rounds x epochs. Data: Fashion-MNIST's 60,000
training images when Debian's dataset-fashion-mnist is installed, else the offline MNIST
subset; no validation split, so that fit scores the test images only, as the recipe does.

    python bench/train_speed.py [--epochs 3] [--rounds 3] [--device auto] [--train-images N] [--test-images N]
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
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


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def roofline_epoch(model: VAE, n_train: int, n_test: int, device: torch.device, batch_size: int = 128,
                   eval_batch: int = 1000) -> dict[str, float]:
    """Seconds for one epoch's unavoidable work, each kind timed alone: the matrix products of
    forward and backward for every batch, a fused Adam step per batch, the evaluation's forward
    products."""
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    full, last = divmod(n_train, batch_size)
    sizes = [batch_size] * full + ([last] if last else [])

    def products(rows: int, backward: bool):
        for i, layer in enumerate(linears):
            w, b = layer.weight.detach(), layer.bias.detach()
            x = torch.randn(rows, w.shape[1], device=device)
            if not backward:
                yield lambda x=x, w=w, b=b: torch.addmm(b, x, w.t())
                continue
            g = torch.randn(rows, w.shape[0], device=device)
            yield lambda g=g, x=x: torch.mm(g.t(), x)            # the weight gradient, as autograd computes it
            if i > 0:                                           # the first layer's input is data: no gradient
                yield lambda g=g, w=w: torch.mm(g, w)           # the input gradient

    def timed(work) -> float:
        for f in work[: min(len(work), 20)]:
            f()  # warm up
        sync(device)
        start = time.perf_counter()
        for f in work:
            f()
        sync(device)
        return time.perf_counter() - start

    params = [p.detach().clone().requires_grad_(True) for p in model.parameters()]
    for p in params:
        p.grad = torch.randn_like(p)
    optimizer = torch.optim.Adam(params, lr=1e-3, fused=device.type in ("cpu", "cuda"))
    eval_sizes = [eval_batch] * (n_test // eval_batch) + ([n_test % eval_batch] if n_test % eval_batch else [])
    per_size = {}
    for rows in set(sizes) | set(eval_sizes):
        per_size[rows, False] = list(products(rows, False))
        per_size[rows, True] = list(products(rows, True))
    with torch.no_grad():
        forward = timed([f for rows in sizes for f in per_size[rows, False]])
        backward = timed([f for rows in sizes for f in per_size[rows, True]])
        adam = timed([optimizer.step] * len(sizes))
        evaluation = timed([f for rows in eval_sizes for f in per_size[rows, False]])
        # the same work in the order of a training step: a product meets the caches that the Adam
        # step (10 MB of weights, gradients and moments) left behind, as it does in any real loop
        interleaved = timed([f for rows in sizes for f in [*per_size[rows, False], *per_size[rows, True],
                                                           optimizer.step]])
    return {"forward": forward, "backward": backward, "adam": adam, "evaluation": evaluation,
            "total": forward + backward + adam + evaluation, "interleaved": interleaved + evaluation}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--train-images", type=int, default=None, help="the first N training images only (smoke runs)")
    parser.add_argument("--test-images", type=int, default=None, help="the first N test images only (smoke runs)")
    args = parser.parse_args()
    for name in ("epochs", "rounds", "train_images", "test_images"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, not {getattr(args, name)}")
    device = resolve_device(args.device)
    dataset = "fashion-mnist" if FASHION_MNIST_DEBIAN_DIR.exists() else "mnist"
    data = load_data(dataset, source="offline", validation=0)
    n, m = args.train_images, args.test_images
    data = dataclasses.replace(data, x_train=data.x_train[:n], y_train=data.y_train[:n], x_test=data.x_test[:m],
                               y_test=data.y_test[:m])
    print(f"device {device} ({platform.processor() or platform.machine()}), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {args.epochs} epochs x {args.rounds} rounds, 784-400-20 MLP VAE, "
          "Adam 1e-3, batch 128")
    results = {"recipe": [], "fit": [], "roofline": [], "interleaved": []}
    parts: list[dict] = []
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
            for _ in range(args.epochs):
                parts.append(roofline_epoch(model, len(data.x_train), len(data.x_test), device))
                results["roofline"].append(parts[-1]["total"])
                results["interleaved"].append(parts[-1]["interleaved"])
            print(f"round {r + 1}: recipe {statistics.median(results['recipe'][-args.epochs:]):.2f} s/epoch, "
                  f"fit {statistics.median(history.epoch_seconds):.2f} s/epoch, "
                  f"roofline {statistics.median(results['roofline'][-args.epochs:]):.2f} s/epoch")
        train = datasets.MNIST(str(root), train=True, download=False, transform=transforms.ToTensor())
        start = time.perf_counter()
        for _ in DataLoader(train, batch_size=128, shuffle=True):
            pass
        loader = time.perf_counter() - start
    recipe, ours, roof, inter = (statistics.median(results[k]) for k in ("recipe", "fit", "roofline", "interleaved"))
    loss_r, loss_f = statistics.mean(losses["recipe"]), statistics.mean(losses["fit"])
    print(f"\n{dataset}, {len(data.x_train):,} training images, {len(data.x_test):,} test images")
    print("roofline parts (median s/epoch): " + ", ".join(
        f"{k} {statistics.median(p[k] for p in parts):.2f}" for k in ("forward", "backward", "adam", "evaluation")))
    print(f"seconds per epoch (median): recipe {recipe:.2f}, fit {ours:.2f}, roofline {roof:.2f} "
          f"(the same products and Adam steps interleaved as in training: {inter:.2f})")
    print(f"the recipe's DataLoader alone: {loader:.2f} s/epoch")
    print(f"final test loss (nats/image, mean of {args.rounds}): recipe {loss_r:.2f}, fit {loss_f:.2f}, "
          f"difference {100 * abs(loss_f - loss_r) / loss_r:.2f}%")
    print(f"recipe / fit: {recipe / ours:.2f}x")
    print(f"fit / interleaved products: {ours / inter:.2f}x")
    print(f"fit / roofline: {ours / roof:.2f}x")


if __name__ == "__main__":
    main()
