"""The small package behind the vae-notebooks series. One module per idea:

- `helpers.data`: MNIST / Fashion-MNIST in memory, binarization, fast batches (notebook 01)
- `helpers.models`: `AutoEncoder` (01) and `VAE` (02), MLP or convolutional
- `helpers.elbo`: the KL, the ELBO and its terms, the bound L_K, log p(x) estimates (02, 03)
- `helpers.train`: `fit`, with a progress bar, history, NaN guard and checkpoint cache (01)
- `helpers.plots`: image grids, reconstructions, latent spaces, manifolds, loss curves (01, 02)
- `helpers.widgets`: the latent explorer and the training panel (01, 02)
- `helpers.metrics`: `report` a notebook's key numbers and read them back (every notebook)
"""
