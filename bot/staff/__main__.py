"""Console accounts: `python -m bot.staff <command>`.

  add-user NAME --role counselor|admin [--display-name FIRST]
                         make an account; prints its one-time password (changed at first login)
  disable NAME           end the account's sessions and refuse its logins
  enable NAME
  reset-password NAME    a new one-time password; the account's sessions end
  list                   accounts, roles and state
"""
from __future__ import annotations

import argparse
import sys

from bot.leads.database import engine_for, ensure_schema
from bot.settings import load_settings
from bot.staff.desk import ROLES, NotFound, Refused, StaffDesk


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.staff", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add-user")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument("--display-name", help="the first name people see (default: from NAME)")
    for command in ("disable", "enable", "reset-password"):
        commands.add_parser(command).add_argument("name")
    commands.add_parser("list")
    args = parser.parse_args(argv)

    engine = engine_for(load_settings().database_url)
    ensure_schema(engine)
    desk = StaffDesk(engine)
    try:
        if args.command == "add-user":
            password = desk.add_user(args.name, args.role, args.display_name)
            print(f"account {args.name.lower()} ({args.role}) made. One-time password, shown "
                  f"only now:\n  {password}\nIt must be changed at first sign-in.")
        elif args.command in ("disable", "enable"):
            desk.set_disabled(args.name, args.command == "disable")
            print(f"account {args.name.lower()} {args.command}d"
                  + (": its sessions have ended" if args.command == "disable" else ""))
        elif args.command == "reset-password":
            password = desk.reset_password(args.name)
            print(f"new one-time password for {args.name.lower()}, shown only now:\n  "
                  f"{password}\nIts sessions have ended; it must be changed at next sign-in.")
        else:
            for account in desk.accounts():
                state = "disabled" if account.disabled else (
                    "must change password" if account.must_change_password else "active")
                print(f"{account.username:24} {account.role:10} {account.display_name:16} "
                      f"{state}")
    except NotFound:
        print(f"no account named {args.name}", file=sys.stderr)
        return 1
    except Refused as refusal:
        print(str(refusal), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
