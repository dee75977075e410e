"""The one call the actions make: write a submission now, or spool it and write it later.

The person's reply never depends on the database being up.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from functools import lru_cache

from sqlalchemy.exc import SQLAlchemyError

from bot.leads.crypto import MemberIdCipher
from bot.leads.database import engine_for, upgrade
from bot.leads.spool import LeadSpool
from bot.leads.store import LeadStore
from bot.leads.submission import Applied, Submission
from bot.settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class LeadRecorder:
    store: LeadStore
    spool: LeadSpool
    schema_ready: bool = False
    _schema_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, submission: Submission) -> list[Applied]:
        """Every submission written by this call: spooled ones first, then this one.

        Returns an empty list when the database is down and the submission was spooled.
        """
        try:
            self.ensure_schema()
            written = self.spool.drain(self.store) if self.spool.pending() else []
            written.append(self.store.apply(submission))
            return written
        except SQLAlchemyError as error:
            self.spool.put(submission)
            logger.warning("leads database unavailable (%s); submission spooled",
                           type(error).__name__)
            return []

    def flush(self) -> list[Applied]:
        """Writes whatever the spool holds (the `flush-spool` command and tests)."""
        self.ensure_schema()
        return self.spool.drain(self.store)

    def ensure_schema(self) -> None:
        # Migrating on first use lets the embedded SQLite default create itself; a database
        # that was down at start-up is migrated as soon as it answers.
        with self._schema_lock:
            if not self.schema_ready:
                upgrade(self.store.engine)
                self.schema_ready = True


def recorder_from_settings(settings: Settings) -> LeadRecorder:
    return _recorder(settings.database_url, str(settings.lead_spool_dir),
                     settings.leads_encryption_key)


@lru_cache(maxsize=4)
def _recorder(database_url: str, spool_dir: str, key: str | None) -> LeadRecorder:
    engine = engine_for(database_url)
    cipher = MemberIdCipher(key) if key else None
    return LeadRecorder(LeadStore(engine, cipher), LeadSpool(Path(spool_dir)))
