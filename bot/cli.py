"""`councilbot`: the command line for running, maintaining and measuring the bot.

councilbot run                      train if needed, start Rasa + action server, Ctrl-C stops both
councilbot train [--force] [--swap] train a model if config/domain/data/editors' examples changed;
                                    --swap loads it into the running bot without dropping a message
councilbot db upgrade               apply database migrations
councilbot kb validate [DIR]        check the content files; errors name file and line
councilbot kb load [DIR]            validate, migrate, then apply the files (idempotent, all-or-nothing)
councilbot kb export OUT_DIR        write the database back out as YAML (--csv FILE: services as CSV)
councilbot kb import PATH           import a content directory or a services .csv (--dry-run: show changes)
councilbot eval                     held-out accuracy report (reports/eval.json)
councilbot bench                    speed and memory against a stock `rasa init` bot (reports/bench.json)
councilbot bench --channels         webhook acknowledgement and reply latency (reports/bench-channels.json)
councilbot figures [--days N]       cases opened/resolved, response times, SLA, satisfaction, containment
councilbot users add NAME --role R  create a staff console account (password prompted, or --password-stdin)
councilbot users list               staff accounts
councilbot users disable NAME       stop an account signing in (ends its sessions)
councilbot users password NAME      set a new password (clears a lockout, ends its sessions)
councilbot links check [--timeout S] [--concurrency N]
                                    check every service's link; one line per problem, then totals
councilbot review [--within DAYS]   services due for a content review, by owner
councilbot unanswered [--days N] [--kind K]
                                    what the bot couldn't answer well, grouped by similarity
councilbot unanswered export (--ids 1,2,3 | --group N) [--out FILE]
                                    those messages as candidate NLU training examples (YAML)
councilbot privacy erase WHO [--dry-run]
                                    erase one resident (conversation id, reference, email or phone)
councilbot privacy export WHO --out FILE
                                    everything held about one resident, for a subject access request
councilbot privacy retention [--dry-run]
                                    delete what is past its retention period (the console does it daily)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Optional

from knowledge.settings import CONTENT_DIR


def _kb_validate(args: argparse.Namespace) -> int:
    from knowledge.catalogue.content import read_content

    content, errors = read_content(Path(args.dir))
    for error in errors:
        print(error, file=sys.stderr)
    if errors:
        print(f"{len(errors)} problem(s); nothing loaded.", file=sys.stderr)
        return 1
    print(f"OK: {len(content.services)} services, {len(content.redirects)} redirects in {args.dir}")
    return 0


def _author(args: argparse.Namespace) -> str:
    """Who a change from the command line is recorded as: --author, else the operating-system login."""
    if getattr(args, "author", None):
        return args.author
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (some containers): still record the change
        return "command line"


def _kb_load(args: argparse.Namespace) -> int:
    from knowledge.catalogue.content import ContentInvalid, load
    from knowledge.catalogue.editing import record_version, versions
    from knowledge.db import session_scope
    from knowledge.migrations import upgrade

    upgrade()
    try:
        with session_scope() as session:
            report = load(session, Path(args.dir))
            if report.added or report.updated or report.retired or not versions(session, limit=1):
                record_version(session, _author(args), "Loaded the content files", f"kb load {args.dir}: {report}")
    except ContentInvalid as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        print(f"{len(exc.errors)} problem(s); nothing loaded.", file=sys.stderr)
        return 1
    print(f"Loaded {args.dir}: {report}")
    return 0


def _kb_export(args: argparse.Namespace) -> int:
    from knowledge.catalogue.content import export
    from knowledge.catalogue.transfer import export_csv
    from knowledge.db import session_scope

    if not args.out_dir and not args.csv:
        print("Say where to write: an output directory for YAML, or --csv FILE.", file=sys.stderr)
        return 1
    with session_scope() as session:
        if args.out_dir:
            files = export(session, Path(args.out_dir))
            print(f"Wrote {len(files)} files to {args.out_dir}")
        if args.csv:
            text = export_csv(session)
            # With a byte-order mark, spreadsheets open the file with the right characters.
            Path(args.csv).write_text(text, encoding="utf-8-sig", newline="")
            print(f"Wrote {text.count(chr(10)) - 1} services to {args.csv}")
    return 0


def _kb_import(args: argparse.Namespace) -> int:
    from knowledge.catalogue.content import ContentInvalid
    from knowledge.catalogue.editing import ConflictError, EditError
    from knowledge.catalogue.transfer import apply_import, plan_import
    from knowledge.db import session_scope
    from knowledge.migrations import upgrade

    upgrade()
    source = Path(args.path)
    try:
        with session_scope() as session:
            if args.dry_run:
                plan = plan_import(session, source)
                session.rollback()  # a dry run writes nothing, whatever planning touched
            else:
                plan = apply_import(session, source, _author(args), args.reason or f"Imported {source.name}")
    except ContentInvalid as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        print(f"{len(exc.errors)} problem(s); nothing imported.", file=sys.stderr)
        return 1
    except (ConflictError, EditError) as exc:
        print(f"{exc} Nothing imported.", file=sys.stderr)
        return 1
    if plan.errors:
        for error in plan.errors:
            print(error, file=sys.stderr)
        print(f"{len(plan.errors)} problem(s); nothing would be imported.", file=sys.stderr)
        return 1
    print(plan.describe())
    if args.dry_run:
        print("Dry run: nothing was changed.")
    elif plan.version is None:
        print("Nothing to import; no new version.")
    else:
        print(f"Imported: published as version {plan.version}.")
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
        rows = [
            (
                u.username,
                u.role,
                "active" if u.active else "disabled",
                u.last_login_at.strftime("%Y-%m-%d %H:%M") if u.last_login_at else "never",
                u.display_name,
            )
            for u in list_users(session)
        ]
    if not rows:
        print("No staff accounts yet: add one with `councilbot users add USERNAME --role admin`.")
        return 0
    header = ("USERNAME", "ROLE", "STATUS", "LAST SIGN-IN (UTC)", "NAME")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[4])
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

    model = ensure_model(force=args.force)
    print(f"Model: {model}")
    if args.swap:
        from bot.model_swap import swap

        print(swap(model))
    return 0


def _run(args: argparse.Namespace) -> int:
    from bot.run import run

    return run()


def _eval(args: argparse.Namespace) -> int:
    from bot.evaluation import main as eval_main

    return eval_main(compare=args.compare)


def _bench(args: argparse.Namespace) -> int:
    if args.channels:
        from bot.channel_benchmark import main as channel_bench_main

        return channel_bench_main()
    from bot.benchmark import main as bench_main

    return bench_main(quick=args.quick)


def _figures(args: argparse.Namespace) -> int:
    import json

    from knowledge.casework.figures import as_text, compute
    from knowledge.db import session_scope
    from knowledge.migrations import upgrade

    upgrade()
    with session_scope() as session:
        figures = compute(session, args.days)
    print(json.dumps(figures.as_dict(), indent=2) if args.json else as_text(figures))
    return 0


def _links_check(args: argparse.Namespace) -> int:
    """Problems and totals; exit 0 even with broken links (they are findings, not failures), 2 if the check
    couldn't run at all."""
    from knowledge.catalogue.links import OUTCOMES, run_check
    from knowledge.migrations import upgrade

    try:
        upgrade()
        results = run_check(timeout=args.timeout, concurrency=args.concurrency)
    except Exception as exc:  # noqa: BLE001 - any failure to run is reported the same way
        first_line = (str(exc).splitlines() or [""])[0][:200]
        print(f"Link check could not run: {type(exc).__name__}: {first_line}", file=sys.stderr)
        return 2
    for r in results:
        if r.is_problem:
            status = f" {r.status_code}" if r.status_code else ""
            where = f" -> {r.final_url}" if r.final_url else ""
            detail = f" ({r.detail})" if r.detail else ""
            print(f"{r.outcome.upper()}{status}  {r.key}  {r.url}{where}{detail}")
    counts = {outcome: sum(r.outcome == outcome for r in results) for outcome in OUTCOMES}
    totals = ", ".join(f"{n} {outcome}" for outcome, n in counts.items() if n)
    print(f"Checked {len(results)} link(s): {totals or 'none'}.")
    return 0


