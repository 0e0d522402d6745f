"""The noise floor of binarized images: the entropy of the coin flips themselves.

Notebooks 02-05 model binary images: each pixel of a grey image x is a coin flip with its grey
value p as the probability of a 1. No model can predict a coin flip better than its own odds, so
the expected negative log-likelihood of the binarized images, under any model, is at least the
entropy of the flips (notebook 05 sets its NLLs beside it):

    H(x) = sum over pixels of -p log p - (1 - p) log(1 - p)     (nats per image)

A pixel that is 0 or 1 is no coin flip (entropy 0); one at 0.5 costs log 2 nats. Notebook 04
computes the same number for grey pixels as the floor of a cross-entropy (the loss equals the
entropy when the reconstruction is the image itself).
"""

from __future__ import annotations

import torch


def bernoulli_entropy(p: torch.Tensor) -> torch.Tensor:
    """The entropy, in nats, of a coin flip with probability `p` of a 1, elementwise (0 at p = 0 or 1)."""
    p = torch.as_tensor(p)
    if not torch.is_floating_point(p):
        p = p.double()
    if p.numel() and (p.min() < 0 or p.max() > 1 or not torch.isfinite(p).all()):
        raise ValueError("p: probabilities must lie in [0, 1] (grey values of images in [0, 1])")
    return -(torch.special.xlogy(p, p) + torch.special.xlogy(1 - p, 1 - p))


def binarization_entropy(grey: torch.Tensor) -> torch.Tensor:
    """Per image, the entropy of its binarization (sum of `bernoulli_entropy` over pixels), shape (N,).

    `grey`: images (N, 1, 28, 28) or (N, 784) with values in [0, 1]. Its mean over the test images is
    the floor below which no model's expected NLL of the binarized test images can go.
    """
    if grey.dim() < 2:
        raise ValueError(f"grey: expected a batch of images (N, ...), got shape {tuple(grey.shape)}")
    return bernoulli_entropy(grey).flatten(1).sum(1)
