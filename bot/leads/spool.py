"""A durable local spool: submissions wait here, on disk, while the database is unreachable.

Each submission is one JSON file, written to a temporary name, flushed to disk and renamed,
so a crash leaves either the whole file or none of it. Files and directory are private to
the owner from the moment they exist, and a member ID arrives already encrypted (sealed by
the recorder). A file is deleted only after the database has committed it; if the deletion
is lost, the retry is harmless because applying a submission twice changes nothing.

The Rasa server, the action server and the staff commands may all drain the same spool: a
lock file in the spool directory lets one process drain at a time. In a cluster each
instance spools to a directory of its own and also drains the others' (`peer_spools`), so a
lead spooled by an instance that was stopped, or scaled away, still lands.
"""
from __future__ import annotations

import dataclasses
import fcntl
import glob
import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.leads.store import LeadStore
from bot.leads.submission import Applied, Submission

logger = logging.getLogger(__name__)

LOCK_FILE = ".drain.lock"


class LeadSpool:
    def __init__(self, directory: Path):
        self.directory = directory

    def put(self, submission: Submission) -> Path:
        self._make_directory()
        if submission.lead is not None and submission.lead.member_id is not None:
            # Never on disk in plain text: the recorder seals it first; if it did not, drop it.
            logger.error("lead spool: unsealed member ID dropped")
            submission = dataclasses.replace(
                submission, lead=dataclasses.replace(submission.lead, member_id=None))
        # Sortable names keep the oldest submission first when draining.
        name = f"{submission.submitted_at.replace(':', '')}-{submission.submission_id}.json"
        final = self.directory / name
        temporary = self.directory / f".{name}.tmp"
        # 0600 from creation: the file holds someone's answers from its first byte.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(submission.to_json_dict(), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
        _fsync_directory(self.directory)
        return final

    def _make_directory(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.directory.stat().st_mode & 0o077:
            os.chmod(self.directory, 0o700)

    def pending(self) -> list[Path]:
        if not self.directory.exists():
            return []
        return sorted(self.directory.glob("*.json"))

    def drain(self, store: LeadStore, wait_seconds: float = 0.0) -> list[Applied]:
        """Writes every spooled submission, oldest first; stops at the first database error.

        When another thread or process is draining, waits up to `wait_seconds` for it, then
        leaves the spool to it (returns nothing).
        """
        applied: list[Applied] = []
        if not self.pending():
            return applied
        with self._drain_lock(wait_seconds) as held:
            if not held:
                return applied
            for path in self.pending():  # listed under the lock: nobody else is writing them
                try:
                    submission = Submission.from_json_dict(
                        json.loads(path.read_text(encoding="utf-8")))
                except (OSError, ValueError, KeyError, TypeError):
                    # Never delete what cannot be read: set it aside for a person to look at.
                    path.rename(path.with_suffix(".unreadable"))
                    logger.error("lead spool: unreadable file set aside")
                    continue
                try:
                    applied.append(store.apply(submission))
                except Exception as error:  # noqa: BLE001 (still failing: try again later)
                    logger.warning("lead spool: database still unavailable (%s), %d waiting",
                                   type(error).__name__, len(self.pending()))
                    break
                path.unlink()
        return applied

    @contextmanager
    def _drain_lock(self, wait_seconds: float) -> Iterator[bool]:
        """flock on a file in the spool: one drainer across threads and processes.

        Each call opens its own descriptor, so two threads of one process exclude each other
        as two processes do.
        """
        self._make_directory()
        descriptor = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + wait_seconds
            while True:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        yield False
                        return
                    time.sleep(0.05)
            yield True
        finally:
            os.close(descriptor)  # closing releases the lock


def peer_spools(patterns: tuple[str, ...], own: Path) -> list[LeadSpool]:
    """The other spools matching the glob patterns (LEAD_SPOOL_PEERS), never `own`."""
    own_path = os.path.realpath(own)
    found: dict[str, LeadSpool] = {}
    for pattern in patterns:
        for match in sorted(glob.glob(pattern)):
            path = os.path.realpath(match)
            if path != own_path and os.path.isdir(path) and path not in found:
                found[path] = LeadSpool(Path(path))
    return list(found.values())


def _fsync_directory(directory: Path) -> None:
    # The rename itself survives a power cut only once the directory is on disk.
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
