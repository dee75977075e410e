"""Paths the Rasa server refuses before routing (connectors/limits.py, is_ambiguous_path)."""
from __future__ import annotations

import pytest

from connectors.limits import address_for_limits, is_ambiguous_path


@pytest.mark.parametrize("path", [
    "/", "/socket.io/", "/webhooks/rest/webhook", "/webhooks/website/sample",
    "/conversations/web-Zx_3.sig/tracker", "/conversations/twilio_sms-0a1b/tracker/events",
    "/conversations/sms%3A%2B15550100/tracker", "/model/parse",
])
def test_every_path_the_channels_and_the_console_use_goes_through(path):
    assert not is_ambiguous_path(path)


@pytest.mark.parametrize("path", [
    "/conversations/../webhooks/x/tracker", "/conversations/%2e%2e/webhooks/x/tracker",
    "/conversations/%2E./webhooks/x", "/conversations/..%2Fwebhooks/x/tracker",
    "/conversations/..%5Cwebhooks/x", "/conversations/..\\webhooks/x", "/webhooks/./rest",
    "/conversations//tracker", "//conversations/x/tracker", "/webhooks/rest/%2e",
])
def test_a_path_proxies_and_the_server_could_read_differently_is_refused(path):
    assert is_ambiguous_path(path)


@pytest.mark.parametrize("address, counted_as", [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
    ("[2001:db8:1:2::1]", "2001:db8:1:2::/64"),
    ("::ffff:203.0.113.7", "203.0.113.7"),  # an IPv4 visitor on a dual-stack socket
    ("fe80::1%eth0", "fe80::/64"),
    # Written with a port by some proxies: each source port is not an allowance of its own.
    ("203.0.113.7:51234", "203.0.113.7"),
    ("[2001:db8:1:2::1]:443", "2001:db8:1:2::/64"),
    ('for="[2001:db8:1:2::1]:4711"', "2001:db8:1:2::/64"),
    # IPv4 visitors through a translator: each by their own address, not all as one.
    ("64:ff9b::198.51.100.7", "198.51.100.7"),
    ("64:ff9b::203.0.113.9", "203.0.113.9"),
    ("2002:cb00:7107::1", "203.0.113.7"),  # 6to4
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "192.0.2.45"),  # Teredo
    ("not an address", "not an address"),
])
def test_limits_count_one_ipv4_address_or_one_ipv6_network(address, counted_as):
    assert address_for_limits(address) == counted_as
