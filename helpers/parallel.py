"""Several models trained at once, one per CPU core: `fit_each`.

Used by notebook 04, which trains its seeds, its beta values and its latent sizes side by side.
A small model does not keep two CPU cores busy (about 1.2x the speed of one: most of a step
is work too small to share between threads), but two models trained in two processes of one
thread each do about 1.5x the work of one process (bench/parallel_fit.py: 1.48x). Each run is
`helpers.train.fit` with the same arguments, the same seed and the same initial weights, so the
model is the one `fit` gives with a worker's share of the threads. Whether that is the one it gives
with all of them depends on the CPU: on the AMD EPYC this project was measured on, an MLP's
arithmetic is the same with one thread as with two (bit for bit); on an Intel Xeon with AVX-512
it rounds differently, so the models agree to float rounding, as runs on two machines do.

On a GPU, with one model, or with ``processes=1``, the runs are simply one after another.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os

import torch

from helpers.checks import check_int
from helpers.data import ImageData
from helpers.train import FitSettings, History, fit, resolve_device

__all__ = ["fit_each"]


def fit_each(models: list[torch.nn.Module], data: ImageData, options: list[dict] | None = None,
             processes: int | None = None, **common) -> list[History]:
    """`fit(models[i], data, **common, **options[i])` for every i; returns their Histories in order.

    On the CPU the runs are spread over `processes` worker processes (default: as many as there
    are runs, at most one per core), each with an equal share of torch's threads; each model
    comes back with its trained weights, and what each run would have printed is printed here,
    run by run, in order. A callback cannot be sent to a worker: pass none (fit's own option)."""
    options = [{} for _ in models] if options is None else list(options)
    if len(options) != len(models):
        raise ValueError(f"options has {len(options)} entries for {len(models)} models; give one dict per model")
    runs = [{**common, **o} for o in options]
    if any(run.get("callback") is not None for run in runs):
        raise ValueError("callback is not valid in fit_each: a worker process cannot call back into this one; "
                         "train that model with fit(...)")
    for run in runs:                                 # bad settings raise here, before any worker starts
        FitSettings(**run).check_data(data)
    workers = _workers(len(models), processes, resolve_device(common.get("device", "auto")))
    if workers == 1:
        return [fit(model, data, **run) for model, run in zip(models, runs)]
    threads = max(1, torch.get_num_threads() // workers)
    context = multiprocessing.get_context("spawn")   # a fresh interpreter: safe in Jupyter, on every OS
    pool = context.Pool(workers, initializer=torch.set_num_threads, initargs=(threads,))
    try:
        pending = [pool.apply_async(_fit_in_worker, (model, data, run)) for model, run in zip(models, runs)]
        histories = []
        for model, result in zip(models, pending):
            state, history, printed = result.get()
            print(printed, end="")
            model.load_state_dict(state)
            model.eval()
            histories.append(History(**history))
        pool.close()
    except BaseException:             # an error or an interrupted kernel: stop the other runs at once
        pool.terminate()
        raise
    finally:
        pool.join()
    return histories


def _workers(n_runs: int, processes: int | None, device: torch.device) -> int:
    if processes is not None:
        processes = check_int("processes", processes, minimum=1)
    if device.type != "cpu" or n_runs < 2:
        return 1
    return min(n_runs, processes or os.cpu_count() or 1)


def _fit_in_worker(model: torch.nn.Module, data: ImageData, run: dict) -> tuple[dict, dict, str]:
    """In a worker process: fit without a progress bar; the weights, the History, what fit printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        history = fit(model, data, **{**run, "progress": False})
    return model.state_dict(), {**history.as_dict(), "from_cache": history.from_cache}, printed.getvalue()
