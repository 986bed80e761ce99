"""How the node answers its caller when the matcher refused or failed a call it made for it: the
same status code, the matcher's readable message prefixed with "matcher: ", and the matcher's
``google.rpc.Status`` details (ErrorInfo, BadRequest) passed on, so a department's system can read
the reason and the field as well as the message."""

from __future__ import annotations

import logging
from typing import NoReturn

import grpc
from grpc_status import rpc_status

log = logging.getLogger("aidlink.gateway")


def relay_matcher_error(context: grpc.ServicerContext, error: grpc.RpcError) -> NoReturn:
    """Abort the node's call with the matcher's ``error`` (raises, as ``context.abort`` does)."""
    message = f"matcher: {error.details()}"
    try:
        status = rpc_status.from_call(error)
    except ValueError:  # details that contradict the status: pass the status and message only
        log.warning("the matcher's status details do not match its status %s; not relayed", error.code().name)
        status = None
    if status is not None:
        status.message = message
        context.abort_with_status(rpc_status.to_status(status))
    context.abort(error.code(), message)
    raise AssertionError("context.abort returned")  # it raises; for type checkers
