"""Rich error details: every refusal is answered with a ``google.rpc.Status`` beside its readable message.

gRPC's status message stays what a person reads (clients print it). The status also carries, in
the ``grpc-status-details-bin`` trailer (grpcio-status, the convention of every gRPC ecosystem):

- ``google.rpc.ErrorInfo``: ``reason`` (UPPER_SNAKE_CASE, stable: a client may branch on it),
  ``domain`` :data:`DOMAIN`, and ``metadata`` (e.g. the agreement and rule of a policy refusal, the
  department, limit and setting of a concurrency limit, the field of an invalid one);
- ``google.rpc.BadRequest`` for INVALID_ARGUMENT refusals that name a request field: one field
  violation with the field's path (``header.encoding.bits``) and the message.

A client reads them with ``grpc_status.rpc_status.from_call(error)``.
"""

from __future__ import annotations

import re

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from aidlink.matcher.errors import InvalidInput, Refused

DOMAIN = "aidlink.matcher"


def refusal_reason(refusal: Refused) -> str:
    """The refusal's ErrorInfo reason: its class's own ``reason``, else its class name in UPPER_SNAKE_CASE
    (``WrongState`` -> ``WRONG_STATE``)."""
    own = type(refusal).__dict__.get("reason")
    if isinstance(own, str) and own:
        return own
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(refusal).__name__).upper()


def _packed(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def rich_status(
    code: grpc.StatusCode, message: str, reason: str, metadata: dict[str, str] | None = None, field: str = ""
) -> grpc.Status:
    """A status with ``message`` and its ``google.rpc`` details (ErrorInfo; BadRequest if ``field``)."""
    details = [_packed(error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN, metadata=metadata or {}))]
    if field:
        violation = error_details_pb2.BadRequest.FieldViolation(field=field, description=message)
        details.append(_packed(error_details_pb2.BadRequest(field_violations=[violation])))
    # grpc.StatusCode's value is (number, name); google.rpc.Code has the same numbers.
    return rpc_status.to_status(status_pb2.Status(code=code.value[0], message=message, details=details))


def refusal_status(refusal: Refused) -> grpc.Status:
    """How ``refusal`` is answered: its status code, its message, its reason, metadata and field."""
    field = refusal.field if isinstance(refusal, InvalidInput) else ""
    metadata = dict(refusal.metadata)
    if field:
        metadata.setdefault("field", field)
    return rich_status(getattr(grpc.StatusCode, refusal.status), str(refusal), refusal_reason(refusal), metadata, field)