def _review(args: argparse.Namespace) -> int:
    import datetime as dt

    from knowledge.catalogue.review import due_for_review
    from knowledge.db import session_scope
    from knowledge.migrations import upgrade

    upgrade()
    today = dt.date.today()
    with session_scope() as session:
        due = {
            owner: [(s.review_by, s.key, s.title) for s in services]
            for owner, services in due_for_review(session, today, args.within).items()
        }
    when = "today or overdue" if args.within == 0 else f"within {args.within} day(s)"
    if not due:
        print(f"No services due for review ({when}).")
        return 0
    for owner, services in due.items():
        print(f"{owner} ({len(services)}):")
        for review_by, key, title in services:
            date = review_by.isoformat() if review_by else "no date"
            late = " OVERDUE" if review_by is None or review_by < today else ""
            print(f"  {date}{late}  {key}  {title}")
    print(f"{sum(len(s) for s in due.values())} service(s) due for review ({when}).")
    return 0


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError("must be more than 0")
        return value

    return parse


def _not_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _unanswered_groups(args: argparse.Namespace) -> list:
    from knowledge.catalogue.unanswered import groups
    from knowledge.db import session_scope

    with session_scope() as session:
        return groups(session, days=getattr(args, "days", 30), kinds=getattr(args, "kind", None))


