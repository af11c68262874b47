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
    councilbot figures [--days N]       cases opened/resolved, response times, SLA, satisfaction, containment
    councilbot users add NAME --role R  create a staff console account (password prompted, or --password-stdin)
    councilbot users list               staff accounts
    councilbot users disable NAME       stop an account signing in (ends its sessions)
    councilbot users password NAME      set a new password (clears a lockout, ends its sessions)
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


def _read_password(args: argparse.Namespace) -> Optional[str]:
    """The new password: one line from stdin with --password-stdin (for scripts), else typed twice."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass("Password: ")
    if getpass.getpass("Same password again: ") != first:
        print("The two passwords don't match; nothing changed.", file=sys.stderr)
        return None
    return first


def _users_add(args: argparse.Namespace) -> int:
    from knowledge.db import session_scope
    from knowledge.migrations import upgrade
    from knowledge.staff import StaffInputError, create_user

    upgrade()
    password = _read_password(args)
    if password is None:
        return 1
    try:
        with session_scope() as session:
            user = create_user(session, args.username, args.name or args.username, args.role, password)
            summary = f"Created {user.username} ({user.role})."
    except StaffInputError as exc:
        print(f"{exc.field}: {exc.message}", file=sys.stderr)
        return 1
    print(summary)
    return 0


def _users_list(args: argparse.Namespace) -> int:
    from knowledge.db import session_scope
    from knowledge.migrations import upgrade
    from knowledge.staff import list_users

    upgrade()
    with session_scope() as session:
        rows = [(u.username, u.role, "active" if u.active else "disabled",
                 u.last_login_at.strftime("%Y-%m-%d %H:%M") if u.last_login_at else "never", u.display_name)
                for u in list_users(session)]
    if not rows:
        print("No staff accounts yet: add one with `councilbot users add USERNAME --role admin`.")
        return 0
    header = ("USERNAME", "ROLE", "STATUS", "LAST SIGN-IN (UTC)", "NAME")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[4])
    return 0


def _users_disable(args: argparse.Namespace) -> int:
    from knowledge.db import session_scope
    from knowledge.migrations import upgrade
    from knowledge.staff import get_user, set_active

    upgrade()
    with session_scope() as session:
        user = get_user(session, args.username)
        if user is None:
            print(f"No account called {args.username}.", file=sys.stderr)
            return 1
        set_active(session, user, False)
    print(f"{args.username} can no longer sign in.")
    return 0


def _users_password(args: argparse.Namespace) -> int:
    from knowledge.db import session_scope
    from knowledge.migrations import upgrade
    from knowledge.staff import StaffInputError, get_user, set_password

    upgrade()
    with session_scope() as session:
        if get_user(session, args.username) is None:
            print(f"No account called {args.username}.", file=sys.stderr)
            return 1
    password = _read_password(args)
    if password is None:
        return 1
    try:
        with session_scope() as session:
            user = get_user(session, args.username)
            if user is None:  # removed while the password was being typed
                print(f"No account called {args.username}.", file=sys.stderr)
                return 1
            set_password(session, user, password)
    except StaffInputError as exc:
        print(f"{exc.field}: {exc.message}", file=sys.stderr)
        return 1
    print(f"New password set for {args.username}; their other sessions have ended.")
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


def _figures(args: argparse.Namespace) -> int:
    import json

    from knowledge.db import session_scope
    from knowledge.figures import as_text, compute
    from knowledge.migrations import upgrade

    upgrade()
    with session_scope() as session:
        figures = compute(session, args.days)
    print(json.dumps(figures.as_dict(), indent=2) if args.json else as_text(figures))
    return 0


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

    figures = sub.add_parser("figures", help="cases, response times, satisfaction and containment")
    figures.add_argument("--days", type=int, default=30, help="period to report (default 30)")
    figures.add_argument("--json", action="store_true", help="print JSON instead of text")
    figures.set_defaults(func=_figures)

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

    from knowledge.staff import ROLES

    users = sub.add_parser("users", help="staff console accounts").add_subparsers(dest="users_command",
                                                                                  required=True)
    add = users.add_parser("add", help="create an account")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--name", help="display name shown in the console (default: the username)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(func=_users_add)
    users.add_parser("list", help="list accounts").set_defaults(func=_users_list)
    disable = users.add_parser("disable", help="stop an account signing in")
    disable.add_argument("username")
    disable.set_defaults(func=_users_disable)
    password = users.add_parser("password", help="set a new password for an account")
    password.add_argument("username")
    password.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    password.set_defaults(func=_users_password)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
