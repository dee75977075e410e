"""What keeps the console closed: signed idle-expiring sessions, CSRF tokens, login throttles,
and the headers every response carries.

The session lives in a signed cookie (HttpOnly, SameSite=Strict) holding the account id, a
CSRF token and when it was signed. It is signed again on every request, so it lapses after the
idle time; a password reset or a disabled account ends every session signed before it.
"""
from __future__ import annotations

import datetime as dt
import hmac
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.rate_limit import SlidingWindowLimiter

SESSION_COOKIE = "console_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
# Five tries per account and thirty per address in fifteen minutes: a person mistyping a
# password gets there; a password-guessing script does not.
LOGIN_TRIES_PER_ACCOUNT = 5
LOGIN_TRIES_PER_ADDRESS = 30
LOGIN_WINDOW_S = 15 * 60

# No inline script or style anywhere: every script and stylesheet is a file served here.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; "
                           "img-src 'self'; connect-src 'self'; media-src 'self'; "
                           "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}
# A session ends this long after its sign-in, even when it was never idle.
MAX_SESSION_SECONDS = 12 * 3600
# Every page may show PHI (names, answers, transcripts): nothing is cached, anywhere.
NO_STORE = "no-store"


@dataclass(frozen=True)
class ConsoleSession:
    user_id: str
    csrf_token: str
    # When the person logged in (seconds since the epoch, UTC): a sign-out, password change,
    # reset or disable after it ends it.
    logged_in_at: float

    def predates(self, moment: dt.datetime) -> bool:
        return self.logged_in_at < moment.timestamp()


class SessionSigner:
    def __init__(self, secret: str, idle_minutes: int, secure: bool):
        self._serializer = URLSafeTimedSerializer(secret, salt="staff-console-session")
        self.idle_seconds = idle_minutes * 60
        self.secure = secure

    def read(self, request: Request) -> ConsoleSession | None:
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw or len(raw) > 1024:
            return None
        try:
            data = self._serializer.loads(raw, max_age=self.idle_seconds)
        except BadSignature:  # also an expired one (SignatureExpired is a BadSignature)
            return None
        if not isinstance(data, dict) or not isinstance(data.get("u"), str) \
                or not isinstance(data.get("c"), str) or type(data.get("l")) is not float:
            return None
        session = ConsoleSession(data["u"], data["c"], data["l"])
        if time.time() - session.logged_in_at > MAX_SESSION_SECONDS:
            return None  # however busy, a sign-in lasts one shift
        return session

    def write(self, response: Response, session: ConsoleSession) -> None:
        value = self._serializer.dumps({"u": session.user_id, "c": session.csrf_token,
                                        "l": session.logged_in_at})
        response.set_cookie(SESSION_COOKIE, value, max_age=self.idle_seconds, path="/",
                            httponly=True, samesite="strict", secure=self.secure)

    def clear(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                               secure=self.secure)


def new_session(user_id: str) -> ConsoleSession:
    return ConsoleSession(user_id, secrets.token_urlsafe(24),
                          dt.datetime.now(dt.timezone.utc).timestamp())


def csrf_matches(session: ConsoleSession, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf_token.encode(),
                                              str(sent).encode("utf-8", "replace"))


class LoginThrottle:
    """Limits wrong passwords per account and per address; past either limit, wait.

    Each try is counted before its password is checked, so guesses sent all at once cannot
    slip past the limit while the (slow) checks run; a right password gives its count back,
    so a counselor signing in and out all day is never locked out. Past the limit the
    password is not tried at all, so a locked account tells nothing.
    """

    def __init__(self, per_account: int = LOGIN_TRIES_PER_ACCOUNT,
                 per_address: int = LOGIN_TRIES_PER_ADDRESS, window_s: float = LOGIN_WINDOW_S):
        self._accounts = SlidingWindowLimiter(per_account, window_s)
        self._addresses = SlidingWindowLimiter(per_address, window_s)

    @staticmethod
    def _account_key(username: str) -> str:
        return username.strip().lower()[:64]

    def attempt(self, username: str, address: str) -> int | None:
        """Counts a try; None when it may go ahead, else the seconds to wait."""
        by_address = self._addresses.retry_after(address)
        if by_address is not None:
            return by_address
        by_account = self._accounts.retry_after(self._account_key(username))
        if by_account is not None:
            self._addresses.refund(address)
            return by_account
        return None

    def succeeded(self, username: str, address: str) -> None:
        self._addresses.refund(address)
        self._accounts.refund(self._account_key(username))


class SecurityHeaders:
    """Adds the security headers and no-store caching to every response (errors included)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.decode("latin-1").lower() not in SECURITY_HEADERS]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                if not scope["path"].startswith("/static/"):
                    headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
                    headers.append((b"cache-control", NO_STORE.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
