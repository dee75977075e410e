"""A durable local spool: submissions wait here, on disk, while the database is unreachable.

Each submission is one JSON file, written to a temporary name, flushed to disk and renamed,
so a crash leaves either the whole file or none of it. A file is deleted only after the
database has committed it; if the deletion is lost, the retry is harmless because applying
a submission twice changes nothing.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from bot.leads.store import LeadStore
from bot.leads.submission import Applied, Submission

logger = logging.getLogger(__name__)


class LeadSpool:
    def __init__(self, directory: Path):
        self.directory = directory
        # One drain at a time per process, so a file is not applied by two threads at once.
        self._drain_lock = threading.Lock()

    def put(self, submission: Submission) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        # Sortable names keep the oldest submission first when draining.
        name = f"{submission.submitted_at.replace(':', '')}-{submission.submission_id}.json"
        final = self.directory / name
        temporary = self.directory / f".{name}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(submission.to_json_dict(), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
        # Restrict to the owner: the file holds someone's answers.
        os.chmod(final, 0o600)
        return final

    def pending(self) -> list[Path]:
        if not self.directory.exists():
            return []
        return sorted(self.directory.glob("*.json"))

    def drain(self, store: LeadStore) -> list[Applied]:
        """Writes every spooled submission, oldest first; stops at the first database error."""
        applied: list[Applied] = []
        if not self._drain_lock.acquire(blocking=False):
            return applied
        try:
            for path in self.pending():
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
                except SQLAlchemyError:
                    logger.warning("lead spool: database still unavailable, %d waiting",
                                   len(self.pending()))
                    break
                path.unlink()
        finally:
            self._drain_lock.release()
        return applied
