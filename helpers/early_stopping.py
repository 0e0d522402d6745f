"""Early stopping and the learning-rate schedule: two rules that watch the validation loss.

Used by `helpers.train.fit` (its `patience`, `plateau` and `warmup_epochs` options); notebook 04
teaches the protocol (train / validation / test, the best epoch chosen on validation).

After each epoch, `EarlyStopping.step` is told the validation loss and the weights:

- the learning rate is divided by 3 when the loss has not improved for `plateau` epochs
  (torch's ReduceLROnPlateau, as often as it happens);
- the best epoch so far is remembered (its loss and a copy of its weights), and training stops
  once `patience` epochs have passed without a better one; `restore_best` then puts its weights
  back into the model.

"Improved" means fallen by more than a fraction of the best loss so far: for the learning-rate
cuts, ReduceLROnPlateau's own threshold (0.01%); for early stopping, `min_improvement`, by
default the same `IMPROVEMENT`, so a loss creeping down by a hair does not keep training alive.
The validation loss of an average of the weights (fit's `ema`) is smooth and creeps down for a
long time; with it notebook 04 stops at 0.1% (`min_improvement=1e-3`). Epochs of a KL warm-up are neither
chosen nor counted (their loss is at another beta), and they cut no learning rate.
"""

from __future__ import annotations

import math

import torch

IMPROVEMENT = 1e-4  # a validation loss improves when it falls by more than this fraction (as in ReduceLROnPlateau)
LR_FACTOR = 1 / 3   # what a plateau multiplies the learning rate by


class EarlyStopping:
    """Watches the validation loss: cuts the learning rate on a plateau, keeps the best epoch, says when to stop."""

    def __init__(self, optimizer: torch.optim.Optimizer, patience: int | None = None, plateau: int | None = None,
                 warmup_epochs: int = 0, min_improvement: float = IMPROVEMENT):
        self.patience, self.warmup_epochs, self.min_improvement = patience, warmup_epochs, min_improvement
        # torch's patience counts the epochs it tolerates: it cuts after patience + 1 epochs without improvement
        self.scheduler = (torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=LR_FACTOR, patience=plateau - 1)
                          if plateau is not None else None)
        self.best_loss, self.best_epoch, self.best_state = math.inf, 0, None

    def step(self, epoch: int, loss: float, state: dict[str, torch.Tensor]) -> bool:
        """After epoch `epoch` (counted from 0) with validation loss `loss` and weights `state`: True to stop."""
        if epoch < self.warmup_epochs:
            return False
        if self.scheduler is not None:
            self.scheduler.step(loss)
        if self.patience is None:
            return False
        if not math.isfinite(self.best_loss) or loss < self.best_loss - self.min_improvement * abs(self.best_loss):
            self.best_loss, self.best_epoch, self.best_state = loss, epoch + 1, state
            return False
        return epoch + 1 - self.best_epoch >= self.patience

    def restore_best(self, model: torch.nn.Module) -> bool:
        """Load the best epoch's weights into `model` when early stopping chose one; True if it did."""
        if self.patience is None or self.best_state is None:
            return False
        model.load_state_dict(self.best_state)
        return True
