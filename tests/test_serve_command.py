"""`make run`'s server: says where to talk to it, answers, and SIGTERM stops both processes."""
import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from bot.settings import PROJECT_ROOT
from scripts.rest_client import WebsiteConversation
from scripts.stack import free_port

pytestmark = pytest.mark.stack


def _refuses(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=3)
    except urllib.error.URLError as error:
        return isinstance(error.reason, ConnectionRefusedError)
    return False


def test_serve_prints_the_address_answers_and_stops_cleanly_on_sigterm(tmp_path):
    rasa_port, actions_port, staff_port = free_port(), free_port(), free_port()
    env = {**os.environ, "RASA_PORT": str(rasa_port), "ACTIONS_PORT": str(actions_port),
           "STAFF_PORT": str(staff_port), "VAR_DIR": str(tmp_path / "var")}
    server = subprocess.Popen(
        [sys.executable, "-m", "scripts.serve"], cwd=PROJECT_ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 300
        printed = []
        while time.monotonic() < deadline:
            line = server.stdout.readline()
            printed.append(line)
            if "The assistant is ready" in line or server.poll() is not None:
                break
        while not printed[-1].startswith("Press Ctrl-C") and time.monotonic() < deadline:
            printed.append(server.stdout.readline())
        # Keep draining so the servers never block on a full pipe.
        later: list[str] = []
        draining = threading.Thread(target=lambda: later.append(server.stdout.read()),
                                    daemon=True)
        draining.start()
        shown = "".join(printed)
        assert f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook" in shown
        sample_url = f"http://127.0.0.1:{rasa_port}/webhooks/website/sample"
        assert sample_url in shown
        # Where the HTTP API's generated token is, and nothing but that in it: private.
        token_file = tmp_path / "var" / "rasa-api.token"
        assert str(token_file) in shown
        assert token_file.stat().st_mode & 0o777 == 0o600
        # Nobody is texted about handoffs without ONCALL_STAFF_NUMBERS, and it says so.
        assert "Staff alerts: off (ONCALL_STAFF_NUMBERS unset)" in shown
        # A newcomer's first screen: the ready message, not third-party deprecation notices.
        assert "Warning" not in shown, shown

        base_url = f"http://127.0.0.1:{rasa_port}"
        assert "automated assistant" in WebsiteConversation(base_url).texts("hi")[0]
        with urllib.request.urlopen(sample_url, timeout=10) as page:
            assert 'src="widget.js"' in page.read().decode()
        with urllib.request.urlopen(base_url + "/webhooks/website/widget.js", timeout=10) as js:
            assert js.status == 200 and b"WIDGET_CONFIG" in js.read()
        assert (tmp_path / "var" / "tracker.db").exists()  # history in embedded SQLite

        # The staff console runs beside it, with a first admin whose password is shown once
        # and signs in.
        password = re.search(r"username admin, one-time password (\S+)", shown).group(1)
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(
            http.cookiejar.CookieJar()))
        signed = opener.open(f"http://127.0.0.1:{staff_port}/login", data=urllib.parse.urlencode(
            {"username": "admin", "password": password}).encode(), timeout=10)
        assert signed.url.endswith("/password") and "Change your password" in signed.read().decode()

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        draining.join(timeout=10)
        # Stopped, not torn down: no background task (the spool's retry timer, a staff text)
        # left running for the loop to destroy, which an operator reads as a failure.
        assert "Task was destroyed but it is pending" not in "".join(later)
        assert _refuses(f"{base_url}/")
        assert _refuses(f"http://127.0.0.1:{staff_port}/health")
        assert _refuses(f"http://127.0.0.1:{actions_port}/health")
    finally:
        if server.poll() is None:
            server.kill()


def test_make_run_says_whether_the_phone_channels_are_on():
    import dataclasses

    from bot.settings import load_settings
    from scripts.serve import phone_channels_status

    off = dataclasses.replace(load_settings(), twilio_account_sid=None, twilio_auth_token=None)
    assert phone_channels_status(off).startswith("SMS and voice channels: off")
    on = dataclasses.replace(off, twilio_account_sid="AC1", twilio_auth_token="t",
                             twilio_number="+13125550100",
                             public_base_url="https://help.example.org")
    status = phone_channels_status(on)
    assert "https://help.example.org/webhooks/twilio_sms/webhook" in status
    assert "https://help.example.org/webhooks/twilio_voice/status" in status


def test_serve_refuses_to_start_on_a_broken_profile_and_says_why(tmp_path):
    broken = tmp_path / "profile.yml"
    broken.write_text((PROJECT_ROOT / "bot" / "facility_profile.yml").read_text(
        encoding="utf-8").replace("- 2027-01-01", "- 2027-02-30"), encoding="utf-8")
    env = {**os.environ, "FACILITY_PROFILE": str(broken), "RASA_PORT": str(free_port()),
           "VAR_DIR": str(tmp_path / "var")}
    done = subprocess.run([sys.executable, "-m", "scripts.serve"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "closed_dates" in done.stderr and "2027-02-30" in done.stderr
    assert "Starting the assistant" not in done.stdout
