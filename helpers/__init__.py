"""The small package behind the vae-notebooks series: what the notebooks import, and only that
(the tools that build the book are in `book/`, which is not shipped). One module per idea:

- `helpers.data`: MNIST / Fashion-MNIST in memory, the validation split, binarization and the
  fixed binarized evaluation images, the subset of the same size from every source, fast batches
  (notebook 01)
- `helpers.neighbours`: the nearest neighbour, in blocks of bounded memory (01, 05)
- `helpers.models`: `AutoEncoder` (01) and `VAE` (02), MLP or convolutional
- `helpers.elbo`: the KL, the ELBO and its terms, the bound L_K, log p(x) estimates (02, 03)
- `helpers.train`: `fit`: the training loop, KL warm-up, free bits, the divergence guard, the
  weights' moving average (01, 04)
- `helpers.parallel`: `fit_each`: several models at once, one per CPU core (04)
- `helpers.early_stopping`: early stopping and the learning-rate cuts on a plateau, behind `fit` (04)
- `helpers.random_state`: `set_seed` and forked, seeded random states (every notebook)
- `helpers.classifier`: the digit classifier that measures sample quality (04, 05)
- `helpers.cache`: the checkpoint cache behind `fit` (01)
- `helpers.plots`: image grids, reconstructions, latent spaces, manifolds, loss curves (01, 02)
- `helpers.widgets`: one module per widget: the latent explorer and the training panel (01, 02),
  the ELBO playground (03), the model browser (04), the conditional explorer (05)
- `helpers.claims`: a sentence of a notebook and the check that it is true (every notebook)
- `helpers.notebook`: parameter checks, setup, the reference run (its parameters cell's defaults,
  recorded by `make outputs`) (every notebook)
- `helpers.metrics`: `report` a notebook's key numbers and read them back (every notebook)
- `helpers.checks`, `helpers.paths`: argument checking and where files live (behind the others)
"""
