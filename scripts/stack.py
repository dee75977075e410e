"""Starts and stops the assistant's two processes (Rasa server and action server).

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


def stack_environment(settings: Settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(THREAD_LIMITS)
    env.update(
        {
            "PYTHONPATH": str(PROJECT_ROOT),
            "RASA_TELEMETRY_ENABLED": "false",
            "ACTIONS_PORT": str(settings.actions_port),
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
    processes: list[subprocess.Popen] = field(default_factory=list)
    _log_file: IO[bytes] | None = None

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.rasa_port}"

    def start(self, timeout_s: float = 240) -> Stack:
        if not self.model_path.exists():
            raise FileNotFoundError(f"no trained model at {self.model_path}; run `make train`")
        self.settings.var_dir.mkdir(parents=True, exist_ok=True)
        env = stack_environment(self.settings, self.extra_env)
        if self.log_path:
            self._log_file = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        output = self._log_file
        actions = subprocess.Popen(
            [sys.executable, "-m", "rasa_sdk", "--actions", "bot.actions",
             "--port", str(self.settings.actions_port)],
            cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT if output else None,
        )
        self.processes.append(actions)
        command = [
            str(VENV_BIN / "rasa"), "run", "--model", str(self.model_path),
            "--port", str(self.settings.rasa_port), "--enable-api",
            "--endpoints", "endpoints.yml", "--credentials", "credentials.yml",
        ]
        if self.settings.rasa_api_token:
            command += ["--auth-token", self.settings.rasa_api_token]
        if os.environ.get("CORS_ORIGINS"):
            command += ["--cors", *os.environ["CORS_ORIGINS"].split(",")]
        rasa = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env,
            stdout=output, stderr=subprocess.STDOUT if output else None,
        )
        self.processes.append(rasa)
        try:
            wait_until_up(f"http://127.0.0.1:{self.settings.actions_port}/health", timeout_s, actions)
            wait_until_up(f"{self.rasa_url}/", timeout_s, rasa)
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
