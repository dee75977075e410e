"""Starting a real, throw-away assistant for the end-to-end tests."""
from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from unittest import mock

import pytest

from bot.settings import load_settings
from scripts.stack import Stack, free_port

API_TOKEN = "test-api-token"
# Every end-to-end test talks from 127.0.0.1, some twenty conversations at once: the
# website's rate limits are off unless a test sets them (tests/test_stack_security.py does).
NO_RATE_LIMITS = {"RATE_LIMIT_IP_PER_MINUTE": "0", "RATE_LIMIT_CONVERSATION_PER_MINUTE": "0",
                  "RATE_LIMIT_NEW_CONVERSATIONS_PER_HOUR": "0"}


# The machine's RabbitMQ; each test declares an exchange and a queue of its own on it.
RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
WAIT_S = 40


def rabbitmq_or_skip() -> None:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
    except OSError:
        if os.environ.get("CI") == "true":
            pytest.fail("no RabbitMQ on 127.0.0.1:5672: CI must have it")
        pytest.skip("no RabbitMQ on 127.0.0.1:5672")


async def delete_exchange_and_queue(name: str) -> None:
    import aio_pika

    connection = await aio_pika.connect_robust(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(name)
        await channel.exchange_delete(name)


def http_status(url: str, timeout_s: float = 2) -> int:
    """The status a GET of the URL gets (a health check's, say), or 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, ConnectionError):
        return 0


def wait_for(condition, what: str, timeout_s: float = WAIT_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"not within {timeout_s:.0f} s: {what}")


def throwaway_stack(workdir: Path, extra_env: dict[str, str] | None = None) -> Stack:
    extra_env = {**NO_RATE_LIMITS, **(extra_env or {})}
    # The settings the stack starts with (Rasa's --cors, say) see the same variables as the
    # servers themselves.
    with mock.patch.dict(os.environ, extra_env):
        settings = dataclasses.replace(
            load_settings().with_var_dir(workdir / "var"),
            rasa_port=free_port(),
            actions_port=free_port(),
            rasa_api_token=API_TOKEN,
        )
    return Stack(settings, log_path=workdir / "stack.log", extra_env=extra_env)


class LocalRedis:
    """A Redis server of a test's own, on a free port and keeping nothing on disk, so that a
    test can stop and restart it without touching the machine's."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, extra_args: list[str] = ()) -> LocalRedis:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", *extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise TimeoutError("the test's Redis did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


class CuttableProxy:
    """A TCP proxy to a real server that a test can cut: while cut, open connections are
    dropped and new ones are closed at once, as when a network path to a database fails."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.cut_off = threading.Event()
        self._open: set[socket.socket] = set()
        self._guard = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        self.cut_off.set()
        with self._guard:
            for connection in list(self._open):
                self._close(connection)

    def restore(self) -> None:
        self.cut_off.clear()

    def close(self) -> None:
        self.cut()
        self._listener.close()

    def _close(self, connection: socket.socket) -> None:
        self._open.discard(connection)
        try:
            connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        connection.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.cut_off.is_set():
                client.close()
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)  # pooled connections sit idle for minutes
            with self._guard:
                self._open.update((client, server))
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        with self._guard:
            self._close(source)
            self._close(sink)
