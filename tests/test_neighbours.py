"""helpers.neighbours: the nearest neighbour in blocks, against torch.cdist, and its memory bound."""

import pytest
import torch

from helpers.neighbours import BLOCK, Nearest, nearest_neighbour


def full(x, reference, exclude_self=False):
    """The reference computation: the whole distance matrix."""
    d = torch.cdist(x.flatten(1), reference.flatten(1))
    if exclude_self:
        d.fill_diagonal_(float("inf"))
    best = d.min(1)
    return Nearest(best.values, best.indices)


@pytest.mark.parametrize("block", [1, 3, 7, 50, BLOCK])
@pytest.mark.parametrize("exclude_self", [False, True])
def test_matches_torch_cdist_for_any_block_size(block, exclude_self):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(37, 5, generator=g, dtype=torch.float64)
    reference = x if exclude_self else torch.randn(23, 5, generator=g, dtype=torch.float64)
    got = nearest_neighbour(x, reference, exclude_self=exclude_self, block=block)
    want = full(x, reference, exclude_self)
    assert torch.equal(got.indices, want.indices)
    assert torch.allclose(got.distances, want.distances, rtol=1e-12, atol=1e-12)
    if exclude_self:
        assert (got.indices != torch.arange(len(x))).all() and (got.distances > 0).all()


def test_one_block_is_torch_cdist_exactly(mnist):
    """Up to BLOCK points a side it is one torch.cdist: notebook 01's numbers on the offline data do not move."""
    x, reference = mnist.x_test[:300], mnist.x_train
    got, want = nearest_neighbour(x, reference), full(x, reference)
    assert torch.equal(got.indices, want.indices) and torch.equal(got.distances, want.distances)
    codes = torch.randn(1000, 2, generator=torch.Generator().manual_seed(1))
    got, want = nearest_neighbour(codes, codes, exclude_self=True), full(codes, codes, exclude_self=True)
    assert torch.equal(got.indices, want.indices) and torch.equal(got.distances, want.distances)


def test_images_in_blocks_find_the_same_training_image(mnist):
    """Real digits, blocks smaller than both sets: the 1-NN labels of notebook 01 are the same."""
    x, reference = mnist.x_test[::10].double(), mnist.x_train.double()
    got = nearest_neighbour(x, reference, block=256)
    assert torch.equal(got.indices, full(x, reference).indices)
    assert (mnist.y_train[got.indices] == mnist.y_test[::10]).float().mean() > 0.85  # a 1-NN classifier works


def test_ties_go_to_the_first_index_as_in_argmin():
    reference = torch.tensor([[1.0], [0.0], [5.0], [0.0], [1.0]])
    x = torch.tensor([[0.0], [3.0], [0.5], [4.0]])
    for block in (1, 2, 5):
        got = nearest_neighbour(x, reference, block=block)
        assert got.indices.tolist() == torch.cdist(x, reference).argmin(1).tolist() == [1, 0, 0, 2]


def test_memory_is_set_by_the_block_not_by_the_sets(monkeypatch):
    """Every distance matrix it builds is at most block x block, while the full one is N x M."""
    shapes = []
    cdist = torch.cdist

    def spy(a, b, *args, **kwargs):
        shapes.append((len(a), len(b)))
        return cdist(a, b, *args, **kwargs)

    monkeypatch.setattr(torch, "cdist", spy)
    g = torch.Generator().manual_seed(0)
    x, reference = torch.rand(1000, 16, generator=g), torch.rand(3000, 16, generator=g)
    got = nearest_neighbour(x, reference, block=128)
    assert max(a * b for a, b in shapes) <= 128 * 128 < len(x) * len(reference) / 100
    assert sum(a * b for a, b in shapes) == len(x) * len(reference)  # every pair, once
    monkeypatch.setattr(torch, "cdist", cdist)
    assert torch.equal(got.indices, full(x.double(), reference.double()).indices)


def test_bad_input_is_named():
    x = torch.zeros(4, 3)
    with pytest.raises(ValueError, match=r"block=0 is not valid; block must be an integer >= 1"):
        nearest_neighbour(x, x, block=0)
    with pytest.raises(ValueError, match=r"x has 3 numbers per point and reference 2"):
        nearest_neighbour(x, torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"exclude_self=True needs x to be the reference set itself"):
        nearest_neighbour(x, torch.zeros(5, 3), exclude_self=True)
    with pytest.raises(ValueError, match=r"reference has 1 points; it needs at least 2"):
        nearest_neighbour(x[:1], x[:1], exclude_self=True)
