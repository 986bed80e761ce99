"""The gRPC options every aidlink end uses: keepalive (with the server's policy on clients'
pings) and the largest message, for the matcher's and the nodes' servers and for every client
channel (node -> matcher, CLI -> node, CLI -> matcher).

Keepalive: a client pings an idle connection every 30 s and drops it when a ping is not answered
within 10 s, so a long poll or a long comparison over a broken connection (a node restarted, a
NAT entry expired) fails in seconds instead of waiting on TCP's hours. The server accepts a
client's pings no more often than every 20 s, also with no call in progress (pinging faster earns
a strike; after 2, gRPC closes the connection with GOAWAY "too_many_pings"), and pings idle
clients itself every 60 s. The client's interval must stay above the server's minimum: the test
suite checks that it does.
"""

from __future__ import annotations

DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024

SERVER_KEEPALIVE: tuple[tuple[str, int], ...] = (
    ("grpc.keepalive_time_ms", 60_000),  # ping an idle client every 60 s
    ("grpc.keepalive_timeout_ms", 20_000),  # and drop it if the ping is not answered in 20 s
    ("grpc.keepalive_permit_without_calls", 1),  # accept clients' pings while no call is in progress
    ("grpc.http2.min_ping_interval_without_data_ms", 20_000),  # but no more often than every 20 s
    ("grpc.http2.max_ping_strikes", 2),  # then GOAWAY too_many_pings
)

CLIENT_KEEPALIVE: tuple[tuple[str, int], ...] = (
    ("grpc.keepalive_time_ms", 30_000),  # ping every 30 s (the server allows every 20 s)
    ("grpc.keepalive_timeout_ms", 10_000),  # a ping not answered in 10 s: the connection is dead
    ("grpc.keepalive_permit_without_calls", 1),  # also while idle, so the next call finds a live connection
    ("grpc.http2.max_pings_without_data", 0),  # and during a long poll that sends no data
)


def check_max_message_bytes(value: int) -> int:
    """``value`` if it is a usable largest message size (1 KiB to 2 GiB - 1); else ValueError."""
    if not 1024 <= value <= 2**31 - 1:
        raise ValueError(f"max-message-bytes must be between 1024 and {2**31 - 1}, not {value}")
    return value


def message_size_options(max_bytes: int) -> list[tuple[str, int]]:
    check_max_message_bytes(max_bytes)
    return [("grpc.max_receive_message_length", max_bytes), ("grpc.max_send_message_length", max_bytes)]


def server_options(max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> list[tuple[str, int]]:
    """Options for an aidlink gRPC server (``grpc.server(options=…)``)."""
    return [*message_size_options(max_message_bytes), *SERVER_KEEPALIVE, ("grpc.so_reuseport", 0)]


def client_options(max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> list[tuple[str, int | str]]:
    """Options for an aidlink client channel (``grpc.secure_channel(options=…)``)."""
    return [*message_size_options(max_message_bytes), *CLIENT_KEEPALIVE]
