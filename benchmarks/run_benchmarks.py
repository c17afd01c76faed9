"""Time the chapters, the book build and the thread setting; write benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/run_benchmarks.py [--repeats 3] [--skip-book]

Every timing is a median over `repeats` runs. "Cold" means an empty result cache (a fresh
COMPANION_CACHE); "warm" means the cache the cold run filled.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from companion import induction_heads as ih  # noqa: E402
from companion.topics import TOPICS  # noqa: E402


def timed(command: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - started


def environment(cache: Path) -> dict:
    return {**os.environ, "COMPANION_CACHE": str(cache), "COMPANION_PROGRESS": "0"}


def chapter_times(repeats: int) -> dict[str, tuple[float, float]]:
    results = {}
    for topic in sorted(TOPICS):
        cold, warm = [], []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as scratch:
                env = environment(Path(scratch) / "cache")
                command = [sys.executable, "-m", "companion", "reproduce", topic, "--scale", "book",
                           "--out", scratch]
                cold.append(timed(command, env))
                warm.append(timed(command, env))
        results[topic] = (statistics.median(cold), statistics.median(warm))
    return results


def book_times(repeats: int) -> tuple[float, float]:
    jupyter_book = str(Path(sys.executable).parent / "jupyter-book")
    cold, warm = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as scratch:
            env = environment(Path(scratch) / "cache")
            command = [jupyter_book, "build", str(ROOT), "--path-output", scratch, "-W", "-n", "--keep-going"]
            cold.append(timed(command, env))
            shutil.rmtree(Path(scratch) / "_build")  # a clean _build, but the result cache kept
            warm.append(timed(command, env))
    return statistics.median(cold), statistics.median(warm)


def thread_times(repeats: int, steps: int = 40) -> dict[int, float]:
    """Milliseconds per training step of the chapter's model, by number of torch threads."""
    config = ih.config_for("book")
    tokens = ih.sample_batch(config, config.batch_size, torch.Generator().manual_seed(0))[0]
    per_step = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        samples = []
        for _ in range(repeats):
            model = ih.build_model(config)
            optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
            started = time.perf_counter()
            for _ in range(steps):
                optimizer.zero_grad()
                ih.next_token_loss(model, tokens).backward()
                optimizer.step()
            samples.append((time.perf_counter() - started) / steps * 1000)
        per_step[threads] = statistics.median(samples)
    return per_step


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 2**20:.0f} GiB memory"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{cpu}, {os.cpu_count()} cores{memory}; {platform.system()}, Python {platform.python_version()}, "
            f"torch {torch.__version__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-book", action="store_true", help="skip the (slow) book builds")
    args = parser.parse_args()

    threads = thread_times(args.repeats)
    chapters = chapter_times(args.repeats)
    book = None if args.skip_book else book_times(args.repeats)

    lines = [
        "# Benchmarks",
        "",
        f"Written by `benchmarks/run_benchmarks.py` on {time.strftime('%Y-%m-%d')}; every number is the median "
        f"of {args.repeats} runs.",
        "",
        f"Machine: {machine()}.",
        "",
        "## Chapters: `python -m companion reproduce TOPIC --scale book`",
        "",
        "| topic | cold cache (s) | warm cache (s) |",
        "|---|---|---|",
        *[f"| {topic} | {cold:.1f} | {warm:.1f} |" for topic, (cold, warm) in chapters.items()],
        "",
        "## Book: `jupyter-book build . -W -n --keep-going` from a clean `_build`",
        "",
    ]
    if book:
        lines += ["| result cache | wall time (s) |", "|---|---|",
                  f"| cold (empty) | {book[0]:.1f} |", f"| warm (filled by the cold build) | {book[1]:.1f} |"]
    else:
        lines += ["Not measured in this run (`--skip-book`)."]
    lines += [
        "",
        "## Threads: one training step of the induction-heads model (batch 64, T = 100, width 16)",
        "",
        "| torch threads | ms per step |",
        "|---|---|",
        *[f"| {n} | {ms:.1f} |" for n, ms in threads.items()],
        "",
        f"Two threads make one run {threads[1] / threads[2]:.2f}x as fast, but two one-thread runs side by side "
        f"(one per core) train {2 * 1000 / threads[1]:.0f} steps/s against {1000 / threads[2]:.0f} steps/s for one "
        "two-thread run. So each run trains with one thread (`companion.runtime.torch_threads(1)`), and a "
        "chapter's runs go to one process per core through joblib.",
        "",
    ]
    (ROOT / "benchmarks" / "RESULTS.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
