"""Staff commands until the console exists: `python -m bot.leads <command>`.

  migrate                         create or upgrade the leads database schema
  export --format csv|json        one row per lead (to stdout, or --out FILE)
  handoffs list                   the waiting queue, most urgent first
  handoffs claim ID --staff NAME  take a waiting handoff
  handoffs resolve ID --staff NAME
  resume CONVERSATION_ID          give a paused conversation back to the assistant
  flush-spool                     write leads that waited on disk while the database was down
  new-key                         print a fresh LEADS_ENCRYPTION_KEY
"""
from __future__ import annotations

import argparse
import csv
import getpass
import json
import os
import sys
from typing import TextIO

from bot.leads.crypto import new_key
from bot.leads.database import ensure_schema
from bot.leads.recording import recorder_from_settings
from bot.leads.store import EXPORT_COLUMNS, HandoffNotFound
from bot.settings import load_settings


def _staff_actor(name: str | None) -> str:
    # Every read and change is audited under a person's name.
    return f"staff:{name or getpass.getuser()}"


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


def _write_export(rows: list[dict], export_format: str, out: TextIO) -> None:
    if export_format == "json":
        json.dump(rows, out, indent=2)
        out.write("\n")
    else:
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS)
        writer.writeheader()
        writer.writerows({k: _csv_cell(v) for k, v in row.items()} for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.leads", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate")
    export = commands.add_parser("export")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.add_argument("--out", help="file to write (default: standard output)")
    export.add_argument("--staff", help="your name, for the audit trail")
    handoffs = commands.add_parser("handoffs")
    handoffs.add_argument("action", choices=("list", "claim", "resolve"))
    handoffs.add_argument("handoff_id", nargs="?")
    handoffs.add_argument("--staff", help="your name, for the audit trail")
    resume = commands.add_parser("resume")
    resume.add_argument("conversation_id")
    commands.add_parser("flush-spool")
    commands.add_parser("new-key")
    forget = commands.add_parser("forget-deliveries",
                                 help="drop handled Twilio message ids older than --days (cron)")
    forget.add_argument("--days", type=int, default=7)
    args = parser.parse_args(argv)

    if args.command == "new-key":
        print(new_key())
        return 0
    settings = load_settings()
    recorder = recorder_from_settings(settings)
    store = recorder.store
    ensure_schema(store.engine)
    if args.command == "resume":
        from bot.handoff.resume import NotPaused, resume_conversation
        from bot.local_secrets import rasa_api_token

        try:
            # The API's token: RASA_API_TOKEN, or the one `make run` generated under var/.
            resume_conversation(args.conversation_id, settings.rasa_url,
                                rasa_api_token(settings))
        except NotPaused:
            print(f"no paused conversation {args.conversation_id}: nothing resumed",
                  file=sys.stderr)
            return 1
        store.audit(_staff_actor(None), "resume", "conversation", args.conversation_id)
        print("resumed: the assistant answers this conversation again")
        return 0
    if args.command == "migrate":
        print("leads database is at the latest schema")
    elif args.command == "forget-deliveries":
        import datetime as dt

        from bot.messaging.store import messaging_store_for

        # Twilio retries within minutes; a week of ids is plenty to recognise any retry.
        cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=args.days)
        removed = messaging_store_for(settings.database_url).forget_deliveries_before(cutoff)
        print(f"{removed} handled message id(s) older than {args.days} days removed")
    elif args.command == "flush-spool":
        import asyncio

        # Through the handoff service, which texts on-call staff about each handoff landed (a
        # crisis spooled while the database was down must reach a person).
        from bot.handoff import service

        written = asyncio.run(service.flush_spooled())
        print(f"{len(written)} spooled submission(s) written, {recorder.waiting()} waiting")
    elif args.command == "export":
        rows = list(store.export_rows(actor=_staff_actor(args.staff)))
        if args.out:
            # Names, numbers and answers: the file is its owner's alone, like the database.
            descriptor = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(descriptor, 0o600)  # also when it already existed with other modes
            with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as out:
                _write_export(rows, args.format, out)
            # On standard error, so a pipe of the export itself stays clean.
            print(f"{len(rows)} lead(s) written to {args.out} (readable by you only)",
                  file=sys.stderr)
        else:
            _write_export(rows, args.format, sys.stdout)
    elif args.command == "handoffs":
        actor = _staff_actor(args.staff)
        if args.action == "list":
            queue = store.waiting_queue(actor=actor)
            print(f"{len(queue)} waiting")
            for h in queue:
                duplicate = (f"  possible duplicate of lead {h.possible_duplicate_of}"
                             if h.possible_duplicate_of else "")
                # `claim`/`resolve` take the handoff id, `resume` the conversation id.
                print(f"{h.handoff_id}  priority {h.priority.name.lower():12}  "
                      f"{h.created_at:%Y-%m-%d %H:%M}  {h.channel:12} {h.reason:20} "
                      f"{h.care_route or '-':14} {h.first_name or '':12} "
                      f"conversation {h.conversation_id}{duplicate}")
        else:
            if not args.handoff_id:
                parser.error(f"handoffs {args.action} needs a handoff id")
            change = store.claim if args.action == "claim" else store.resolve
            try:
                change(args.handoff_id, actor)
            except HandoffNotFound:
                print(f"no handoff {args.handoff_id}", file=sys.stderr)
                return 1
            except ValueError as error:  # claimed twice, resolved before claimed
                print(str(error), file=sys.stderr)
                return 1
            print(f"handoff {'claimed' if args.action == 'claim' else 'resolved'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
