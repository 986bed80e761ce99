"""The matcher's certificate revocation list, read from disk as it is now, failing closed.

Revocation that cannot be checked is not assumed away: a CRL that is missing, unreadable,
not a CRL of this CA, or past its next-update time makes every authenticated call refused
with :class:`RevocationUnavailable` (UNAVAILABLE, audited like any refusal) until a valid CRL
is in place. The file is re-read whenever it changes on disk, so a fresh CRL is picked up
without a restart. Messages never name the server's paths (the log does).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from aidlink.matcher.errors import Refused

log = logging.getLogger("aidlink.matcher.revocation")

FIX = "calls are refused until the custodian's current CRL (aidlink keys crl) is in place"


class RevocationUnavailable(Refused):
    """Revocation cannot be checked right now, so no caller can be verified."""

    status = "UNAVAILABLE"

    def __str__(self) -> str:
        return f"revocation cannot be checked: {super().__str__()}; {FIX}"


class RevocationListFile:
    """The CRL file (PEM or DER), re-read whenever it changes on disk.

    Calling it returns the file's bytes, or raises :class:`RevocationUnavailable` when the
    file is absent or unreadable (an earlier copy is never used once the file is gone)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._version: tuple[int, int, int, int] | None = None
        self._data = b""

    def __call__(self) -> bytes:
        try:
            st = os.stat(self.path)
            version = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            if version != self._version:
                self._data, self._version = self.path.read_bytes(), version
        except FileNotFoundError:
            self._version = None
            log.error("certificate revocation list %s does not exist; refusing authenticated calls", self.path)
            raise RevocationUnavailable("the certificate revocation list (crl.pem) is missing") from None
        except OSError as exc:
            self._version = None
            log.error("certificate revocation list %s cannot be read: %s; refusing calls", self.path, exc)
            raise RevocationUnavailable(
                f"the certificate revocation list (crl.pem) cannot be read ({exc.strerror or type(exc).__name__})"
            ) from None
        return self._data
