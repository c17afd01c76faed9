"""Time the chapters, the book build and the thread setting; write benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/run_benchmarks.py [--repeats 3]
        [--only chapters,book,threads,steps,attention-kernels,icl-mc] [--topics increasing-complexity,...]
        [--icl-mc PATH/TO/Evolution-of-Statistical-Induction-Heads]

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
from companion.core import runtime  # noqa: E402
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


def chapter_times(repeats: int, topics: list[str]) -> tuple[dict[str, tuple[float, float, float]], float | None]:
    """Per chapter in `topics`: median cold wall time, median cold CPU time, median warm wall time; and,
    when `topics` are all the chapters, the capstone's median wall time reading their cached results
    (None otherwise).

    Each repeat starts from an empty cache and runs the chapters one after another in it: no chapter
    shares a cache entry with another, so each one's first run is cold."""
    samples = {topic: ([], [], []) for topic in sorted(topics)}
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
            if set(topics) == set(CHAPTERS):
                capstone.append(timed([sys.executable, "-m", "companion", "reproduce", CAPSTONE, "--scale",
                                       "book", "--out", scratch], env))
    results = {topic: tuple(statistics.median(values) for values in lists) for topic, lists in samples.items()}
    return results, statistics.median(capstone) if capstone else None


CHAPTERS_HEADING = "Chapters: `python -m companion reproduce TOPIC --scale book`"


def chapters_section(old_results: str, measured: dict[str, tuple[float, float, float]], capstone: float | None,
                     repeats: int, today: str) -> list[str]:
    """The chapters table with the rows of `measured` replaced (each row says when and where it was
    measured) and the other rows kept as RESULTS.md has them, as are the paragraphs written under the
    table by hand (a chapter's row explained, say)."""
    rows, capstone_line, notes = {}, None, []
    if "\n## " + CHAPTERS_HEADING in old_results:
        old = old_results.split("\n## " + CHAPTERS_HEADING, 1)[1].split("\n## ", 1)[0]
        default = old.split("Measured ", 1)[1].split(", median of", 1)[0] if "Measured " in old else "unknown"
        for line in old.splitlines():
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if line.startswith("| ") and cells[0] in CHAPTERS and len(cells) >= 4:
                rows[cells[0]] = (*cells[1:4], cells[4] if len(cells) > 4 else default.split(";")[0])
            if line.startswith("The capstone"):
                capstone_line = line
            elif line and not line.startswith(("|", "Wall time", "Measured ")):
                notes.append(line)
    for topic, (cold, cpu, warm) in measured.items():
        rows[topic] = (f"{cold:.1f}", f"{cpu:.1f}", f"{warm:.1f}", f"{today.split(';')[0]}, median of {repeats}")
    if capstone is not None or capstone_line is None:
        capstone_line = (
            f"The capstone (`{CAPSTONE}`) trains nothing of its own: it reads the nine chapters' reports. With "
            f"their results in the cache it takes {capstone or 0:.1f} s; on an empty cache it costs what the "
            "chapters cost together.")
    ordered = {topic: rows[topic] for topic in sorted(rows)}
    total = [sum(float(row[i]) for row in ordered.values()) for i in range(3)]
    return [
        "Wall time with both cores (a chapter's runs go to one process per core); CPU time is user + system time "
        "summed over the command and its worker processes; each row says when and on which machine it was "
        "measured (`--topics` re-measures some rows and keeps the others).", "",
        "| topic | cold cache, wall (s) | cold cache, CPU (s) | warm cache, wall (s) | measured |",
        "|---|---|---|---|---|",
        *[f"| {topic} | {' | '.join(row)} |" for topic, row in ordered.items()],
        f"| all chapters | {total[0]:.1f} | {total[1]:.1f} | {total[2]:.1f} | |", "",
        *[line for note in notes for line in (note, "")], capstone_line]


