"""Writes a submission now, or spools it and writes it later: a lead is never lost.

The person's reply never depends on the database being up. Called (off the event loop) by
bot/handoff/service.py, which the actions, the connectors and the staff commands share.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from bot.leads.crypto import MemberIdCipher, seal_member_id
from bot.leads.database import engine_for, ensure_schema
from bot.leads.spool import LeadSpool, peer_spools
from bot.leads.store import LeadStore
from bot.leads.submission import Applied, Submission
from bot.settings import Settings

logger = logging.getLogger(__name__)

# How long `flush` (the staff command) waits for another process that is draining the spool.
FLUSH_WAIT_SECONDS = 30.0


class LeadRecorder:
    def __init__(self, store: LeadStore | Callable[[], LeadStore], spool: LeadSpool,
                 cipher: MemberIdCipher | None = None,
                 peers: Callable[[], list[LeadSpool]] = list):
        """`store` may be a function that opens it: a database URL that cannot even be parsed
        must still end in the spool, not in an exception before anything was kept.

        `peers` lists other instances' spools, looked up at each retry (instances come and
        go); this recorder drains them too."""
        self._store = store if isinstance(store, LeadStore) else None
        self._open_store = None if isinstance(store, LeadStore) else store
        self._store_lock = threading.Lock()
        self.spool = spool
        self._cipher = cipher
        self._peers = peers

    @property
    def store(self) -> LeadStore:
        with self._store_lock:
            if self._store is None:
                self._store = self._open_store()
            return self._store

    def record(self, submission: Submission) -> list[Applied]:
        """Every submission written by this call: spooled ones first, then this one.

        This one is missing from the list when the database failed and it was spooled.
        """
        # Sealed once, here: the member ID is encrypted in the spool as in the database.
        submission = seal_member_id(submission, self._cipher)
        written: list[Applied] = []
        try:
            store = self.store
            ensure_schema(store.engine)
            written = self.spool.drain(store)
            written.append(store.apply(submission))
        except Exception as error:  # noqa: BLE001 (any failure below us: keep the lead on disk)
            self.spool.put(submission)
            logger.warning("leads database unavailable (%s); submission spooled",
                           type(error).__name__)
        return written

    def flush(self) -> list[Applied]:
        """Writes whatever the spool and its peers hold (the `flush-spool` command, tests)."""
        ensure_schema(self.store.engine)
        return self._drain_each(self._spools(), FLUSH_WAIT_SECONDS)

    def waiting(self) -> int:
        """Submissions still waiting in the spool and its peers."""
        return sum(len(spool.pending()) for spool in self._spools())

    def retry_spooled(self) -> list[Applied]:
        """Writes what the spool and its peers hold if the database answers; never raises
        (the action server calls it on a timer, and a database still down means: later).

        A peer whose own instance is draining it is skipped (its lock is held); applying a
        submission twice would change nothing anyway.
        """
        waiting = [spool for spool in self._spools() if self._pending_or_none(spool)]
        if not waiting:
            return []
        try:
            ensure_schema(self.store.engine)
        except Exception as error:  # noqa: BLE001 (still unreachable: the next round tries)
            logger.warning("lead spool: could not drain a spool (%s)", type(error).__name__)
            return []
        return self._drain_each(waiting, 0.0)

    def _spools(self) -> list[LeadSpool]:
        return [self.spool, *self._peers()]

    @staticmethod
    def _pending_or_none(spool: LeadSpool) -> list:
        try:
            return spool.pending()
        except OSError as error:  # a peer's directory that cannot be listed
            logger.warning("lead spool: could not drain a spool (%s)", type(error).__name__)
            return []

    def _drain_each(self, spools: list[LeadSpool], wait_seconds: float) -> list[Applied]:
        # Each spool on its own: one that cannot be read (a peer's directory with the wrong
        # owner, a stale network file handle) must not keep the others waiting.
        written: list[Applied] = []
        for spool in spools:
            try:
                written += spool.drain(self.store, wait_seconds=wait_seconds)
            except OSError as error:
                logger.warning("lead spool: could not drain a spool (%s)", type(error).__name__)
        return written

    def ensure_schema(self) -> None:
        ensure_schema(self.store.engine)


def recorder_from_settings(settings: Settings) -> LeadRecorder:
    return _recorder(settings.database_url, str(settings.lead_spool_dir),
                     settings.lead_spool_peers, settings.leads_encryption_key,
                     settings.handoff_cap_per_conversation)


@lru_cache(maxsize=4)
def _recorder(database_url: str, spool_dir: str, peer_patterns: tuple[str, ...],
              key: str | None, cap: int) -> LeadRecorder:
    cipher = MemberIdCipher(key) if key else None
    return LeadRecorder(lambda: LeadStore(engine_for(database_url), cipher, cap),
                        LeadSpool(Path(spool_dir)), cipher,
                        lambda: peer_spools(peer_patterns, Path(spool_dir)))
