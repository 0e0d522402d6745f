"""Smoke runs of the benchmarks in bench/: each script with 1 epoch (or 2 where the first is timed
apart), tiny data and 1 seed must end with its summary line, every number in it finite and positive."""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NUMBER = r"([-+0-9.eE]+|nan|inf)"

RUNS = {
    "train_speed": (["--epochs", "1", "--rounds", "1", "--train-images", "256", "--test-images", "200"],
                    rf"^fit / roofline: {NUMBER}x$"),
    "log_likelihood_speed": (["--k", "200", "--images", "50"],
                             rf"^VAE 784-400-20: {NUMBER} s \({NUMBER} µs per decoded image\), mean log p\(x\) of "
                             rf"the untrained model {NUMBER} nats$"),
    # a target every model reaches after one epoch, so that both protocols have a time to quality
    "time_to_quality": (["--seeds", "0", "--max-epochs", "1", "--train-images", "256", "--k", "5", "--n-eval", "20",
                         "--target", "1000"],
                        rf"^time to quality: {NUMBER} s \(baseline {NUMBER} s, {NUMBER} x\)$"),
    "parallel_fit": (["--rounds", "1", "--max-epochs", "1", "--train-images", "256"],
                     rf"^fit_each: {NUMBER} s \(one after another {NUMBER} s, {NUMBER} x\)$"),
    "epoch_levers": (["--epochs", "2", "--rounds", "1", "--train-images", "256", "--levers", "fused"],
                     rf"^best lever: fused {NUMBER} s/epoch \(today {NUMBER} s/epoch, {NUMBER} x\)$"),
}


def run_bench(script: str, arguments: list[str]) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VAE_DATA_SOURCE": "offline", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / f"{script}.py"), *arguments], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize("script", list(RUNS))
def test_bench_smoke_run_ends_with_its_summary_line(script):
    arguments, pattern = RUNS[script]
    lines = run_bench(script, arguments).strip().splitlines()
    match = re.match(pattern, lines[-1])
    assert match, f"the last line of bench/{script}.py is not its summary: {lines[-1]!r}"
    numbers = [float(g) for g in match.groups()]
    if script == "log_likelihood_speed":
        numbers = numbers[:2]  # the third is a log-likelihood: negative
    assert all(math.isfinite(n) and n > 0 for n in numbers), lines[-1]


@pytest.mark.parametrize("option, value, message", [("--batch-size", "0", "--batch-size must be at least 1, not 0"),
                                                    ("--ema", "1", "--ema must be at least 0 and below 1")])
def test_time_to_quality_refuses_a_bad_option(option, value, message):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "time_to_quality.py"), option, value],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and message in done.stderr
