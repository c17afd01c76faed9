"""Command line: ``python -m companion reproduce|student-notebooks|grade|cache``.

Every setting, path and environment variable is checked before any compute starts; a bad one ends the
command with one line naming it and what it accepts, and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

from .core import cache, notebooks, sweeps
from .core.config import MAX_SEED, SCALES, InputError, resolve_scale
from .topics import TOPICS, topic_module


def writable_folder(path: Path, parameter: str) -> Path:
    """`path` as a folder we can write in (created if missing), or an InputError naming `parameter`."""
    for folder in (path, *path.parents):
        if folder.exists() and not folder.is_dir():
            raise InputError(f"{parameter} must be a folder, but {folder} is a file")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise InputError(f"{parameter} must be a writable folder, but {path} is not ({err.strerror or err})") from None
    return path


def reproduce(args) -> int:
    scale = resolve_scale(args.scale)  # the flag, else COMPANION_SCALE, else book
    out = writable_folder(Path(args.out), "--out")
    cache.prepare_root()
    sweeps.job_limit()  # a bad COMPANION_JOBS is named now, not at the chapter's first sweep
    module = topic_module(args.topic)
    started = time.perf_counter()
    with sweeps.on_cluster(args.cluster) if args.cluster else contextlib.nullcontext():
        metrics = module.reproduce(scale=scale, seed=args.seed)
    metrics["wall_seconds"] = round(time.perf_counter() - started, 2)
    target = out / f"{args.topic}.json"
    target.write_text(json.dumps(metrics, indent=1))
    print(f"wrote {target}")
    return 0


def student_notebooks(args) -> int:
    for path in notebooks.write_student_notebooks(Path(args.out), force=args.force):
        print(f"wrote {path}")
    return 0


def grade(args) -> int:
    from .core import grading

    try:
        import nbclient  # noqa: F401  (graders need it, readers do not)
    except ImportError:
        raise InputError("grade needs nbclient and ipykernel: pip install 'companion[grade]'") from None
    scale = resolve_scale(args.scale)
    submissions = Path(args.submissions)
    if not submissions.is_dir():
        raise InputError(f"SUBMISSIONS must be a folder of notebooks, got {submissions}")
    out = Path(args.out)
    if out.exists() and out.is_dir():
        raise InputError(f"--out must be a file for the grades (a .csv), but {out} is a folder")
    writable_folder(out.parent if str(out.parent) else Path("."), "--out's folder")
    cache.prepare_root()
    rows = grading.grade_folder(submissions, out, timeout=args.timeout, scale=scale, jobs=args.jobs)
    print(f"graded {len(rows)} notebooks into {out}")
    return 0


def cache_command(args) -> int:
    if args.action == "info":
        print(json.dumps(cache.cache_info(), indent=1))
    else:
        print(f"removed {cache.clear_cache(args.experiment)} entries from {cache.cache_root()}")
    return 0


def seed_type(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"seed must be an integer from 0 to {MAX_SEED}, got {text!r}")
    return value


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"timeout must be a positive number of seconds, got {text!r}")
    return value


def notebook_jobs(text: str) -> int:
    if not (text.isdigit() and 1 <= int(text) <= 64):
        raise argparse.ArgumentTypeError(f"jobs must be a whole number of notebooks from 1 to 64, got {text!r}")
    return int(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m companion", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("reproduce", help="run a chapter's experiment and write TOPIC.json")
    run.add_argument("topic", choices=sorted(TOPICS), help="the chapter's topic name")
    run.add_argument("--scale", choices=SCALES, default=None,
                     help="test, book or full (default: COMPANION_SCALE when set, else book)")
    run.add_argument("--seed", type=seed_type, default=0)
    run.add_argument("--out", default=".", help="folder for TOPIC.json (default: here)")
    run.add_argument("--cluster", default=None, metavar="ADDRESS",
                     help="run the chapter's sweeps on the dask cluster at dask://HOST:PORT; the results come "
                          "back to this machine's cache (needs companion[cluster])")
    run.set_defaults(handler=reproduce)

    students = commands.add_parser("student-notebooks", help="write the chapters without solutions")
    students.add_argument("out", help="folder for the student notebooks (never the book's own folder)")
    students.add_argument("--force", action="store_true", help="overwrite student notebooks already there")
    students.set_defaults(handler=student_notebooks)

    marks = commands.add_parser("grade", help="run submitted student notebooks and write their marks as CSV")
    marks.add_argument("submissions", help="folder of filled-in student notebooks (searched recursively)")
    marks.add_argument("--out", default="grades.csv", help="the CSV to write (default: grades.csv)")
    marks.add_argument("--timeout", type=positive_seconds, default=900.0,
                       help="seconds each notebook may run (default: 900)")
    marks.add_argument("--scale", choices=SCALES, default=None,
                       help="the scale the notebooks run at (default: COMPANION_SCALE when set, else book)")
    marks.add_argument("--jobs", type=notebook_jobs, default=1,
                       help="notebooks run side by side (default: 1; each may itself use every core)")
    marks.set_defaults(handler=grade)

    store = commands.add_parser("cache", help="show or clear the result cache")
    store.add_argument("action", choices=("info", "clear"))
    store.add_argument("--experiment", default=None, help="clear only this experiment's entries")
    store.set_defaults(handler=cache_command)

    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except InputError as err:
        print(f"{parser.prog} {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
