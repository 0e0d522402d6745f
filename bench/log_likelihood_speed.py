"""How long does the importance-sampled log p(x) take? (make bench)

`helpers.elbo.log_likelihood` with K = 1000 samples per image over 1,000 test images: one
million decoded images. Measured for notebook 02's 2-D VAE (784-512-2) and the 784-400-20 VAE.

    python bench/log_likelihood_speed.py [--k 1000] [--images 1000] [--device auto]
"""

import argparse
import time

import torch

from helpers.data import load_data
from helpers.elbo import log_likelihood
from helpers.models import VAE
from helpers.train import resolve_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    x = load_data("mnist", source="offline").x_test[: args.images].to(device)
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"K = {args.k} over {len(x)} images = {args.k * len(x):,} decoded images")
    for latent, hidden in ((2, 512), (20, 400)):
        torch.manual_seed(0)
        model = VAE(latent, hidden).to(device).eval()
        log_likelihood(model, x[:10], k=10)  # warm up
        start = time.perf_counter()
        ll = log_likelihood(model, x, k=args.k)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        print(f"VAE 784-{hidden}-{latent}: {seconds:.3g} s ({1e6 * seconds / (args.k * len(x)):.1f} µs per decoded "
              f"image), mean log p(x) of the untrained model {ll.mean():.1f} nats")


if __name__ == "__main__":
    main()
