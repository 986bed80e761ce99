"""A log's side of C2SP tlog-witness: submit a checkpoint with a consistency proof, get a cosignature.

Uses the standard library's HTTP client (urllib), over TLS when the URL is https://
(verified against the CA file given, e.g. the custodian's CA).
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from aidlink.witness.cosignature import CosignatureError, WitnessVerifier, find_cosignature
from aidlink.witness.protocol import SIZE_CONTENT_TYPE, WitnessRequestError, format_request, parse_size_body

DEFAULT_TIMEOUT = 10.0


class WitnessClientError(Exception):
    """The witness did not cosign; the message says why."""


class WitnessUnreachable(WitnessClientError):
    """The witness could not be reached or answered something unreadable (retry later)."""


class WitnessConflict(WitnessClientError):
    """409: the witness's latest cosigned size is `size`, not the old size sent."""

    def __init__(self, size: int | None, message: str) -> None:
        super().__init__(message)
        self.size = size


class WitnessRefused(WitnessClientError):
    """The witness refused the checkpoint (400, 403, 404, 422, or 409 for a fork)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"witness answered {status}: {message}")
        self.status = status


@dataclass(frozen=True)
class WitnessEndpoint:
    """Where a witness listens and the key it cosigns with."""

    url: str
    verifier: WitnessVerifier
    ca_file: Path | None = None

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"witness URL {self.url!r} must start with http:// or https://")


class WitnessClient:
    def __init__(self, endpoint: WitnessEndpoint, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._context: ssl.SSLContext | None = None
        if endpoint.url.startswith("https://"):
            self._context = ssl.create_default_context(cafile=str(endpoint.ca_file) if endpoint.ca_file else None)

    def _call(self, request: urllib.request.Request) -> tuple[int, str, bytes]:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self._context) as response:
                return response.status, response.headers.get("Content-Type", ""), response.read()
        except urllib.error.HTTPError as err:
            with err:
                return err.code, err.headers.get("Content-Type", "") if err.headers else "", err.read()
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise WitnessUnreachable(f"witness {self.endpoint.url} unreachable: {reason}") from None

    def add_checkpoint(self, old_size: int, proof: list[bytes], note: bytes) -> bytes:
        """Submit `note`; returns the note with the witness's verified cosignature appended."""
        status, content_type, body = self._call(
            urllib.request.Request(
                self.endpoint.url.rstrip("/") + "/add-checkpoint",
                data=format_request(old_size, proof, note),
                method="POST",
            )
        )
        text = body.decode("utf-8", errors="replace").strip()[:500]
        if status == 409:
            size = None
            if content_type.split(";")[0].strip() == SIZE_CONTENT_TYPE:
                try:
                    size = parse_size_body(body)
                except WitnessRequestError as exc:
                    raise WitnessUnreachable(f"witness {self.endpoint.url}: {exc}") from None
            raise WitnessConflict(size, f"witness answered 409: {text}")
        if status != 200:
            if status >= 500:
                raise WitnessUnreachable(f"witness {self.endpoint.url} answered {status}: {text}")
            raise WitnessRefused(status, text)
        cosigned = bytes(note) + body
        try:
            find_cosignature(cosigned, self.endpoint.verifier)
        except CosignatureError as exc:
            raise WitnessUnreachable(
                f"witness {self.endpoint.url} answered without a valid cosignature: {exc}"
            ) from None
        return cosigned

    def latest(self, origin: str) -> bytes:
        """The latest checkpoint of `origin` the witness cosigned (GET /checkpoint/<origin>), unverified."""
        status, _, body = self._call(
            urllib.request.Request(f"{self.endpoint.url.rstrip('/')}/checkpoint/{quote(origin, safe='/')}")
        )
        if status != 200:
            raise WitnessRefused(status, body.decode("utf-8", errors="replace").strip()[:500])
        return body
