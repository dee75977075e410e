"""Encrypts member IDs at rest with a Fernet key from the environment (LEADS_ENCRYPTION_KEY)."""
from __future__ import annotations

import dataclasses

from cryptography.fernet import Fernet, InvalidToken

from bot.leads.submission import Submission


class MemberIdCipher:
    def __init__(self, key: str):
        # Fernet rejects a malformed key here, at start-up, rather than on someone's answer.
        self._fernet = Fernet(key.encode("ascii"))

    def encrypt(self, member_id: str) -> bytes:
        return self._fernet.encrypt(member_id.encode("utf-8"))

    def decrypt(self, token: bytes) -> str | None:
        """The member ID, or None when the key in use is not the one it was written with."""
        try:
            return self._fernet.decrypt(bytes(token)).decode("utf-8")
        except InvalidToken:
            return None


def seal_member_id(submission: Submission, cipher: MemberIdCipher | None) -> Submission:
    """The submission with its member ID encrypted, so the plain text never reaches disk.

    Sealed once, before the submission is spooled or written; without a key the member ID is
    dropped (it is not stored at all, and not asked for).
    """
    lead = submission.lead
    if lead is None or lead.member_id is None:
        return submission
    sealed = cipher.encrypt(lead.member_id).decode("ascii") if cipher is not None else None
    return dataclasses.replace(submission, lead=dataclasses.replace(
        lead, member_id=None, member_id_sealed=sealed or lead.member_id_sealed))


def new_key() -> str:
    """A fresh key for .env: `python -m bot.leads new-key`."""
    return Fernet.generate_key().decode("ascii")
