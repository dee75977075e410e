"""Starting a real, throw-away assistant for the end-to-end tests."""
from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from unittest import mock

from bot.settings import load_settings
from scripts.stack import Stack, free_port

API_TOKEN = "test-api-token"
# Every end-to-end test talks from 127.0.0.1, some twenty conversations at once: the
# website's rate limits are off unless a test sets them (tests/test_stack_security.py does).
NO_RATE_LIMITS = {"RATE_LIMIT_IP_PER_MINUTE": "0", "RATE_LIMIT_CONVERSATION_PER_MINUTE": "0",
                  "RATE_LIMIT_NEW_CONVERSATIONS_PER_HOUR": "0"}


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

    def start(self) -> LocalRedis:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
