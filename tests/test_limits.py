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
    ("not an address", "not an address"),
])
def test_limits_count_one_ipv4_address_or_one_ipv6_network(address, counted_as):
    assert address_for_limits(address) == counted_as
