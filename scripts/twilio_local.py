"""Signed Twilio webhooks and a local stand-in for the Twilio REST API (tests and `make bench`).

Nothing here talks to Twilio: requests are signed with the official SDK exactly as Twilio
signs them, and the SDK's outbound calls are answered by `FakeTwilioApi` on localhost.
"""
from __future__ import annotations

import json
import threading
import urllib.parse
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-auth-token-not-a-secret"
HELPLINE = "+15550104400"
PUBLIC_BASE_URL = "https://help.example.org"


def signed_post(server_url: str, path: str, params: dict[str, str],
                token: str = AUTH_TOKEN, public_base: str = PUBLIC_BASE_URL,
                signature: str | None = None) -> requests.Response:
    """POSTs a form to our server as Twilio would, signed over the public URL it was sent to."""
    if signature is None:
        signature = RequestValidator(token).compute_signature(public_base + path, params)
    return requests.post(server_url + path, data=params, timeout=60,
                         headers={"X-Twilio-Signature": signature})


def sms_params(phone: str, body: str, sid: str, **extra: str) -> dict[str, str]:
    return {"MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT_SID, "From": phone,
            "To": HELPLINE, "Body": body, "NumMedia": "0", **extra}


def twiml_messages(response: requests.Response) -> list[str]:
    """The <Message> bodies of an SMS TwiML answer (parsed, so malformed XML fails)."""
    root = ElementTree.fromstring(response.text)
    if root.tag != "Response":
        raise ValueError(f"TwiML root is <{root.tag}>, not <Response>")
    return [message.text or "" for message in root.iter("Message")]


@dataclass
class FakeTwilioApi:
    """Answers what the SDK sends to api.twilio.com, and records every request."""

    requests: list[dict] = field(default_factory=list)
    fail_next: int = 0

    def __enter__(self) -> FakeTwilioApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                api.requests.append({"path": self.path, "form": form,
                                     "auth": self.headers.get("Authorization", "")})
                if api.fail_next:
                    api.fail_next -= 1
                    self._reply(500, {"code": 20500, "message": "Internal error", "status": 500})
                    return
                self._reply(201, {"sid": f"SM{len(api.requests):032d}", "status": "queued",
                                  "to": form.get("To"), "from": form.get("From"),
                                  "body": form.get("Body")})

            def _reply(self, status: int, payload: dict) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def texts_to(self, phone: str) -> list[str]:
        return [r["form"]["Body"] for r in self.requests
                if r["path"].endswith("/Messages.json") and r["form"].get("To") == phone]

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def twilio_environment(api: FakeTwilioApi, var_dir) -> dict[str, str]:
    return {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_NUMBER": HELPLINE, "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "TWILIO_API_BASE_URL": api.url, "ADMISSIONS_PHONE": "+15550104499",
        "CONVERSATION_ID_SECRET": "test-conversation-secret",
        "DATABASE_URL": f"sqlite:///{var_dir}/leads.db", "VAR_DIR": str(var_dir),
        "LEAD_SPOOL_DIR": str(var_dir / "spool"),
    }