def book_times(repeats: int) -> dict[str, tuple[float, float]]:
    """Median wall seconds and median CPU seconds of the book build from a clean `_build`: cold (an empty
    result cache) with the notebooks executed one at a time by myst-nb (``COMPANION_SERIAL_BUILD=1``,
    the build before book/_ext/parallel_execution.py) and side by side (the book as configured),
    alternating which goes first; and warm (the parallel build again, on the result cache its cold build
    filled). The CPU time says how much of the two cores a build leaves idle: no schedule finishes that
    work in less than CPU time / cores."""
    jupyter_book = str(Path(sys.executable).parent / "jupyter-book")
    samples = {"serial, cold": [], "parallel, cold": [], "parallel, warm": []}
    for repeat in range(repeats):
        order = ("serial", "parallel") if repeat % 2 == 0 else ("parallel", "serial")
        for mode in order:
            with tempfile.TemporaryDirectory() as scratch:
                env = {**environment(Path(scratch) / "cache"), "COMPANION_SERIAL_BUILD": str(int(mode == "serial"))}
                command = [jupyter_book, "build", str(ROOT), "--path-output", scratch, "-W", "-n", "--keep-going"]
                samples[f"{mode}, cold"].append(timed_with_cpu(command, env))
                if mode == "parallel":
                    shutil.rmtree(Path(scratch) / "_build")  # a clean _build, but the result cache kept
                    samples["parallel, warm"].append(timed_with_cpu(command, env))
    return {label: (statistics.median(wall for wall, _ in values), statistics.median(cpu for _, cpu in values))
            for label, values in samples.items()}


def page_sizes() -> tuple[dict[str, int], int]:
    """Bytes of each chapter page and of the whole built site, from one build on the developer's result
    cache (the sizes do not depend on whether results were cached)."""
    jupyter_book = str(Path(sys.executable).parent / "jupyter-book")
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run([jupyter_book, "build", str(ROOT), "--path-output", scratch, "-W", "-n", "--keep-going"],
                       check=True, capture_output=True, env={**os.environ, "COMPANION_PROGRESS": "0"})
        html = Path(scratch) / "_build" / "html"
        pages = {path.stem: path.stat().st_size for path in sorted((html / "book").glob("*.html"))
                 if path.stem in CHAPTERS or path.stem == CAPSTONE}
        return pages, sum(path.stat().st_size for path in html.rglob("*") if path.is_file())


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


def pareto_step_times(repeats: int, steps: int = 200) -> dict[int, tuple[float, float]]:
    """Milliseconds per SGD step of the Pareto chapter's batched network (16 seeds, n = 30, batch 32),
    by width: autograd with torch.optim.SGD against the chapter's written-out `hinge_sgd_step`."""
    from companion.chapters.pareto_frontiers import experiment as pf
    from companion.core import parity

    torch.set_num_threads(1)
    times = {}
    for width in (10, 100, 1000):
        config = pf.Config(width=width, init="sparse", replicates=16)
        data = pf.make_data(config)
        x, y = data["train_x"][:, :config.batch_size], data["train_y"][:, :config.batch_size]
        model = pf.build_model(config)
        optimizer = torch.optim.SGD(model.parameters(), lr=config.lr * width, weight_decay=config.weight_decay / width)

        def autograd_step():
            optimizer.zero_grad()
            parity.margin_loss("hinge", model(x)[..., 0], y).sum().backward()
            optimizer.step()

        def written_out_step():
            pf.hinge_sgd_step(model, x, y, config.lr * width, config.weight_decay / width)

        times[width] = tuple(_median_ms(step, steps, repeats) for step in (autograd_step, written_out_step))
    return times


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


