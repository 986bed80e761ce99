"""Every string a caller sends is bounded before anything uses or records it.

:class:`RequestBoundsInterceptor` (innermost, after authentication, so the refusal's audit entry
names the caller) refuses a request message holding a string field longer than
:data:`MAX_REQUEST_STRING_BYTES` with INVALID_ARGUMENT, naming the field and its size, never its
content: a 12 MiB dataset name costs the audit log a line, not 12 MiB. Request-streaming calls
(uploads) are bounded field by field where their messages are read (matcher.exchange).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from aidlink.matcher.calls import OPEN_METHOD_PREFIXES, wrap_handler
from aidlink.matcher.errors import InvalidInput

MAX_REQUEST_STRING_BYTES = 4096


def oversized_string(message: Message, prefix: str = "") -> tuple[str, int] | None:
    """The first string field of ``message`` (searched through nested messages, lists and maps)
    longer than MAX_REQUEST_STRING_BYTES, as (its path, its size in bytes); else None."""
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            for key, item in value.items():
                found = _check_value(key, f"{path} key", field.message_type.fields_by_name["key"])
                found = found or _check_value(item, f"{path} value", value_field)
                if found:
                    return found
            continue
        items = value if field.is_repeated else [value]
        for i, item in enumerate(items):
            found = _check_value(item, f"{path}[{i}]" if field.is_repeated else path, field)
            if found:
                return found
    return None


def _check_value(value: Any, path: str, field: FieldDescriptor) -> tuple[str, int] | None:
    if field.type == FieldDescriptor.TYPE_STRING:
        size = len(value.encode("utf-8", "surrogatepass"))
        return (path, size) if size > MAX_REQUEST_STRING_BYTES else None
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return oversized_string(value, f"{path}.")
    return None


def check_request(request: Message) -> None:
    """Refuse ``request`` (InvalidInput) if one of its strings is too long."""
    found = oversized_string(request)
    if found:
        path, size = found
        raise InvalidInput(
            f"{path}: {size} bytes; a request's text fields are at most {MAX_REQUEST_STRING_BYTES} bytes",
            field=path,
        )


class RequestBoundsInterceptor(grpc.ServerInterceptor):
    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or handler.request_streaming or method.startswith(OPEN_METHOD_PREFIXES):
            return handler

        def wrap(behavior: Callable[..., Any], streaming: bool) -> Callable[..., Any]:
            if streaming:

                def bounded_stream(request: Message, context: grpc.ServicerContext) -> Iterator[object]:
                    check_request(request)
                    yield from behavior(request, context)

                return bounded_stream

            def bounded(request: Message, context: grpc.ServicerContext) -> Any:
                check_request(request)
                return behavior(request, context)

            return bounded

        return wrap_handler(handler, wrap)
