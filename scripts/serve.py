"""`make run`: serves the assistant in the foreground until Ctrl-C or SIGTERM."""
from __future__ import annotations

import signal
import sys
import time
from urllib.parse import urlsplit

from bot.facility import FacilityProfileError, load_profile
from bot.messaging.twilio_api import twilio_configured
from bot.settings import DEFAULT_RASA_PORT, DEFAULT_VAR_DIR, Settings, load_settings
from scripts.stack import Stack


def phone_channels_status(settings: Settings) -> str:
    """What `make run` says about the Twilio SMS and voice channels."""
    if not twilio_configured(settings):
        return ("SMS and voice channels: off (set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, "
                "TWILIO_NUMBER, ADMISSIONS_PHONE and PUBLIC_BASE_URL to turn them on; see "
                ".env.example).")
    base = settings.public_base_url or (
        "<PUBLIC_BASE_URL unset: signatures checked against the URL this server sees>")
    return (f"SMS and voice channels: on. Point the Twilio number at\n"
            f"  {base}/webhooks/twilio_sms/webhook (messaging)\n"
            f"  {base}/webhooks/twilio_voice/webhook (voice), status callback "
            f"{base}/webhooks/twilio_voice/status")


def staff_alerts_status(settings: Settings) -> str:
    """Whether anyone is texted when a person asks for a counselor."""
    if not settings.oncall_staff_numbers:
        return ("Staff alerts: off (ONCALL_STAFF_NUMBERS unset): nobody is texted; handoffs "
                f"wait in the staff console's queue, {settings.staff_url}/queue.")
    if not twilio_configured(settings):
        return "Staff alerts: off until Twilio is configured (see .env.example)."
    return f"Staff alerts: on, to {len(settings.oncall_staff_numbers)} on-call number(s)."


def widget_embedding(settings: Settings, rasa_url: str) -> str:
    """How a center puts the chat on its own site, and which sites may."""
    sites = (", ".join(settings.website_origins) if settings.website_origins
             else "none yet: set WEBSITE_ORIGINS to your site's origin (see .env.example)")
    return (f"On your own site, one tag adds it:\n"
            f'  <script src="{rasa_url}/webhooks/website/widget.js" data-accent="#1d5c87" '
            f'data-launcher-text="Chat with us" defer></script>\n'
            f"Sites allowed to embed it: {sites}.")


def chat_command(settings: Settings) -> str:
    """`make chat`, with the settings this server runs on, so the chat finds it."""
    overrides = [f"{name}={value}" for name, value, default in (
        ("RASA_PORT", settings.rasa_port, DEFAULT_RASA_PORT),
        ("VAR_DIR", settings.var_dir, DEFAULT_VAR_DIR)) if value != default]
    return " ".join([*overrides, "make chat"])


def api_status(settings: Settings, rasa_url: str) -> str:
    """Where the HTTP API's token is: it never answers without one."""
    where = ("RASA_API_TOKEN" if settings.rasa_api_token
             else f"{settings.rasa_api_token_path} (generated, readable by you only)")
    listening = ("this machine only" if settings.rasa_host in ("127.0.0.1", "localhost", "::1")
                 else f"interface {settings.rasa_host}")
    return (f"HTTP API (conversations, model): {rasa_url}/...?token=<token>, token in {where}.\n"
            f"Listening on {listening}; set RASA_HOST for a reverse proxy (see .env.example).")


def staff_command(settings: Settings) -> str:
    """The staff CLI, with the settings this server runs on, so it finds the same database."""
    overrides = [f"{name}={value}" for name, value, default in (
        ("VAR_DIR", settings.var_dir, DEFAULT_VAR_DIR),) if value != default]
    if not settings.database_url.startswith("sqlite"):
        # A leads database the CLI would not find by itself (the cluster's). A URL with a
        # password is never printed: the operator has it already.
        shown = settings.database_url if urlsplit(settings.database_url).password is None \
            else "<the leads database URL>"
        overrides.append(f"DATABASE_URL={shown}")
    return " ".join([*overrides, ".venv/bin/python -m bot.staff"])


def console_status(settings: Settings) -> str:
    """Where the staff console is, and, on its very first start, the admin's one-time password
    (printed this once; it must be changed at first sign-in)."""
    from bot.leads.database import engine_for, ensure_schema
    from bot.staff.desk import StaffDesk

    engine = engine_for(settings.database_url)
    ensure_schema(engine)
    first = StaffDesk(engine).ensure_first_admin()
    lines = [f"Staff console: {settings.staff_url}/ (this machine only; STAFF_HOST for a proxy)."]
    if first:
        lines.append(f"  First admin account: username {first[0]}, one-time password {first[1]}"
                     "\n  (shown only now; you choose your own at first sign-in). More "
                     f"accounts: `{staff_command(settings)} add-user NAME --role counselor`.")
    return "\n".join(lines)


def main() -> int:
    settings = load_settings()
    try:
        # Every reply is filled from the profile: a mistake in it is named now, not found by
        # the first person who writes in.
        load_profile(settings.facility_profile_path)
    except (FacilityProfileError, OSError) as error:
        print(f"The facility profile cannot be used: {error}\n"
              "Run `.venv/bin/python -m bot.facility_check` for details.", file=sys.stderr)
        return 2
    stack = Stack(settings, with_console=True)
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    print(f"Starting the assistant (Rasa on port {settings.rasa_port}, "
          f"actions on port {settings.actions_port}, staff console on port "
          f"{settings.staff_port}); this takes about a minute...", flush=True)
    stack.start()
    print(
        "\nThe assistant is ready. Open the website chat in a browser, on a sample page of the "
        "center:\n"
        f"  {stack.rasa_url}/webhooks/website/sample\n"
        f"{widget_embedding(settings, stack.rasa_url)}\n"
        "Or talk to it over the REST channel:\n"
        f"  curl -s -X POST {stack.rasa_url}/webhooks/rest/webhook \\\n"
        "       -H 'Content-Type: application/json' -d '{\"message\": \"hi\"}'\n"
        "(the reply's recipient_id is your conversation id: send it as \"sender\" next time),\n"
        f"or run `{chat_command(settings)}` in another terminal.\n"
        f"{api_status(settings, stack.rasa_url)}\n"
        f"{phone_channels_status(settings)}\n"
        f"{staff_alerts_status(settings)}\n"
        f"{console_status(settings)}\n"
        "Press Ctrl-C to stop.\n",
        flush=True,
    )
    try:
        while not stopping and not stack.any_exited():
            time.sleep(0.5)
    finally:
        print("Stopping the assistant...", flush=True)
        stack.stop()
    if not stopping:
        print("A server process exited unexpectedly; see the log above.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
