"""The node's end of ``Monitoring.Subscribe``: what the matcher pushes (referrals, disclosure
requests, referral outcomes and, to civil affairs, new warnings) is stored in the node's inbox
as it arrives and relayed to the department's own system as JSON files in a watched folder.

Why a folder and not a webhook: the department's system needs no listening port and no
credentials for the node, a file written by rename is all-or-nothing, and a system that was down
finds every file it missed. Each file is ``<kind>-<number>.json``, written to a hidden temporary
name and renamed into place. A file holds the department's own record ids, never a disclosed
identity: identities stay sealed on the node and are opened only when its authenticated API is
read (``aidlink monitoring inbox``).

The subscription is a long-lived stream with an explicit deadline (``SUBSCRIPTION_S``): the
matcher ends it cleanly before the deadline and the node subscribes again from its cursors, so a
half-open connection is found out at the latest then, and nothing is lost between subscriptions
(the inbox cursor and the warnings cursor are stored on the node).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import grpc
from google.protobuf.json_format import MessageToDict

from aidlink.gateway.inbox import ReferralInbox
from aidlink.gateway.refs import ReferenceMap, UnknownReference
from aidlink.gateway.state_files import private_directory
from aidlink.v1 import monitoring_pb2 as pb
from aidlink.v1 import monitoring_pb2_grpc

SUBSCRIPTION_S = 600.0  # each subscription's deadline; the node then subscribes again
RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0)  # waits before re-subscribing after a failure
WARNINGS_CURSOR_FILE = "monitoring-warnings.cursor"
log = logging.getLogger("aidlink.gateway.monitoring")


class FolderRelay:
    """Writes each pushed event as a JSON file into `folder`, atomically (temporary name, rename)."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def deliver(self, name: str, document: dict) -> Path:
        final = self.folder / f"{name}.json"
        part = self.folder / f".{name}.json.part"
        part.write_text(json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(part, final)
        return final


def _own_ids(refs: ReferenceMap, records) -> list[str]:
    ids = []
    for r in records:
        try:
            ids.append(refs.resolve(r.ref))
        except UnknownReference:
            continue
    return ids


def warning_document(warning: pb.RiskWarning, refs: ReferenceMap) -> dict:
    """A pushed warning as its JSON file holds it (the department's own record ids, no references)."""
    doc = MessageToDict(warning, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    doc.pop("my_records", None)
    doc["record_ids"] = _own_ids(refs, warning.my_records)
    return {"kind": "warning", **doc}


def item_document(item: pb.ReferralInboxItem, record_ids: list[str], state: str) -> dict:
    """A pushed inbox item as its JSON file holds it (no sealed identity, no certificate)."""
    doc = MessageToDict(item, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    for sealed in ("sealed_identity", "recipient_certificate", "records"):
        doc.pop(sealed, None)
    doc["record_ids"] = record_ids
    doc["state"] = state
    doc["identity_disclosed"] = bool(item.sealed_identity)
    return doc


class MonitoringSubscriber:
    """Keeps one subscription to the matcher open (in a thread) and handles what it pushes."""

    def __init__(
        self,
        channel: grpc.Channel,
        inbox: ReferralInbox,
        refs: ReferenceMap,
        state_dir: Path,
        relay: FolderRelay | None = None,
    ) -> None:
        # Its own channel to the matcher: closing it is how `stop` ends a stream it is waiting on.
        self.channel = channel
        self.stub = monitoring_pb2_grpc.MonitoringStub(channel)
        self.inbox, self.refs, self.relay = inbox, refs, relay
        self._cursor_file = private_directory(state_dir) / WARNINGS_CURSOR_FILE
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()  # set while a subscription is open

    # -- cursors -------------------------------------------------------------------------------
    @property
    def warnings_cursor(self) -> int:
        try:
            return int(self._cursor_file.read_text().strip() or 0)
        except FileNotFoundError:
            return 0

    def _save_warnings_cursor(self, warning_id: int) -> None:
        part = self._cursor_file.with_suffix(".part")
        part.write_text(str(warning_id))
        os.replace(part, self._cursor_file)

    # -- running -------------------------------------------------------------------------------
    def start(self) -> MonitoringSubscriber:
        self._thread = threading.Thread(target=self._run, name="monitoring-subscriber", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.channel.close()  # ends a stream in progress (CANCELLED)
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._subscribe_once()
                failures = 0
            except grpc.RpcError as exc:
                if self._stop.is_set():
                    return
                if exc.code() not in (grpc.StatusCode.DEADLINE_EXCEEDED,):
                    wait = RETRY_S[min(failures, len(RETRY_S) - 1)]
                    failures += 1
                    log.warning(
                        "monitoring subscription: %s: %s; again in %.0f s", exc.code().name, exc.details(), wait
                    )
                    self._stop.wait(wait)
            except ValueError:  # the channel was closed under a call starting: stopping
                if self._stop.is_set():
                    return
                raise
            except Exception:  # a local fault (disk, relay folder): logged, retried
                log.exception("monitoring subscription: handling a pushed event failed")
                self._stop.wait(RETRY_S[-1])
            finally:
                self.connected.clear()

    def _subscribe_once(self) -> None:
        request = pb.SubscribeRequest(after=self.inbox.cursor, warnings_after=self.warnings_cursor)
        # An explicit deadline: the matcher ends the stream cleanly before it, and we subscribe again.
        events = self.stub.Subscribe(request, timeout=SUBSCRIPTION_S)
        self.connected.set()
        for event in events:
            self.handle(event)

    def handle(self, event: pb.MonitoringEvent) -> None:
        """Stores and relays one pushed event (in the order pushed, so cursors only move forward)."""
        if event.HasField("item"):
            entry = self.inbox.take(event.item)
            if entry is not None and self.relay is not None:
                self.relay.deliver(
                    f"{entry.kind}-{entry.seq}", item_document(entry.item, entry.record_ids, entry.state)
                )
        elif event.HasField("warning"):
            w = event.warning
            if w.id <= self.warnings_cursor:
                return
            if self.relay is not None:
                self.relay.deliver(f"warning-{w.id}", warning_document(w, self.refs))
            self._save_warnings_cursor(w.id)
