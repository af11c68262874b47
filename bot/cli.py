"""`councilbot`: the command line for running, maintaining and measuring the bot.

    councilbot run                      train if needed, start Rasa + action server, Ctrl-C stops both
    councilbot train [--force]          train a model if config/domain/data changed
    councilbot db upgrade               apply database migrations
    councilbot kb validate [DIR]        check the content files; errors name file and line
    councilbot kb load [DIR]            validate, migrate, then apply the files (idempotent, all-or-nothing)
    councilbot kb export OUT_DIR        write the database back out as YAML
    councilbot eval                     held-out accuracy report (reports/eval.json)
    councilbot bench                    speed and memory against a stock `rasa init` bot (reports/bench.json)
    councilbot bench --channels         webhook acknowledgement and reply latency (reports/bench-channels.json)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from knowledge.settings import CONTENT_DIR


def _kb_validate(args: argparse.Namespace) -> int:
    from knowledge.content import read_content

    content, errors = read_content(Path(args.dir))
    for error in errors:
        print(error, file=sys.stderr)
    if errors:
        print(f"{len(errors)} problem(s); nothing loaded.", file=sys.stderr)
        return 1
    print(f"OK: {len(content.services)} services, {len(content.redirects)} redirects in {args.dir}")
    return 0


def _kb_load(args: argparse.Namespace) -> int:
    from knowledge.content import ContentInvalid, load
    from knowledge.db import session_scope
    from knowledge.migrations import upgrade

    upgrade()
    try:
        with session_scope() as session:
            report = load(session, Path(args.dir))
    except ContentInvalid as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        print(f"{len(exc.errors)} problem(s); nothing loaded.", file=sys.stderr)
        return 1
    print(f"Loaded {args.dir}: {report}")
    return 0


def _kb_export(args: argparse.Namespace) -> int:
    from knowledge.content import export
    from knowledge.db import session_scope

    with session_scope() as session:
        files = export(session, Path(args.out_dir))
    print(f"Wrote {len(files)} files to {args.out_dir}")
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    from knowledge.migrations import upgrade

    upgrade()
    print("Database is up to date.")
    return 0


def _train(args: argparse.Namespace) -> int:
    from bot.training import ensure_model

    print(f"Model: {ensure_model(force=args.force)}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from bot.run import run

    return run()


def _eval(args: argparse.Namespace) -> int:
    from bot.evaluation import main as eval_main

    return eval_main()


def _bench(args: argparse.Namespace) -> int:
    if args.channels:
        from bot.channel_benchmark import main as channel_bench_main

        return channel_bench_main()
    from bot.benchmark import main as bench_main

    return bench_main(quick=args.quick)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="councilbot", description="Council chatbot: run, maintain, measure.")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="train if needed and start the bot").set_defaults(func=_run)
    train = sub.add_parser("train", help="train a model if the training data changed")
    train.add_argument("--force", action="store_true", help="train even if a model for this data exists")
    train.set_defaults(func=_train)
    sub.add_parser("eval", help="held-out accuracy report").set_defaults(func=_eval)
    bench = sub.add_parser("bench", help="benchmark against a stock rasa init bot")
    bench.add_argument("--quick", action="store_true", help="fewer requests (for a smoke test)")
    bench.add_argument("--channels", action="store_true",
                       help="instead: Meta webhook acknowledgement and reply latency (reports/bench-channels.json)")
    bench.set_defaults(func=_bench)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=_db_upgrade)

    kb = sub.add_parser("kb", help="knowledge base content").add_subparsers(dest="kb_command", required=True)
    validate = kb.add_parser("validate", help="check content files")
    validate.add_argument("dir", nargs="?", default=str(CONTENT_DIR))
    validate.set_defaults(func=_kb_validate)
    load = kb.add_parser("load", help="load content files into the database")
    load.add_argument("dir", nargs="?", default=str(CONTENT_DIR))
    load.set_defaults(func=_kb_load)
    export = kb.add_parser("export", help="export the database as content files")
    export.add_argument("out_dir")
    export.set_defaults(func=_kb_export)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
