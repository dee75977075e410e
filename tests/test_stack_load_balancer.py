"""deploy/haproxy.cfg itself, in front of two stand-in instances that echo what they receive."""
from __future__ import annotations

import http.server
import json
import os
import subprocess
import threading
import time
import urllib.request

import pytest

from scripts.cluster import HAPROXY_CONFIG, haproxy_binary
from scripts.stack import free_port, wait_until_up
from tests.stack_helpers import http_status

pytestmark = pytest.mark.stack


class Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = json.dumps({"instance": self.server.name,
                           "forwarded_for": self.headers.get_all("X-Forwarded-For")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def balancer():
    instances = []
    for name in ("a", "b"):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Echo)
        server.name = name
        threading.Thread(target=server.serve_forever, daemon=True).start()
        instances.append(server)
    port, api_port = free_port(), free_port()
    env = {**os.environ, "CLUSTER_BIND": "127.0.0.1", "CLUSTER_PORT": str(port),
           "CLUSTER_API_PORT": str(api_port),
           "RASA_A_PORT": str(instances[0].server_port),
           "RASA_B_PORT": str(instances[1].server_port)}
    process = subprocess.Popen([haproxy_binary(), "-db", "-f", str(HAPROXY_CONFIG)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/", 30, process)
        time.sleep(2.5)  # both instances pass their health checks
        yield f"http://127.0.0.1:{port}", instances, f"http://127.0.0.1:{api_port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        for server in instances:
            server.shutdown()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[dict, str]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read()), answer.headers.get("Set-Cookie") or ""


def test_a_visitor_cannot_pose_as_another_address(balancer):
    url, _, _ = balancer
    seen, _ = get(f"{url}/webhooks/rest/webhook",
                  headers={"X-Forwarded-For": "203.0.113.9, 198.51.100.7"})
    assert seen["forwarded_for"] == ["127.0.0.1"]


def test_requests_without_the_cookie_are_spread_and_with_it_stay_on_one_instance(balancer):
    url, _, _ = balancer
    spread = {get(f"{url}/socket.io/")[0]["instance"] for _ in range(6)}
    assert spread == {"a", "b"}
    first, cookie = get(f"{url}/socket.io/")
    assert "IOP_INSTANCE=" in cookie and "HttpOnly" in cookie
    sticky = {get(f"{url}/socket.io/", headers={"Cookie": cookie.split(";")[0]})[0]["instance"]
              for _ in range(6)}
    assert sticky == {first["instance"]}


def test_the_public_door_serves_the_channels_and_not_rasas_http_api(balancer):
    url, _, api_url = balancer
    for channel in ("/", "/webhooks/rest/webhook", "/webhooks/website/sample", "/socket.io/"):
        assert http_status(url + channel) == 200, channel
    for private in ("/conversations/someone/tracker?token=x", "/model", "/status?token=x",
                    "/version", "/webhooks", "/Conversations/someone/tracker",
                    "/%2Fconversations/x"):
        assert http_status(url + private) == 404, private
    # On this machine's own door, the console reaches the API (which still wants its token).
    assert http_status(api_url + "/conversations/someone/tracker?token=x") == 200
