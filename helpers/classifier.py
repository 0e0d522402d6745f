"""Training the classifier that judges generated images.

Notebooks 04 and 05 train a small classifier on the real training images, then let it label
decoded samples: how confidently it recognises them, and as which class. Each notebook builds
its own network (a small CNN in 04, an MLP in 05); `train_classifier` is the loop they share:
cross-entropy, plain Adam, shuffled batches from a seeded order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from helpers.checks import check_int, check_number, check_seed
from helpers.data import batches


def train_classifier(classifier: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, batch_size: int,
                     lr: float = 1e-3, seed: int = 0) -> nn.Module:
    """Train `classifier` (images -> logits of the classes) on images `x` and labels `y`, already on
    the classifier's device: `epochs` passes in shuffled batches, the batch order drawn from `seed`.
    Returns it in eval mode."""
    epochs = check_int("epochs", epochs, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    lr = check_number("lr", lr, 0.0, strict=True, hint="the learning rate, e.g. 1e-3")
    if len(x) != len(y):
        raise ValueError(f"x holds {len(x)} images and y {len(y)} labels; give one label per image")
    optimizer = torch.optim.Adam(classifier.parameters(), lr=lr)
    order = torch.Generator().manual_seed(check_seed("seed", seed))
    classifier.train()
    for _ in range(epochs):
        for idx in batches(x, batch_size, order):
            loss = F.cross_entropy(classifier(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return classifier.eval()
