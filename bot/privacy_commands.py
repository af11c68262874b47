"""`councilbot privacy …`: erasure, subject access export and retention of residents' data.

    councilbot privacy erase WHO [--dry-run]      everything about one resident, from every store
    councilbot privacy export WHO --out FILE      everything about one resident, as JSON
    councilbot privacy retention [--dry-run]      delete what is past its retention period now

WHO is a conversation id (messenger:123, whatsapp:447700900123), a case reference (NC-2026-000123), an
email address or a phone number (07700 900123 also finds the WhatsApp conversation); `--kind` says which
when the guess would be wrong. The identifier is never printed or logged: output names only its kind.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _stores() -> tuple[str, str]:
    """The knowledge base and Rasa's tracker store, as the running bot uses them."""
    from knowledge.migrations import upgrade
    from knowledge.settings import Settings, database_url

    upgrade()
    return database_url(), Settings.from_env().tracker_store_url


def _identifier(args: argparse.Namespace) -> Any:
    from knowledge.personal_data.subjects import parse_identifier

    return parse_identifier(args.who, args.kind)


def _print_counts(counts: dict[str, int], verb: str) -> None:
    for table, n in sorted(counts.items()):
        print(f"  {table}: {n} row(s) {verb}")


def _erase(args: argparse.Namespace, author: Callable[[argparse.Namespace], str]) -> int:
    from knowledge.personal_data.erasure import erase

    identifier = _identifier(args)
    kb_url, tracker_url = _stores()
    report = erase(identifier, kb_url, tracker_url, author(args), dry_run=args.dry_run)
    if args.dry_run:
        print(f"Dry run: nothing was changed. Erasing by this {identifier.kind} would delete {report.total} row(s):")
        _print_counts(report.counts, "would go")
    elif report.total:
        print(f"Erased {report.total} row(s) found by this {identifier.kind}:")
        _print_counts(report.counts, "deleted")
        print("The audit line records the kind of identifier and these counts, not the identifier.")
    else:
        print(f"Nothing is held for this {identifier.kind}; nothing to erase. The request is in the audit.")
    return 0


def _export(args: argparse.Namespace, author: Callable[[argparse.Namespace], str]) -> int:
    from knowledge.personal_data.subject_access import export, write

    out = Path(args.out)
    if out.exists():
        print(f"{out} already exists; choose a new file name. Nothing was written.", file=sys.stderr)
        return 1
    identifier = _identifier(args)
    kb_url, tracker_url = _stores()
    document, report = export(identifier, kb_url, tracker_url, author(args))
    try:
        write(document, out)
    except FileExistsError:
        print(f"{out} already exists; choose a new file name. Nothing was written.", file=sys.stderr)
        return 1
    print(f"Wrote everything held for this {identifier.kind} to {out} ({report.total} record(s)):")
    _print_counts(report.counts, "included")
    return 0


def _retention(args: argparse.Namespace, author: Callable[[argparse.Namespace], str]) -> int:
    from knowledge.personal_data.retention import Periods, apply

    try:
        periods = Periods.from_env()
    except ValueError as exc:  # a RETENTION_* setting that isn't a number of days
        print(f"{exc}. Nothing was changed.", file=sys.stderr)
        return 1
    kb_url, tracker_url = _stores()
    report = apply(kb_url, tracker_url, periods, dry_run=args.dry_run)
    if args.dry_run:
        print(f"Dry run: nothing was changed. {report.total} row(s) are past their retention period:")
        _print_counts(report.counts, "would go")
    else:
        print(f"Deleted {report.total} row(s) past their retention period.")
        _print_counts(report.counts, "deleted")
    return 0


def add_parser(sub: Any, author: Callable[[argparse.Namespace], str]) -> None:
    """Add `privacy` to the `councilbot` parser. `author` names who ran a command, for the audit."""
    from knowledge.personal_data.subjects import KINDS, IdentifierError

    def run(handler: Callable[..., int]) -> Callable[[argparse.Namespace], int]:
        def call(args: argparse.Namespace) -> int:
            try:
                return handler(args, author)
            except IdentifierError as exc:
                print(f"{exc} Nothing was changed.", file=sys.stderr)
                return 1

        return call

    privacy = sub.add_parser("privacy", help="erase, export or expire residents' data").add_subparsers(
        dest="privacy_command", required=True
    )
    who_help = "conversation id (messenger:123), case reference (NC-2026-000123), email or phone number"
    erase = privacy.add_parser("erase", help="erase everything about one resident from every store")
    export = privacy.add_parser("export", help="write everything about one resident to a JSON file")
    for command in (erase, export):
        command.add_argument("who", help=who_help)
        command.add_argument("--kind", choices=KINDS, help="what WHO is, when the guess would be wrong")
        command.add_argument("--author", help="who to record the request as (default: your login name)")
    erase.add_argument("--dry-run", action="store_true", help="list what would go, per table; change nothing")
    erase.set_defaults(func=run(_erase))
    export.add_argument("--out", required=True, metavar="FILE", help="new file to write (never overwritten)")
    export.set_defaults(func=run(_export))
    retention = privacy.add_parser("retention", help="delete what is past its retention period now")
    retention.add_argument("--dry-run", action="store_true", help="count what would go; change nothing")
    retention.set_defaults(func=run(_retention))
