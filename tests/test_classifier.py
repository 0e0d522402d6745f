import pytest
import torch
from torch import nn

from helpers.classifier import train_classifier


def mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))


def accuracy(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def test_the_classifier_learns_the_digits_and_is_repeatable(small):
    before = accuracy(mlp(), small.x_test, small.y_test)
    model = train_classifier(mlp(), small.x_train, small.y_train, epochs=3, batch_size=64, seed=0)
    assert not model.training and accuracy(model, small.x_test, small.y_test) > max(0.6, before + 0.4)
    again = train_classifier(mlp(), small.x_train, small.y_train, epochs=3, batch_size=64, seed=0)
    other = train_classifier(mlp(), small.x_train, small.y_train, epochs=3, batch_size=64, seed=1)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(model.parameters(), other.parameters()))  # another batch order


@pytest.mark.parametrize("kwargs, message", [({"epochs": 0}, r"epochs=0.*>= 1"), ({"batch_size": 0}, r"batch_size=0"),
                                             ({"lr": 0}, r"lr=0.*> 0"), ({"seed": -1}, r"seed=-1")])
def test_bad_arguments_name_the_parameter(kwargs, message, small):
    model = mlp()
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=message):
        train_classifier(model, small.x_train, small.y_train, **{"epochs": 1, "batch_size": 64, **kwargs})
    with pytest.raises(ValueError, match="one label per image"):
        train_classifier(model, small.x_train, small.y_train[:-1], epochs=1, batch_size=64)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), before))
