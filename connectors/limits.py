"""What every channel lets through to the assistant: how much text, how often, from whom.

A public website channel answers strangers. Each one gets a per-address and a per-conversation
message rate (429 with Retry-After past it), counted once for all instances of a cluster
(bot/shared_rate_limit.py), and no message reaches NLU longer than the longest text Twilio
delivers.
"""
from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from urllib.parse import unquote

from sanic.request import Request

from bot.local_secrets import conversation_id_secret
from bot.settings import Settings, load_settings
from bot.shared_rate_limit import SharedRateLimiter

# Twilio joins a long text into one message of up to 1,600 characters; no channel passes
# NLU more than that. The crisis net still reads the whole message (connectors/safety.py).
MAX_MESSAGE_CHARS = 1600


# Rasa strips a message, then reads one starting with "/" as a command: "/ /request_human"
# must lose every slash and blank in front, not just the first.
_LEADING_SLASHES = re.compile(r"^[\s/]+")


def clean_text(text: str) -> str:
    """The message as a string every later step can encode: JSON lets a client send a lone
    surrogate ("\ud800"), which is no character and would fail the crisis net's matching."""
    return text.encode("utf-8", "replace").decode("utf-8")


def text_for_nlu(text: str) -> str:
    """The text the assistant reads: cut to the limit, and never a Rasa command.

    Rasa reads a message starting with "/" as an intent with entities ("/request_human",
    '/affirm{"ps_phone": ...}'), which would let anyone skip the classifier and the crisis
    guard or set answers directly. People never mean that; the slashes are dropped.
    """
    return _LEADING_SLASHES.sub("", clean_text(text))[:MAX_MESSAGE_CHARS]


def client_address(request: Request, settings: Settings) -> str:
    """The visitor's address as the limits count it: the socket peer, or behind a proxy the
    header it sets.

    With X-Forwarded-For the last address is used: earlier ones are whatever the client
    chose to send, the last was added by our own proxy.
    """
    header = settings.client_ip_header
    if header:
        value = request.headers.get(header, "")
        if value:
            return address_for_limits(value.split(",")[-1].strip()[:64])
    return address_for_limits(request.ip or "unknown")


def address_for_limits(address: str) -> str:
    """One IPv4 address, or one IPv6 /64 network.

    A home or a cloud server gets a whole /64 and may send from any of its 2**64 addresses:
    counted one by one, a script would pass every limit by changing address each message.
    An IPv4 visitor reaching us through a translator (NAT64, 6to4, Teredo) is counted by the
    IPv4 address inside, not with everyone else behind the same translator.
    """
    parsed = _parsed_address(address)
    if parsed is None:  # a proxy header that holds no address: counted as it is
        return address
    if parsed.version == 6:
        inside = _ipv4_inside(parsed)
        if inside is not None:
            return str(inside)
        return str(ipaddress.ip_network(f"{ipaddress.IPv6Address(int(parsed))}/64",
                                        strict=False))
    return str(parsed)


# Some proxies write the port too, or RFC 7239's quoted form: 203.0.113.7:51234,
# [2001:db8::1]:443, for="[2001:db8::1]:4711". Each source port must not be an allowance.
_PORT_AFTER_IPV4 = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3}):\d+$")
_BRACKETED_IPV6 = re.compile(r"^\[([0-9A-Fa-f:.]+(?:%[^\]]*)?)\](?::\d+)?$")
_NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


def _parsed_address(address: str):
    text = address.strip()
    if text[:4].lower() == "for=":
        text = text[4:]
    text = text.strip('"')
    bracketed = _BRACKETED_IPV6.match(text)
    if bracketed:
        text = bracketed.group(1)
    else:
        with_port = _PORT_AFTER_IPV4.match(text)
        if with_port:
            text = with_port.group(1)
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _ipv4_inside(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:  # an IPv4 visitor on a dual-stack socket
        return address.ipv4_mapped
    if address in _NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's own (public) address
    return None


def _limiter(name: str, limit: int, window_s: float) -> SharedRateLimiter:
    settings = load_settings()
    return SharedRateLimiter(name, limit, window_s, settings.redis_url,
                             conversation_id_secret(settings))


@lru_cache(maxsize=1)
def per_address_limiter() -> SharedRateLimiter:
    return _limiter("address", load_settings().rate_limit_ip_per_minute, 60)


@lru_cache(maxsize=1)
def per_conversation_limiter() -> SharedRateLimiter:
    return _limiter("conversation", load_settings().rate_limit_conversation_per_minute, 60)


@lru_cache(maxsize=1)
def new_conversations_limiter() -> SharedRateLimiter:
    """New conversations an address may open an hour: each is stored, and each may ask for a
    person, which texts on-call staff."""
    return _limiter("new-conversations",
                    load_settings().rate_limit_new_conversations_per_hour, 3600)


def is_ambiguous_path(raw_path: str) -> bool:
    """A "." or ".." segment (plain or percent-encoded), or an empty segment inside the path:
    a path one proxy reads one way and the server another. The first and last segments may be
    empty ("/", "/socket.io/")."""
    # Decoded first: a proxy that decodes %2F and %5C before normalising reads
    # "/x/..%2Fwebhooks" as "/x/../webhooks", and some read a backslash as a slash.
    segments = unquote(raw_path).replace("\\", "/").split("/")
    return "" in segments[1:-1] or any(segment in (".", "..") for segment in segments)
