"""What the SMS and voice connectors share: settings, signature checks, the caller's number.

Both accept a request only when its X-Twilio-Signature matches, computed by the official
SDK's RequestValidator over the public URL Twilio called (PUBLIC_BASE_URL plus path and query,
since behind a proxy the server sees another scheme, host or port) and the POSTed form.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qs

from rasa.core.channels.channel import CollectingOutputChannel
from sanic import Blueprint, response
from sanic.request import Request, RequestParameters
from sanic.response import HTTPResponse
from twilio.request_validator import RequestValidator

from bot.local_secrets import conversation_id_secret
from bot.messaging.pseudonym import conversation_id_for
from bot.messaging.store import MessagingStore, messaging_store_for
from bot.messaging.twilio_api import twilio_configured
from bot.prescreen.validation import parse_us_phone
from bot.settings import Settings, load_settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TwilioChannelConfig:
    settings: Settings
    secret: bytes  # keys the pseudonymous conversation ids
    store: MessagingStore

    @property
    def auth_token(self) -> str:
        return self.settings.twilio_auth_token or ""

    @property
    def public_base_url(self) -> str | None:
        return self.settings.public_base_url


@lru_cache(maxsize=1)
def channel_config() -> TwilioChannelConfig | None:
    """None when Twilio credentials are unset: the phone channels then answer 503."""
    settings = load_settings()
    if not twilio_configured(settings):
        return None
    return TwilioChannelConfig(settings, conversation_id_secret(settings),
                               messaging_store_for(settings.database_url))


def public_url_of(request: Request, public_base_url: str | None) -> str:
    """The URL Twilio signed: the configured public base, this request's path and query."""
    if not public_base_url:
        return request.url
    query = f"?{request.query_string}" if request.query_string else ""
    return f"{public_base_url}{request.path}{query}"


def twilio_form(request: Request) -> RequestParameters:
    """The POSTed parameters, blank ones included.

    Twilio signs every parameter, an empty Body too; Sanic's `request.form` drops blank
    values, which would make a picture with no text fail its signature check.
    """
    if not hasattr(request.ctx, "twilio_form"):
        try:
            request.ctx.twilio_form = RequestParameters(
                parse_qs(request.body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            request.ctx.twilio_form = RequestParameters()
    return request.ctx.twilio_form


def is_signed_by_twilio(request: Request, config: TwilioChannelConfig) -> bool:
    signature = request.headers.get("X-Twilio-Signature")
    if not signature:
        return False
    return RequestValidator(config.auth_token).validate(
        public_url_of(request, config.public_base_url), twilio_form(request), signature)


def genuine_request_config(request: Request, channel: str) -> TwilioChannelConfig | HTTPResponse:
    """The channel's settings for a request Twilio signed, or the response that refuses it:
    503 while Twilio is not configured, 403 for a missing or wrong signature."""
    config = channel_config()
    if config is None:
        return response.text(f"{channel} channel not configured", status=503)
    if not is_signed_by_twilio(request, config):
        logger.warning("%s: rejected a request without a valid signature", channel)
        return response.text("invalid signature", status=403)
    return config


def add_health_route(blueprint: Blueprint) -> None:
    @blueprint.route("/", methods=["GET"])
    async def health(_: Request) -> HTTPResponse:
        return response.json({"status": "ok" if channel_config() else "not configured"})


def form_value(request: Request, name: str) -> str:
    return twilio_form(request).get(name) or ""


def caller_of(request: Request) -> str | None:
    """The sender's E.164 number, or None for withheld, short-code or foreign numbers."""
    return parse_us_phone(form_value(request, "From"))


async def conversation_for(config: TwilioChannelConfig, channel: str, phone: str) -> str:
    """The pseudonymous conversation id, with its number kept in the leads database."""
    conversation_id = conversation_id_for(channel, phone, config.secret)
    try:
        await asyncio.to_thread(config.store.remember_contact, conversation_id, channel, phone)
    except Exception as error:  # the conversation goes on; the pre-screen then asks the number
        logger.warning("could not record the conversation's number (%s)", type(error).__name__)
    return conversation_id


async def is_first_delivery(config: TwilioChannelConfig, delivery_id: str, channel: str) -> bool:
    """False for a Twilio retry of something already answered.

    With the database down every delivery counts as new: a possible duplicate reply is
    better than a person's message going unanswered.
    """
    if not delivery_id:
        return True
    try:
        return await asyncio.to_thread(config.store.first_delivery, delivery_id, channel)
    except Exception as error:
        logger.warning("delivery record unavailable (%s); treating as new", type(error).__name__)
        return True


class NamedCollectingOutputChannel(CollectingOutputChannel):
    """Collects replies under the channel's own name, so channel variants of responses apply."""

    def __init__(self, channel_name: str):
        super().__init__()
        self._channel_name = channel_name

    def name(self) -> str:  # type: ignore[override]
        return self._channel_name
