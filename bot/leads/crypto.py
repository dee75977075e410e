"""Encrypts member IDs at rest with a Fernet key from the environment (LEADS_ENCRYPTION_KEY)."""
from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken


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


def new_key() -> str:
    """A fresh key for .env: `python -m bot.leads new-key`."""
    return Fernet.generate_key().decode("ascii")
