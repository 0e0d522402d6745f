"""The nearest neighbour of each point in a reference set, in blocks of bounded size.

Used by notebook 01 (the label of the nearest training image; a test code's nearest neighbour;
the fraction of samples that fall in the holes between the codes) and notebook 05 (how often a
code's nearest neighbour is of the same class).

`torch.cdist(x, y).min(1)` holds the whole len(x) x len(y) distance matrix: on full MNIST,
10,000 test images against 54,000 training images, 2.2 GB. `nearest_neighbour` computes the same
thing block by block, keeping a running minimum, so its memory is set by the block size
(`block` x `block` distances at a time, 64 MiB at the default), not by the sizes of the sets.
Up to `block` points on each side it is a single `torch.cdist`: the same numbers exactly.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from helpers.checks import check_int

BLOCK = 4096  # points per block on each side: 4096 x 4096 float32 distances, 64 MiB


class Nearest(NamedTuple):
    """For each query: the Euclidean distance to its nearest reference point, and that point's index."""

    distances: torch.Tensor
    indices: torch.Tensor


@torch.no_grad()
def nearest_neighbour(x: torch.Tensor, reference: torch.Tensor, exclude_self: bool = False,
                      block: int = BLOCK) -> Nearest:
    """The nearest row of `reference` to each row of `x` (Euclidean distance, rows flattened).

    The same as ``torch.cdist(x, reference).min(1)`` (ties go to the first index), computed in
    blocks of at most `block` x `block` distances. `exclude_self=True` means x is `reference`
    itself: row i is not its own neighbour (the diagonal of the distance matrix is skipped).
    """
    check_int("block", block, minimum=1)
    x, reference = x.flatten(1), reference.flatten(1).to(x.device)
    if x.shape[1] != reference.shape[1]:
        raise ValueError(f"x has {x.shape[1]} numbers per point and reference {reference.shape[1]}; "
                         "they must have the same")
    if exclude_self and len(x) != len(reference):
        raise ValueError(f"exclude_self=True needs x to be the reference set itself; x has {len(x)} points, "
                         f"reference {len(reference)}")
    if len(reference) < 1 + exclude_self:
        raise ValueError(f"reference has {len(reference)} points; it needs at least {1 + exclude_self}")
    distances = torch.full((len(x),), float("inf"), dtype=x.dtype, device=x.device)
    indices = torch.zeros(len(x), dtype=torch.long, device=x.device)
    for i in range(0, len(x), block):
        rows = slice(i, i + block)
        for j in range(0, len(reference), block):
            d = torch.cdist(x[rows], reference[j:j + block])
            if exclude_self:
                own = torch.arange(i, i + len(d), device=x.device) - j   # column of row i's own point
                inside = (own >= 0) & (own < d.shape[1])
                d[inside.nonzero()[:, 0], own[inside]] = float("inf")
            best, where = d.min(1)
            better = best < distances[rows]                               # strictly: ties keep the first index
            distances[rows] = torch.where(better, best, distances[rows])
            indices[rows] = torch.where(better, where + j, indices[rows])
    return Nearest(distances, indices)
