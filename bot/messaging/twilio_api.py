"""The official Twilio client, built from settings, and the outbound sender that uses it."""
from __future__ import annotations

import logging
import re
from functools import lru_cache

from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from bot.facility import readable_profile
from bot.messaging.outbound import OutboundSms, SmsTransport
from bot.messaging.store import messaging_store_for
from bot.settings import Settings

_TWILIO_HOST = re.compile(r"^https://[a-z0-9.-]*twilio\.com")


class RedirectedHttpClient(TwilioHttpClient):
    """The SDK's own HTTP client, sending to another base URL.

    For tests and benchmarks only (TWILIO_API_BASE_URL): a local server stands in for
    api.twilio.com, and every request the SDK would make reaches it unchanged but for the host.
    """

    def __init__(self, base_url: str, **kwargs):
        super().__init__(**kwargs)
        self._base_url = base_url.rstrip("/")

    def request(self, method, url, *args, **kwargs):
        return super().request(method, _TWILIO_HOST.sub(self._base_url, url), *args, **kwargs)


def twilio_configured(settings: Settings) -> bool:
    return bool(settings.twilio_account_sid and settings.twilio_auth_token
                and settings.twilio_number)


@lru_cache(maxsize=4)
def _client(account_sid: str, auth_token: str, api_base_url: str | None) -> Client:
    # The SDK logs every request's URL and headers at INFO; our logs carry outcomes only.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
    http_client = RedirectedHttpClient(api_base_url, timeout=10) if api_base_url else \
        TwilioHttpClient(timeout=10)
    return Client(account_sid, auth_token, http_client=http_client)


def twilio_transport(settings: Settings) -> SmsTransport | None:
    if not twilio_configured(settings):
        return None
    client = _client(settings.twilio_account_sid, settings.twilio_auth_token,
                     settings.twilio_api_base_url)
    from_number = settings.twilio_number

    def send(to: str, body: str) -> None:
        client.messages.create(to=to, from_=from_number, body=body)

    return send


def outbound_from_settings(settings: Settings) -> OutboundSms:
    # Staff alerts still go out when the profile cannot be read. They are exempt from quiet
    # hours, so the zone (Central then) decides nothing for them; the console, whose texts
    # are checked, builds its own sender from the profile when it starts.
    profile = readable_profile(settings.facility_profile_path)
    return OutboundSms(twilio_transport(settings), messaging_store_for(settings.database_url),
                       fallback_zone=profile.timezone if profile else "America/Chicago")
