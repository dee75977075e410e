"""Starts and stops the assistant's processes (Rasa server, action server, staff console).

Shared by `make run`, the end-to-end tests and the benchmark, so all three run the
assistant exactly the same way.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bot.local_secrets import action_server_token, ensure_private_dir, rasa_api_token
from bot.settings import PROJECT_ROOT, Settings

MODEL_PATH = PROJECT_ROOT / "models" / "assistant.tar.gz"
VENV_BIN = Path(sys.executable).parent

# TensorFlow would otherwise size its thread pools to the machine and fight the event loop
# for the 2 cores: one op at a time, each op using both cores. The sentence encoder's NumPy
# products are too small to gain from threads, so OpenBLAS gets one.
THREAD_LIMITS = {
    "TF_INTER_OP_PARALLELISM_THREADS": "1",
    "TF_INTRA_OP_PARALLELISM_THREADS": "2",
    "OPENBLAS_NUM_THREADS": "1",
}


# Rasa's Sanic app takes its settings from SANIC_* variables. Nothing legitimate posts more
# than this to it (the website channel caps its own bodies far lower): a 100 MB body is
# refused while it arrives, not held in memory.
RASA_MAX_BODY_BYTES = 1024 * 1024


def stack_environment(settings: Settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(THREAD_LIMITS)
    env.update(
        {
            "PYTHONPATH": str(PROJECT_ROOT),
            "RASA_TELEMETRY_ENABLED": "false",
            "SANIC_REQUEST_MAX_SIZE": str(RASA_MAX_BODY_BYTES),
            # Rasa's structlog lines as JSON even on a terminal: bot/log_redaction.py keeps
            # their event names and drops every field (texts, slot values, tracebacks' locals).
            "FORCE_JSON_LOGGING": "1",
            "ACTIONS_PORT": str(settings.actions_port),
            "ACTIONS_HOST": settings.actions_host,
            "ACTION_SERVER_TOKEN": action_server_token(settings),
            # In the environment, which only the owner can read (/proc/<pid>/environ), never
            # on a command line, which every user's `ps` lists.
            "RASA_API_TOKEN": rasa_api_token(settings),
            "TRACKER_DB": str(settings.var_dir / "tracker.db"),
            "VAR_DIR": str(settings.var_dir),
            "DATABASE_URL": settings.database_url,
            "LEAD_SPOOL_DIR": str(settings.lead_spool_dir),
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
    )
    env.update(extra or {})
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(url: str, timeout_s: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process for {url} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout_s:.0f}s")


@dataclass
class Stack:
    settings: Settings
    model_path: Path = MODEL_PATH
    log_path: Path | None = None
    # More environment for both processes (the Twilio tests and benchmark set their channels'
    # variables here rather than in the caller's own environment).
    extra_env: dict[str, str] = field(default_factory=dict)
    # Which engines Rasa uses: endpoints.yml (embedded) or endpoints-cluster.yml.
    endpoints: str = "endpoints.yml"
    # The staff console beside them (make run, the console's tests); most tests need none.
    with_console: bool = False
    processes: list[subprocess.Popen] = field(default_factory=list)
    _log_file: IO[bytes] | None = None

    @property
    def rasa_url(self) -> str:
        return self.settings.rasa_url

    @property
    def staff_url(self) -> str:
        return self.settings.staff_url

    @property
    def api_token(self) -> str:
        """The token Rasa's HTTP API wants (configured, or the one generated under var/)."""
        return rasa_api_token(self.settings)

    def start(self, timeout_s: float = 240) -> Stack:
        if not self.model_path.exists():
            raise FileNotFoundError(f"no trained model at {self.model_path}; run `make train`")
        ensure_private_dir(self.settings.var_dir)
        env = stack_environment(self.settings, self.extra_env)
        if self.log_path:
            # The log is redacted, but it is still the servers' own record: the owner's alone.
            self._log_file = os.fdopen(os.open(self.log_path, os.O_WRONLY | os.O_CREAT
                                               | os.O_APPEND, 0o600), "ab")
        output = self._log_file
        actions = subprocess.Popen(
            [sys.executable, "-m", "bot.actions.server"],
            cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT if output else None,
        )
        self.processes.append(actions)
        # The HTTP API reads and changes conversations: it always wants the token, which the
        # server takes from its environment (an argument would show in everyone's `ps`).
        command = [
            sys.executable, "-m", "connectors.rasa_server", "run",
            "--model", str(self.model_path), "--enable-api",
            "--interface", self.settings.rasa_host, "--port", str(self.settings.rasa_port),
            "--endpoints", self.endpoints, "--credentials", "credentials.yml",
        ]
        # The same allow-list the chat's socket.io server admits (connectors/website_chat.py).
        if self.settings.website_origins:
            command += ["--cors", *self.settings.website_origins]
        rasa = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env,
            stdout=output, stderr=subprocess.STDOUT if output else None,
        )
        self.processes.append(rasa)
        console = None
        if self.with_console:
            # The console reaches Rasa's HTTP API with the same token, on this machine.
            console_env = {**env, "RASA_PORT": str(self.settings.rasa_port),
                           "RASA_HOST": self.settings.rasa_host,
                           "RASA_API_TOKEN": rasa_api_token(self.settings),
                           "STAFF_PORT": str(self.settings.staff_port),
                           "STAFF_HOST": self.settings.staff_host}
            console = subprocess.Popen(
                [sys.executable, "-m", "bot.staff.console"], cwd=PROJECT_ROOT, env=console_env,
                stdout=output, stderr=subprocess.STDOUT if output else None)
            self.processes.append(console)
        try:
            wait_until_up(f"{self.settings.actions_url}/health", timeout_s, actions)
            wait_until_up(f"{self.rasa_url}/", timeout_s, rasa)
            if console is not None:
                wait_until_up(f"{self.staff_url}/health", timeout_s, console)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace_s: float = 15) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def any_exited(self) -> bool:
        return any(process.poll() is not None for process in self.processes)

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
