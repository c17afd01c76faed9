"""Time the chapters, the book build and the thread setting; write benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/run_benchmarks.py [--repeats 3] [--skip-book]

Every timing is a median over `repeats` runs. "Cold" means an empty result cache (a fresh
COMPANION_CACHE); "warm" means the cache the cold run filled.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
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
from companion.chapters.alignment_challenges import NAME as CAPSTONE  # noqa: E402
from companion.topics import CHAPTERS  # noqa: E402


def timed(command: list[str], env: dict) -> float:
    return timed_with_cpu(command, env)[0]


def timed_with_cpu(command: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, the command and all its worker processes)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def environment(cache: Path) -> dict:
    return {**os.environ, "COMPANION_CACHE": str(cache), "COMPANION_PROGRESS": "0"}


def chapter_times(repeats: int) -> tuple[dict[str, tuple[float, float, float]], float]:
    """Per chapter: median cold wall time, median cold CPU time, median warm wall time; and the capstone's
    median wall time reading every chapter's cached results.

    Each repeat starts from an empty cache and runs the chapters one after another in it: no chapter
    shares a cache entry with another, so each one's first run is cold."""
    samples = {topic: ([], [], []) for topic in sorted(CHAPTERS)}
    capstone = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as scratch:
            env = environment(Path(scratch) / "cache")
            for topic, (cold, cpu, warm) in samples.items():
                command = [sys.executable, "-m", "companion", "reproduce", topic, "--scale", "book",
                           "--out", scratch]
                wall, seconds = timed_with_cpu(command, env)
                cold.append(wall)
                cpu.append(seconds)
                warm.append(timed(command, env))
            capstone.append(timed([sys.executable, "-m", "companion", "reproduce", CAPSTONE, "--scale", "book",
                                   "--out", scratch], env))
    results = {topic: tuple(statistics.median(values) for values in lists) for topic, lists in samples.items()}
    return results, statistics.median(capstone)


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


def ensemble_thread_times(repeats: int, steps: int = 200) -> dict[int, float]:
    """Milliseconds per step of the hidden-progress chapter's batched network (10 seeds, n=50, width 100)."""
    from companion import hidden_progress as hp
    from companion.core import parity
    from companion.core.models import EnsembleMLP

    config = hp.config_for("book")
    generators = hp.replicate_generators(config)
    x = torch.randint(0, 2, (config.replicates, config.batch_size, config.n)).float() * 2 - 1
    y = x[..., :3].prod(-1)
    per_step = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        samples = []
        for _ in range(repeats):
            model = EnsembleMLP(config.replicates, config.n, config.width, init="sign", generators=generators)
            optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
            started = time.perf_counter()
            for _ in range(steps):
                optimizer.zero_grad()
                parity.margin_loss("hinge", model(x)[..., 0], y).sum().backward()
                optimizer.step()
            samples.append((time.perf_counter() - started) / steps * 1000)
        per_step[threads] = statistics.median(samples)
    return per_step


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
    parser.add_argument("--book-repeats", type=int, default=None, help="book builds to time (default: --repeats)")
    parser.add_argument("--skip-book", action="store_true", help="skip the (slow) book builds")
    args = parser.parse_args()
    book_repeats = args.book_repeats or args.repeats

    threads = thread_times(args.repeats)
    ensemble_threads = ensemble_thread_times(args.repeats)
    chapters, capstone = chapter_times(args.repeats)
    book = None if args.skip_book else book_times(book_repeats)

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
        "Wall time with both cores (a chapter's runs go to one process per core); CPU time is user + system",
        "time summed over the command and its worker processes.",
        "",
        "| topic | cold cache, wall (s) | cold cache, CPU (s) | warm cache, wall (s) |",
        "|---|---|---|---|",
        *[f"| {topic} | {cold:.1f} | {cpu:.1f} | {warm:.1f} |" for topic, (cold, cpu, warm) in chapters.items()],
        f"| all chapters | {sum(c[0] for c in chapters.values()):.1f} | {sum(c[1] for c in chapters.values()):.1f} "
        f"| {sum(c[2] for c in chapters.values()):.1f} |",
        "",
        f"The capstone (`{CAPSTONE}`) trains nothing of its own: it reads the nine chapters' reports. With "
        f"their results in the cache it takes {capstone:.1f} s; on an empty cache it costs what the chapters "
        "cost together.",
        "",
        f"## Book: `jupyter-book build . -W -n --keep-going` from a clean `_build` (median of {book_repeats})",
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
        "two-thread run. So each run trains with one thread (`companion.core.runtime.torch_threads(1)`), and a "
        "chapter's runs go to one process per core through joblib.",
        "",
        "## Threads: one SGD step of the hidden-progress batched network (10 seeds, n = 50, width 100, batch 32)",
        "",
        "| torch threads | ms per step |",
        "|---|---|",
        *[f"| {n} | {ms:.2f} |" for n, ms in ensemble_threads.items()],
        "",
        f"Two threads make this step {ensemble_threads[1] / ensemble_threads[2]:.2f}x as fast as one; two "
        f"one-thread processes side by side make {2 * 1000 / ensemble_threads[1]:.0f} steps/s against "
        f"{1000 / ensemble_threads[2]:.0f} for one two-thread process, so these runs also take one thread each.",
        "",
    ]
    (ROOT / "benchmarks" / "RESULTS.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
