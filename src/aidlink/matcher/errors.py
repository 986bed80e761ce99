"""Domain refusals, each with the gRPC status it is answered with (`status`) and the machine-readable
reason of its `google.rpc.ErrorInfo` (`reason`). Servicers raise them; the error-mapping interceptor
(matcher.error_mapping) answers them, once for every service."""

from __future__ import annotations

import re

# "header.encoding.bits: 100 is not …": a message that starts with a request field's path names it.
_FIELD_PATH = re.compile(r"^([a-z_][a-z0-9_]*(?:\[\d+\])?(?:\.[a-z_][a-z0-9_]*(?:\[\d+\])?)*): ")


class Refused(Exception):
    """A call the matcher will not carry out, with a message a person can act on."""

    status = "FAILED_PRECONDITION"
    reason = "REFUSED"  # google.rpc.ErrorInfo.reason: UPPER_SNAKE_CASE, stable for clients to test
    metadata: dict[str, str] = {}  # google.rpc.ErrorInfo.metadata (instances set their own)


class InvalidInput(Refused):
    """A request field the matcher cannot take; ``field`` is its path (``header.encoding.bits``),
    taken from the message's "path: …" start when not given."""

    status = "INVALID_ARGUMENT"
    reason = "INVALID_FIELD"
    field = ""  # a subclass about one field names it here

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        if field is not None:
            self.field = field
        elif not self.field:
            found = _FIELD_PATH.match(message)
            self.field = found.group(1) if found else ""


class NotFound(Refused):
    status = "NOT_FOUND"
    reason = "NOT_FOUND"


class NotPermitted(Refused):
    status = "PERMISSION_DENIED"
    reason = "NOT_PERMITTED"


class Incompatible(Refused):
    """Encodings that must not be compared (secret version, schema or length differ)."""

    status = "FAILED_PRECONDITION"
    reason = "INCOMPATIBLE_ENCODINGS"


class NothingAdmitted(Refused):
    """An agreement's record filter admits none of the provider's records, or filters on an
    attribute the provider never uploaded: said, never answered as an empty result."""

    status = "FAILED_PRECONDITION"


class TooLarge(Refused):
    status = "RESOURCE_EXHAUSTED"
    reason = "TOO_LARGE"


class PolicyRefusal(Refused):
    """A call the policy gate refuses; `rule` names the rule, and the message starts with it."""

    rule = "policy"
    reason = "POLICY_REFUSED"

    def __init__(self, message: str, agreement: str = "") -> None:
        super().__init__(message)
        self.agreement = agreement  # the agreement whose limit it is, for the audit entry
        self.metadata = {"rule": self.rule, **({"agreement": agreement} if agreement else {})}


class BelowThresholdFloor(PolicyRefusal, InvalidInput):
    rule = "threshold floor"
    reason = "THRESHOLD_BELOW_FLOOR"
    field = "threshold"


class ProbeRefused(PolicyRefusal, InvalidInput):
    """An encoding no record under the schema could have produced (a probe, not a person)."""

    rule = "probe refused"
    reason = "PROBE_REFUSED"
    field = "encoding"


class PurposeRefused(PolicyRefusal, NotPermitted):
    rule = "purpose"
    reason = "PURPOSE_REFUSED"


class VolumeLimitExceeded(PolicyRefusal):
    """The call would reveal more of a provider's records than its agreement allows."""

    rule = "volume limit"
    status = "RESOURCE_EXHAUSTED"
    reason = "VOLUME_LIMIT_EXCEEDED"