def _unanswered(args: argparse.Namespace) -> int:
    from knowledge.migrations import upgrade

    upgrade()
    found = _unanswered_groups(args)
    if not found:
        print(f"Nothing unanswered in the last {args.days} days.")
        return 0
    for position, group in enumerate(found, start=1):
        kinds = ", ".join(f"{kind} {n}" for kind, n in group.kinds.items())
        print(f"{position:>3}. {group.count:>4} x {group.label}   ({kinds}; last {group.last_seen:%d %b %H:%M})")
        for example in group.examples[:3]:
            print(f'          "{" ".join(example.split())[:100]}"')
    print(
        f"{sum(g.count for g in found)} messages in {len(found)} groups over {args.days} days. "
        "Export with `councilbot unanswered export --group N` or `--ids 1,2,3`."
    )
    return 0


def _unanswered_export(args: argparse.Namespace) -> int:
    from knowledge.catalogue.unanswered import NothingToExport, export_candidates
    from knowledge.db import session_scope
    from knowledge.migrations import upgrade

    upgrade()
    if args.group is not None:
        found = _unanswered_groups(args)
        if not 1 <= args.group <= len(found):
            print(f"No group {args.group}: there are {len(found)} in the last {args.days} days.", file=sys.stderr)
            return 1
        ids = found[args.group - 1].ids
    else:
        try:
            ids = [int(part) for part in args.ids.split(",") if part.strip()]
        except ValueError:
            print("--ids takes message ids separated by commas, such as 4,8,15.", file=sys.stderr)
            return 1
    try:
        with session_scope() as session:
            text = export_candidates(session, ids)
    except NothingToExport:
        print("None of those messages exists.", file=sys.stderr)
        return 1
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"Wrote candidate examples to {args.out}; label them before training.", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="councilbot", description="Council chatbot: run, maintain, measure.")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="train if needed and start the bot").set_defaults(func=_run)
    train = sub.add_parser("train", help="train a model if the training data changed")
    train.add_argument("--force", action="store_true", help="train even if a model for this data exists")
    train.add_argument(
        "--swap", action="store_true", help="then swap the new model into the running bot without stopping it"
    )
    train.set_defaults(func=_train)
    evaluate = sub.add_parser("eval", help="held-out accuracy report")
    evaluate.add_argument(
        "--compare", action="store_true", help="also train the candidate pipelines on 80%% of data/nlu and compare them"
    )
    evaluate.set_defaults(func=_eval)
    bench = sub.add_parser("bench", help="benchmark against a stock rasa init bot")
    bench.add_argument("--quick", action="store_true", help="fewer requests (for a smoke test)")
    bench.add_argument(
        "--channels",
        action="store_true",
        help="instead: Meta webhook acknowledgement and reply latency (reports/bench-channels.json)",
    )
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
    export.add_argument("out_dir", nargs="?", help="directory for the YAML layout")
    export.add_argument("--csv", metavar="FILE", help="also (or instead) write all services to a CSV file")
    export.set_defaults(func=_kb_export)
    kb_import = kb.add_parser("import", help="import a content directory or a services CSV (all or nothing)")
    kb_import.add_argument("path", help="a content directory in the YAML layout, or a .csv file of services")
    kb_import.add_argument("--dry-run", action="store_true", help="show what would change; change nothing")
    kb_import.add_argument("--author", help="who to record the change as (default: your login name)")
    kb_import.add_argument("--reason", help="why, for the version history (default: 'Imported <file>')")
    kb_import.set_defaults(func=_kb_import)

    from knowledge.staff import ROLES

    users = sub.add_parser("users", help="staff console accounts").add_subparsers(dest="users_command", required=True)
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

    from knowledge.catalogue.links import DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT

    links = sub.add_parser("links", help="services' self-serve links").add_subparsers(
        dest="links_command", required=True
    )
    check = links.add_parser("check", help="check every active service's link and record the results")
    check.add_argument(
        "--timeout",
        type=_positive(float),
        default=DEFAULT_TIMEOUT,
        help=f"seconds to wait for each answer (default {DEFAULT_TIMEOUT:g})",
    )
    check.add_argument(
        "--concurrency",
        type=_positive(int),
        default=DEFAULT_CONCURRENCY,
        help=f"links checked at once (default {DEFAULT_CONCURRENCY})",
    )
    check.set_defaults(func=_links_check)
    review = sub.add_parser("review", help="services due for a content review, by owner")
    review.add_argument(
        "--within",
        type=_not_negative,
        default=0,
        metavar="DAYS",
        help="also list those due in the next DAYS days (default 0: due today or overdue)",
    )
    review.set_defaults(func=_review)

    from knowledge.catalogue.unanswered import KINDS

    unanswered = sub.add_parser("unanswered", help="what the bot couldn't answer well, grouped by similarity")
    unanswered.add_argument("--days", type=int, default=30, help="period to look at (default 30)")
    unanswered.add_argument("--kind", action="append", choices=KINDS, help="only this kind (repeatable)")
    unanswered.set_defaults(func=_unanswered)
    unanswered_sub = unanswered.add_subparsers(dest="unanswered_command")
    export_unanswered = unanswered_sub.add_parser("export", help="write messages as candidate NLU examples")
    chosen = export_unanswered.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--ids", help="message ids separated by commas")
    chosen.add_argument("--group", type=int, help="a whole group, by its number in `councilbot unanswered`")
    export_unanswered.add_argument("--out", help="file to write (default: standard output)")
    # SUPPRESS: with no value given here, `unanswered --days 7 export` keeps the 7 given before `export`.
    export_unanswered.add_argument(
        "--days", type=int, default=argparse.SUPPRESS, help="period the group numbers refer to (default 30)"
    )
    export_unanswered.add_argument(
        "--kind",
        action="append",
        choices=KINDS,
        default=argparse.SUPPRESS,
        help="only this kind, as when the groups were listed (repeatable)",
    )
    export_unanswered.set_defaults(func=_unanswered_export)

    from bot.privacy_commands import add_parser as add_privacy

    add_privacy(sub, _author)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
