"""Starting a real, throw-away assistant for the end-to-end tests."""
from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

from bot.settings import load_settings
from scripts.stack import Stack

API_TOKEN = "test-api-token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def throwaway_stack(workdir: Path) -> Stack:
    settings = dataclasses.replace(
        load_settings(),
        rasa_port=free_port(),
        actions_port=free_port(),
        rasa_api_token=API_TOKEN,
        var_dir=workdir / "var",
    )
    return Stack(settings, log_path=workdir / "stack.log")
