"""A sentence of a notebook and the check that it is true.

Every sentence in the series that states a number, a direction or a comparison is followed by a
cell that prints the evidence and checks the sentence:

    claim(kl[-1] > min(kl), "the KL term rises again after its lowest point")

What a failed check does depends on the run:

- in the **reference run** (the notebook's default parameters, the offline data, the CPU: the
  run whose outputs are committed and that the tests re-execute) a false sentence raises
  `ClaimError`, so the test suite fails and the text gets fixed;
- in **any other run** (full MNIST online, a GPU, other parameters) the numbers differ, and a
  sentence may not hold for them. Then the check prints a visible note saying which sentence
  does not hold on this run and why the run differs, and the notebook goes on.

The counts (`claims_checked`, `claims_held`, `reference_run`) go into the notebook's recorded
metrics. Which run is the reference is decided by `helpers.notebook.claims_for`.
"""

from __future__ import annotations


class ClaimError(AssertionError):
    """A sentence of the notebook is false in its reference run: the text must change."""


class Claims:
    """`claim(condition, sentence, evidence="")` checks one sentence; see the module docstring."""

    def __init__(self, reference_run: bool, differences: str = ""):
        self.reference_run = bool(reference_run)
        self.differences = differences
        self.checked = 0
        self.held = 0
        self.failed: list[str] = []

    def __call__(self, condition: object, sentence: str, evidence: str = "") -> None:
        """Check one sentence. Returns nothing, so that a claim ending a cell displays no value."""
        self.checked += 1
        because = f" ({evidence})" if evidence else ""
        if bool(condition):
            self.held += 1
            print(f"✓ {sentence}{because}")
            return
        self.failed.append(sentence)
        if self.reference_run:
            raise ClaimError(f"The notebook says “{sentence}”, but its reference run shows otherwise{because}. "
                             "The text is wrong for the numbers it stands beside: change the sentence or the "
                             "experiment.")
        print(f"⚠ On this run, “{sentence}” does not hold{because}. The text describes the reference run; "
              f"this one differs: {self.differences or 'other settings'}.")

    def metrics(self) -> dict:
        """The counts that go into the notebook's report."""
        return {"claims_checked": self.checked, "claims_held": self.held, "reference_run": self.reference_run}
