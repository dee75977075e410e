"""Secrets a deployment makes for itself when none is configured, kept private under var/.

Closed by default: Rasa's HTTP API and the action server always want a token. An operator may
set RASA_API_TOKEN, ACTION_SERVER_TOKEN and CONVERSATION_ID_SECRET; where they are unset, a
random value is generated once, written with mode 0600 inside a 0700 directory, and read
back by every process of this deployment (Rasa, the action server, the CLI, tests, bench).
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from bot.settings import Settings

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def ensure_private_dir(path: Path) -> Path:
    """The directory, created 0700 (or tightened to it): it holds records and keys."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    if path.stat().st_mode & 0o777 != PRIVATE_DIR_MODE:
        path.chmod(PRIVATE_DIR_MODE)
    return path


def create_private_file(path: Path) -> None:
    """An empty file with mode 0600 from the moment it exists, unless it already exists."""
    ensure_private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    except FileExistsError:
        pass


def load_or_create_secret(configured: str | None, path: Path) -> str:
    """The configured value, else the one kept at `path`, else a new one written there.

    A generated secret must survive restarts (a new conversation-id key would start everyone's
    conversation afresh; a new token would lock out the tools that read the old one). It is
    never logged.
    """
    if configured:
        return configured
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    ensure_private_dir(path.parent)
    value = secrets.token_urlsafe(32)
    # Written whole to a file of our own, then published under `path` with a hard link, which
    # fails if the name exists: a process starting at the same moment (Rasa, the action
    # server) never reads a half-written secret, and every process ends up with one value.
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(value)
        os.link(draft, path)
    except FileExistsError:  # another process published its secret first: use that one
        return path.read_text(encoding="ascii").strip()
    finally:
        draft.unlink(missing_ok=True)
    return value


def rasa_api_token(settings: Settings) -> str:
    return load_or_create_secret(settings.rasa_api_token, settings.rasa_api_token_path)


def action_server_token(settings: Settings) -> str:
    return load_or_create_secret(settings.action_server_token, settings.action_server_token_path)


def conversation_id_secret(settings: Settings) -> bytes:
    return load_or_create_secret(settings.conversation_id_secret,
                                 settings.conversation_id_secret_path).encode()


def staff_session_secret(settings: Settings) -> str:
    return load_or_create_secret(settings.staff_session_secret,
                                 settings.staff_session_secret_path)