def _ms_per_step(model: torch.nn.Module, inputs: torch.Tensor, loss, steps: int, repeats: int) -> float:
    """Median over `repeats` of the mean milliseconds of one AdamW step, after two warm-up steps."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step():
        optimizer.zero_grad()
        loss(model, inputs).backward()
        optimizer.step()

    return _median_ms(step, steps, repeats)


def _median_ms(step, steps: int, repeats: int) -> float:
    """Median over `repeats` of the mean milliseconds of `step()`, after two warm-up calls."""
    step(), step()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(steps):
            step()
        samples.append((time.perf_counter() - started) / steps * 1000)
    return statistics.median(samples)


def transformer_models() -> dict[str, tuple[torch.nn.Module, int, int, int]]:
    """{chapter model: (model, vocabulary, context length, batch size)} at book scale, for every chapter
    that trains a transformer."""
    from companion.chapters import watermark_sand as ws
    from companion.chapters.knowable_unknowable import experiment as ku

    models = {}
    config = ih.config_for("book")
    models["induction-heads"] = (ih.build_model(config), config.k, config.seq_len - 1, config.batch_size)
    config = ws.config_for("book").generator
    models["watermark-sand language model"] = (ws.build_language_model(config), config.vocab_size,
                                               config.context, config.batch)
    config = ku.config_for("book")
    world = ku.build_world(ku.world_config(config))
    for shape in ("small", "large"):
        model_config = ku.model_config(config, shape)
        models[f"knowable-unknowable {shape} model"] = (ku.build_model(model_config, world), world.vocab_size,
                                                        4 * model_config.world.sentences, config.batch_size)
    return models


def step_table(repeats: int, steps: int = 10) -> list[str]:
    """Milliseconds per training step against the batch (transformers) and against the number of
    replicas trained as one batched network (the MLP chapters), one thread."""
    from companion import hidden_progress as hp
    from companion.core import parity
    from companion.core.models import EnsembleMLP

    torch.set_num_threads(1)
    lines = ["| model | batch | ms per step | ms per sequence |", "|---|---|---|---|"]
    per_sequence, per_replicas = {}, {}
    for name, (model, vocab, length, batch) in transformer_models().items():
        def next_token(model, tokens):
            logits = model(tokens[:, :-1])[0]
            return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))

        for size in (batch // 2, batch, 2 * batch, 4 * batch):
            tokens = torch.randint(vocab, (size, length + 1))
            ms = _ms_per_step(model, tokens, next_token, steps, repeats)
            lines.append(f"| {name} | {size} | {ms:.1f} | {ms / size:.3f} |")
            per_sequence.setdefault(name, []).append(ms / size)
    config = hp.config_for("book")
    lines += ["", "| model | replicas | ms per step | ms per replica |", "|---|---|---|---|"]
    for replicas in (1, 4, 16, 64):
        x = torch.randint(0, 2, (replicas, config.batch_size, config.n)).float() * 2 - 1
        y = x[..., :3].prod(-1)
        model = EnsembleMLP(replicas, config.n, config.width, init="sign",
                            generators=[torch.Generator().manual_seed(i) for i in range(replicas)])
        ms = _ms_per_step(model, x, lambda m, x: parity.margin_loss("hinge", m(x)[..., 0], y).sum(), 20 * steps,
                          repeats)
        lines.append(f"| hidden-progress MLP (n = {config.n}, width {config.width}, batch {config.batch_size}) "
                     f"| {replicas} | {ms:.2f} | {ms / replicas:.3f} |")
        per_replicas[replicas] = ms
    spread = max(max(costs) / min(costs) for costs in per_sequence.values())
    summary = (f"A transformer's step costs about the same per sequence at every batch (the most and the least "
               f"differ by at most {100 * (spread - 1):.0f}% for any model): these steps are compute-bound, and "
               f"only faster kernels help them. The batched MLP's step for 16 replicas costs "
               f"{per_replicas[16] / per_replicas[1]:.1f}x one replica's, and for 64 replicas "
               f"{per_replicas[64] / per_replicas[1]:.1f}x: it is overhead-bound, so seeds trained as replicas of "
               "one network come nearly free.")
    return [summary, "", *lines]


def _fused_attention_forward(self, x: torch.Tensor):
    """`SelfAttention.forward` through `F.scaled_dot_product_attention`, the position bias (and the causal
    mask) passed as its mask; the weights are not returned, as a training step does not need them."""
    import math

    from torch.nn import functional as F

    B, T, D = x.shape
    H = self.n_heads
    q, k, v = self.qkv(x).view(B, T, 3, H, D // H).permute(2, 0, 3, 1, 4)
    if self.relative_vectors is not None:
        mask = self.vector_scores(q * (1 / math.sqrt(D // H))) + self.position_bias(T)
        mixed = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    elif self.relative_bias is None:
        mixed = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
    else:
        mixed = F.scaled_dot_product_attention(q, k, v, attn_mask=self.position_bias(T))
    return self.out(mixed.transpose(1, 2).reshape(B, T, D)), None


def attention_kernel_table(repeats: int, steps: int = 20) -> list[str]:
    """Milliseconds per AdamW step of each chapter's attention model at book scale, one thread: attention
    as the chapters write it, through `scaled_dot_product_attention`, and the model under `torch.compile`
    (its first step, which compiles, timed on its own)."""
    from companion.chapters.transcendence import policy as chess_policy
    from companion.core import models

    torch.set_num_threads(1)
    cases = {}
    for name, (model, vocab, length, batch) in transformer_models().items():
        tokens = torch.randint(vocab, (batch, length + 1))
        cases[name] = (model, (tokens,), lambda m, t: torch.nn.functional.cross_entropy(
            m(t[:, :-1])[0].flatten(0, 1), t[:, 1:].flatten()))
    config = chess_policy.config_for("book")
    generator = torch.Generator().manual_seed(0)
    legal = torch.randint(4096, (config.batch, 40), generator=generator)
    legal[:, 35:] = -1  # a position has about 35 legal moves
    boards = torch.randint(13, (config.batch, 64), generator=generator)
    cases["transcendence board model"] = (chess_policy.build_policy(chess_policy.policy_config(config)),
                                          (boards, legal[:, 0].clone(), legal), chess_policy._board_loss)
    as_written = models.SelfAttention.forward
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp()  # each compile from scratch, as a reader's first
    lines = ["| model | as written, ms per step | scaled_dot_product_attention | torch.compile | compiling (s) |",
             "|---|---|---|---|---|"]
    for name, (model, inputs, loss) in cases.items():
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

        def step(loss=loss):
            optimizer.zero_grad()
            loss(model, *inputs).backward()
            optimizer.step()

        written = _median_ms(step, steps, repeats)
        models.SelfAttention.forward = _fused_attention_forward
        try:
            fused = _median_ms(step, steps, repeats)
        finally:
            models.SelfAttention.forward = as_written
        compiled = torch.compile(loss)  # the loss, not the module: the board model's loss calls no forward
        started = time.perf_counter()
        step(compiled)
        compiling = time.perf_counter() - started
        compiled_ms = _median_ms(lambda: step(compiled), steps, repeats)
        lines.append(f"| {name} | {written:.1f} | {fused:.1f} | {compiled_ms:.1f} | {compiling:.1f} |")
    return lines


OFFICIAL_RUN = """
import sys, torch
torch.set_num_threads(1)
import training_pipeline as pipeline
config = pipeline.get_default_config()
config.max_iters, config.num_workers = int(sys.argv[1]), 0  # one process, one thread, like ours
pipeline.train(config)
"""
OURS_RUN = """
import sys, torch
torch.set_num_threads(1)
from companion.chapters.induction_heads import experiment as ih
ih.run(ih.config_for("book", k=2, steps=int(sys.argv[1])), use_cache=False)
"""


# the pipelines measured, with the environment each runs under: the official code and ours as they are,
# then each with the other's choice of where large tensors come from (companion.core.runtime)
GLIBC_KEEPING_FREED_MEMORY = (f"glibc.malloc.mmap_threshold={runtime.LARGEST_MMAP_THRESHOLD}:"
                              f"glibc.malloc.trim_threshold={runtime.KEPT_FREE_HEAP_TOP}")
ICL_MC_PIPELINES = {
    "official": ("official ICL-MC", {}),
    "ours": ("companion", {}),
    "official, memory kept": ("official ICL-MC, glibc keeping freed memory as companion has it",
                              {"GLIBC_TUNABLES": GLIBC_KEEPING_FREED_MEMORY}),
    "ours, glibc defaults": ("companion, glibc's defaults", {runtime.KEEP_FREED_MEMORY_VARIABLE: "0"}),
}


def icl_mc_side_by_side(official: Path, repeats: int, lengths: tuple[int, int] = (200, 800)
                        ) -> dict[tuple[str, int], list[float]]:
    """Wall seconds of whole processes training the ICL-MC default config (k = 2, T = 100, two layers,
    width 16, batch 64), keyed by (pipeline, steps): the official code (its own data pipeline, no loader
    workers) and ours (the chapter's book settings, evaluations included), alternating, one thread each;
    each also with the other's malloc settings (`ICL_MC_PIPELINES`).

    Two lengths, so that the difference prices a step without the fixed costs (imports, our test set
    and evaluations, which are log-spaced and so about as many at either length)."""
    times = {(who, steps): [] for who in ICL_MC_PIPELINES for steps in lengths}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COMPANION_PROGRESS": "0"}
    for _ in range(repeats):
        for steps in lengths:
            for who, (_, extra) in ICL_MC_PIPELINES.items():
                command, folder = (OFFICIAL_RUN, official) if who.startswith("official") else (OURS_RUN, ROOT)
                started = time.perf_counter()
                subprocess.run([sys.executable, "-c", command, str(steps)], cwd=folder, env={**env, **extra},
                               check=True, capture_output=True)
                times[who, steps].append(time.perf_counter() - started)
    return times


def icl_mc_section(times: dict[tuple[str, int], list[float]], today: str) -> list[str]:
    (short, long) = sorted({steps for _, steps in times})
    pipelines = [who for who in ICL_MC_PIPELINES if (who, long) in times]
    median = {key: statistics.median(values) for key, values in times.items()}
    per_step = {who: 1000 * (median[who, long] - median[who, short]) / (long - short) for who in pipelines}
    whole = statistics.median(o / u for o, u in zip(times["official", long], times["ours", long]))
    repeats = len(times["ours", long])
    lines = [
        f"Measured {today}: {repeats} alternating rounds of whole processes, each training the ICL-MC default "
        f"configuration (k = 2, T = 100, two layers, width 16, batch 64) with one thread, for {short} and for "
        f"{long} steps: the official pipeline (`training_pipeline.train`, data generated in the process, no loader "
        "workers) and ours (`induction_heads.run` at book settings, its 50 evaluations on 512 test sequences "
        "included). A step's price is the difference of the medians over the difference of the steps: the fixed "
        "costs (importing torch, our test set and evaluations) cancel.", "",
        f"| pipeline | {short} steps, wall s (median) | {long} steps, wall s (median) | ms per step "
        "| steps per second |",
        "|---|---|---|---|---|",
        *[f"| {ICL_MC_PIPELINES[who][0]} | {median[who, short]:.1f} | {median[who, long]:.1f} | {per_step[who]:.1f} "
          f"| {1000 / per_step[who]:.1f} |" for who in pipelines],
        "",
        f"Ours trains {per_step['official'] / per_step['ours']:.2f}x as many steps per second as the official "
        f"pipeline. Whole processes of {long} steps, fixed costs and our evaluations included, take "
        f"{1 / whole:.2f}x the official pipeline's time (the median of the rounds' ratios, {whole:.2f}x as fast; "
        "rounds: " + ", ".join(f"{o / u:.2f}" for o, u in zip(times["official", long], times["ours", long])) + ")."]
    if {"official, memory kept", "ours, glibc defaults"} <= set(pipelines):
        lines[-1] += (
            f" With the same malloc settings on both sides the ratio is "
            f"{per_step['official, memory kept'] / per_step['ours']:.2f}x (both keeping freed memory) and "
            f"{per_step['official'] / per_step['ours, glibc defaults']:.2f}x (both with glibc's defaults): "
            "how much of the lead is where memory comes from rather than the model's arithmetic.")
    return lines


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


SECTIONS = ("chapters", "book", "pages", "threads", "steps", "attention-kernels", "pareto-step", "icl-mc")


def merge(old: str, new: dict[str, list[str]]) -> str:
    """RESULTS.md with the sections (by their heading) in `new` replaced or appended, the rest kept."""
    parts = old.split("\n## ")
    head, sections = parts[0], {part.split("\n", 1)[0]: part for part in parts[1:]}
    for heading, lines in new.items():
        sections[heading] = heading + "\n\n" + "\n".join(lines).strip("\n") + "\n"
    return "\n## ".join([head.rstrip("\n") + "\n", *[part.rstrip("\n") + "\n" for part in sections.values()]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--book-repeats", type=int, default=None, help="book builds to time (default: --repeats)")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections to measure, of {', '.join(SECTIONS)}; the others "
                             "stay as RESULTS.md has them")
    parser.add_argument("--icl-mc", type=Path, default=None,
                        help="a checkout of the official ICL-MC code (github.com/EzraEdelman/"
                             "Evolution-of-Statistical-Induction-Heads), run outside this repository")
    parser.add_argument("--topics", default=",".join(sorted(CHAPTERS)),
                        help="comma-separated chapters whose rows the chapters section re-measures (default: all)")
    args = parser.parse_args()
    only = args.only.split(",")
    topics = args.topics.split(",")
    if unknown_topics := set(topics) - set(CHAPTERS):
        parser.error(f"--topics must name chapters of {', '.join(sorted(CHAPTERS))}, "
                     f"got {', '.join(sorted(unknown_topics))}")
    if unknown := set(only) - set(SECTIONS):
        parser.error(f"--only must name sections of {', '.join(SECTIONS)}, got {', '.join(sorted(unknown))}")
    if "icl-mc" in only and not (args.icl_mc and (args.icl_mc / "training_pipeline.py").exists()):
        parser.error("--icl-mc must name a checkout of the official ICL-MC code (with training_pipeline.py) "
                     "to measure the icl-mc section")
    book_repeats = args.book_repeats or args.repeats
    today = f"{time.strftime('%Y-%m-%d')} on {machine()}"
    sections = {}

    if "chapters" in only:
        chapters, capstone = chapter_times(args.repeats, topics)
        results_file = ROOT / "benchmarks" / "RESULTS.md"
        old_results = results_file.read_text() if results_file.exists() else ""
        sections[CHAPTERS_HEADING] = chapters_section(old_results, chapters, capstone, args.repeats, today)
    if "book" in only:
        book = book_times(book_repeats)
        (serial, _), (parallel, parallel_cpu) = book["serial, cold"], book["parallel, cold"]
        cores = os.cpu_count() or 1
        sections["Book: `jupyter-book build . -W -n --keep-going` from a clean `_build`"] = [
            f"Measured {today}, median of {book_repeats}. Cold: an empty result cache; warm: the cache a cold "
            "build filled. Serial: myst-nb executes the notebooks one at a time (`COMPANION_SERIAL_BUILD=1`), "
            "the capstone first (Sphinx reads the pages in alphabetical order), and the capstone's "
            "`chapter_reports` trains the chapters side by side; parallel: `book/_ext/parallel_execution.py` "
            "executes the chapters one notebook per core, the dearest first, then the capstone, before Sphinx "
            "reads them. CPU time is user + system time of the build and the processes it waited for.", "",
            "| notebooks executed | result cache | wall time (s) | CPU time (s) | cores busy |",
            "|---|---|---|---|---|",
            *[f"| {' | '.join(label.split(', '))} | {wall:.1f} | {cpu:.1f} | {cpu / wall:.2f} |"
              for label, (wall, cpu) in book.items()],
            "", f"The parallel cold build takes {parallel / serial:.2f}x the serial one's time. No schedule on "
            f"{cores} cores finishes the parallel build's CPU time in less than {parallel_cpu / cores:.1f} s, "
            f"{parallel_cpu / cores / serial:.2f}x the serial build's time."]
    if "pages" in only:
        pages, site = page_sizes()
        sections["Pages: the built book's weight"] = [
            f"Measured {today}. Each chapter page with its explorer frames inline (as WebP, "
            "`companion.core.explorer`), and the whole built site, MathJax and the theme included; "
            "`tests/test_book.py` holds them under 2.5 MB a page and 30 MB in all.", "",
            "| page | MB |", "|---|---|",
            *[f"| {name} | {size / 1e6:.2f} |" for name, size in sorted(pages.items(), key=lambda item: -item[1])],
            f"| the whole site | {site / 1e6:.1f} |"]
    if "threads" in only:
        threads = thread_times(args.repeats)
        ensemble_threads = ensemble_thread_times(args.repeats)
        sections["Threads: one training step of the induction-heads model (batch 64, T = 100, width 16)"] = [
            f"Measured {today}, median of {args.repeats}.", "",
            "| torch threads | ms per step |", "|---|---|",
            *[f"| {n} | {ms:.1f} |" for n, ms in threads.items()],
            "",
            f"Two threads make one run {threads[1] / threads[2]:.2f}x as fast, but two one-thread runs side by side "
            f"(one per core) train {2 * 1000 / threads[1]:.0f} steps/s against {1000 / threads[2]:.0f} steps/s for "
            "one two-thread run. So each run trains with one thread (`companion.core.runtime.torch_threads(1)`), "
            "and a chapter's runs go to one process per core through joblib."]
        sections["Threads: one SGD step of the hidden-progress batched network (10 seeds, n = 50, width 100, "
                 "batch 32)"] = [
            f"Measured {today}, median of {args.repeats}.", "",
            "| torch threads | ms per step |", "|---|---|",
            *[f"| {n} | {ms:.2f} |" for n, ms in ensemble_threads.items()],
            "",
            f"Two threads make this step {ensemble_threads[1] / ensemble_threads[2]:.2f}x as fast as one; two "
            f"one-thread processes side by side make {2 * 1000 / ensemble_threads[1]:.0f} steps/s against "
            f"{1000 / ensemble_threads[2]:.0f} for one two-thread process, so these runs also take one thread each."]
    if "steps" in only:
        sections["Steps: time against batch size and against replicas (one thread)"] = [
            f"Measured {today}, median of {args.repeats}. One AdamW step of each chapter's model at book scale "
            "(random tokens of the chapter's vocabulary and length).",
            *step_table(args.repeats)]
    if "attention-kernels" in only:
        sections["Steps: attention kernels, as written against fused and compiled (one thread)"] = [
            f"Measured {today}, median of {args.repeats}. One AdamW step of each chapter's attention model at "
            "book scale (random inputs of the chapter's shapes): attention as `companion.core.models` writes it; "
            "the same through `F.scaled_dot_product_attention` with the position bias as its mask (the "
            "chapters' runs never need the weights while they train); and the loss, model and all, under "
            "`torch.compile` "
            "(inductor, its C++ kernels, compiled from an empty cache), whose first step, where it compiles, is "
            "timed on its own.", "",
            *attention_kernel_table(args.repeats)]
    if "pareto-step" in only:
        pareto = pareto_step_times(args.repeats)
        sections["Steps: the Pareto chapter's SGD step, autograd against written out (16 seeds, one thread)"] = [
            f"Measured {today}, median of {args.repeats}. One SGD step with weight decay on the hinge loss of 16 "
            "replicas (n = 30, batch 32): autograd and `torch.optim.SGD`, against "
            "`pareto_frontiers.hinge_sgd_step`, which gives the same update (a test checks it).", "",
            "| width | autograd + SGD, ms per step | written out, ms per step | speed-up |", "|---|---|---|---|",
            *[f"| {width} | {a:.2f} | {b:.2f} | {a / b:.2f}x |" for width, (a, b) in pareto.items()],
            "", "The widest networks' steps are bound by passes over the (replicas, batch, width) activations; the "
            "written-out step makes fewer of them, and folds weight decay into the product that updates the input "
            "weights."]
    if "icl-mc" in only:
        sections["Induction heads beside the official ICL-MC code"] = icl_mc_section(
            icl_mc_side_by_side(args.icl_mc, args.repeats), today)

    results = ROOT / "benchmarks" / "RESULTS.md"
    header = "\n".join(["# Benchmarks", "", "Written by `benchmarks/run_benchmarks.py`; each section says when and on "
                        "which machine it was measured.", ""])
    old = results.read_text() if results.exists() else header
    text = merge(header + "\n## " + old.split("\n## ", 1)[1] if "\n## " in old else header, sections)
    results.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
