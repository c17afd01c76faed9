"""Command line: ``python -m companion reproduce|student-notebooks|cache``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .core import cache, notebooks
from .core.config import SCALES
from .topics import TOPICS, topic_module


def reproduce(args) -> int:
    module = topic_module(args.topic)
    started = time.perf_counter()
    metrics = module.reproduce(scale=args.scale, seed=args.seed)
    metrics["wall_seconds"] = round(time.perf_counter() - started, 2)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{args.topic}.json"
    target.write_text(json.dumps(metrics, indent=1))
    print(f"wrote {target}")
    return 0


def student_notebooks(args) -> int:
    for path in notebooks.write_student_notebooks(Path(args.out)):
        print(f"wrote {path}")
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
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer, got {text!r}")
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m companion", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("reproduce", help="run a chapter's experiment and write TOPIC.json")
    run.add_argument("topic", choices=sorted(TOPICS), help="the chapter's topic name")
    run.add_argument("--scale", choices=SCALES, default="book")
    run.add_argument("--seed", type=seed_type, default=0)
    run.add_argument("--out", default=".", help="folder for TOPIC.json (default: here)")
    run.set_defaults(handler=reproduce)

    students = commands.add_parser("student-notebooks", help="write the chapters without solutions")
    students.add_argument("out", help="folder for the student notebooks")
    students.set_defaults(handler=student_notebooks)

    store = commands.add_parser("cache", help="show or clear the result cache")
    store.add_argument("action", choices=("info", "clear"))
    store.add_argument("--experiment", default=None, help="clear only this experiment's entries")
    store.set_defaults(handler=cache_command)

    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
