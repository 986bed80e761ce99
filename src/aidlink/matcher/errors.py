"""Domain refusals, each with the gRPC status it is answered with (`status`). Servicers raise
them; the error-mapping interceptor (matcher.error_mapping) answers them, once for every service."""
from __future__ import annotations


class Refused(Exception):
    """A call the matcher will not carry out, with a message a person can act on."""
    status = "FAILED_PRECONDITION"


class InvalidInput(Refused):
    status = "INVALID_ARGUMENT"


class NotFound(Refused):
    status = "NOT_FOUND"


class NotPermitted(Refused):
    status = "PERMISSION_DENIED"


class Incompatible(Refused):
    """Encodings that must not be compared (secret version, schema or length differ)."""
    status = "FAILED_PRECONDITION"


class TooLarge(Refused):
    status = "RESOURCE_EXHAUSTED"
