"""The matcher's side of offline exchange (Art. 10): import a department's dataset
bundle, run the comparisons it asks for, and answer with a result bundle.

A bundle goes through the same `Exchange` as an online upload and comparison, so the
catalog, agreements and purposes apply unchanged. The import is not a gRPC call, so
this module appends the audit entries itself: "offline/import-bundle" (allowed or
refused, with the reason) and one "offline/compare" per comparison. A bundle whose
import was audited is answered only after its entries are durable (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from aidlink.audit.entry import AuditEntry, audit_outcome, utc_now
from aidlink.audit.log import AuditLog
from aidlink.gateway.bundle import DEFAULT_LIFETIME, BundleError, BundleLedger, open_bundle, seal_bundle
from aidlink.keys.identity import NodeIdentity
from aidlink.matcher.datasets import EncodingSpec
from aidlink.matcher.errors import InvalidInput, Refused
from aidlink.matcher.exchange import Exchange
from aidlink.matcher.result_messages import match_message, summary_message
from aidlink.v1 import bundle_pb2, common_pb2, matcher_pb2

IMPORT_METHOD = "offline/import-bundle"
COMPARE_METHOD = "offline/compare"


class BundleRefused(Exception):
    """The bundle was not imported; `status` is the gRPC-style status recorded in the audit log."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ImportOutcome:
    bundle_id: str
    department: str
    upload: matcher_pb2.UploadSummary
    result_blob: bytes  # the result bundle, encrypted to the sending node


@dataclass
class BundleImporter:
    exchange: Exchange
    audit_log: AuditLog | None
    ledger: BundleLedger
    key_pem: bytes  # the matcher's TLS key and certificate
    cert_pem: bytes
    ca_cert_pem: bytes
    crl_pem: Callable[[], bytes | None] = lambda: None
    result_lifetime: timedelta = DEFAULT_LIFETIME

    def import_bundle(self, blob: bytes, now: datetime | None = None) -> ImportOutcome:
        try:
            opened = open_bundle(
                blob,
                kind="dataset",
                recipient_key_pem=self.key_pem,
                recipient_cert_pem=self.cert_pem,
                ca_cert_pem=self.ca_cert_pem,
                crl_pem=self.crl_pem(),
                ledger=self.ledger,
                now=now,
            )
        except BundleError as exc:
            bid = exc.envelope.bundle_id if exc.envelope is not None else ""
            self._audit(IMPORT_METHOD, exc.status, exc.sender, bid, detail=f"{exc.problem}: {exc}")
            raise BundleRefused(exc.status, str(exc)) from None
        bid, sender = opened.envelope.bundle_id, opened.sender
        department = sender.department
        if department is None:  # open_bundle accepts node senders only, and a node certificate names one
            self._audit(
                IMPORT_METHOD, "PERMISSION_DENIED", sender, bid, detail=f"sender {sender.uri} names no department"
            )
            raise BundleRefused("PERMISSION_DENIED", f"bundle {bid}: sender {sender.uri} names no department")
        bundle = bundle_pb2.DatasetBundle()
        try:
            bundle.ParseFromString(opened.payload)
        except Exception:
            self._audit(IMPORT_METHOD, "INVALID_ARGUMENT", sender, bid, detail="payload is not a dataset bundle")
            raise BundleRefused("INVALID_ARGUMENT", f"bundle {bid}: payload is not a dataset bundle") from None
        if not self.ledger.claim(bid, sender.uri):
            self._audit(
                IMPORT_METHOD, "ALREADY_EXISTS", sender, bid, detail=f"replayed: bundle {bid} was already imported"
            )
            raise BundleRefused("ALREADY_EXISTS", f"bundle {bid} was already imported")
        try:
            upload = self._upload(department, bundle)
        except Refused as exc:
            self.ledger.release(bid)
            self._audit(
                IMPORT_METHOD,
                exc.status,
                sender,
                bid,
                datasets=[f"{department}/{bundle.header.dataset}"],
                detail=str(exc),
            )
            raise BundleRefused(exc.status, f"bundle {bid}: {exc}") from None
        self._audit(
            IMPORT_METHOD,
            "OK",
            sender,
            bid,
            datasets=[f"{upload.dataset}@v{upload.version}"],
            counts={"records": len(bundle.records), "accepted": upload.accepted, "rejected": upload.rejected_count},
        )
        result = bundle_pb2.ResultBundle(
            in_reply_to=bid,
            upload=upload,
            comparisons=[self._compare(sender, department, bid, bundle.header.dataset, c) for c in bundle.compare],
        )
        reply = seal_bundle(
            "result",
            result.SerializeToString(),
            sender_key_pem=self.key_pem,
            sender_cert_pem=self.cert_pem,
            recipient_cert_pem=opened.envelope.sender_certificate,
            lifetime=self.result_lifetime,
            now=now,
        )
        return ImportOutcome(bid, department, upload, reply)

    # -- the same domain calls as the online path -------------------------------------------------
    def _upload(self, department: str, bundle: bundle_pb2.DatasetBundle) -> matcher_pb2.UploadSummary:
        h = bundle.header
        spec = EncodingSpec(h.encoding.bits, h.encoding.secret_version, h.encoding.schema_fingerprint)
        writer = self.exchange.begin_upload(
            department, h.dataset, h.catalog_entry, h.catalog_version, spec, h.attributes
        )
        problems = []
        try:
            for index, rec in enumerate(bundle.records):
                problem = self.exchange.add_record(
                    writer, index, rec.ref, rec.encoding, rec.attributes, list(rec.blocking_keys)
                )
                if problem:
                    problems.append(problem)
            meta = writer.commit()
        except BaseException:
            writer.abort()
            raise
        return matcher_pb2.UploadSummary(
            dataset=meta.qualified_name,
            version=meta.version,
            accepted=meta.records,
            rejected=[
                matcher_pb2.RecordProblem(index=p.index, ref=p.ref, field=p.field, reason=p.reason)
                for p in problems[:100]
            ],
            rejected_count=len(problems),
        )

    def _compare(
        self, sender: NodeIdentity, department: str, bid: str, my_dataset: str, ask: bundle_pb2.BundleCompareRequest
    ) -> bundle_pb2.BundleComparison:
        from aidlink.matcher.purposes import BY_NAME

        request = matcher_pb2.CompareRequest(
            my_dataset=my_dataset,
            other_dataset=ask.other_dataset,
            purpose=BY_NAME.get(ask.purpose, common_pb2.PURPOSE_UNSPECIFIED),
            threshold=ask.threshold,
            all_pairs=ask.all_pairs,
        )
        try:
            if ask.purpose not in BY_NAME:
                raise InvalidInput(f"purpose: {ask.purpose!r} is not one of {', '.join(BY_NAME)}")
            r = self.exchange.compare(
                department, my_dataset, ask.other_dataset, ask.purpose, ask.threshold, ask.all_pairs
            )
        except Refused as exc:
            self._audit(
                COMPARE_METHOD,
                exc.status,
                sender,
                bid,
                purpose=ask.purpose,
                agreement=getattr(exc, "agreement", ""),
                datasets=[my_dataset, ask.other_dataset],
                detail=str(exc),
            )
            return bundle_pb2.BundleComparison(request=request, refused=f"{exc.status}: {exc}")
        self._audit(
            COMPARE_METHOD,
            "OK",
            sender,
            bid,
            purpose=ask.purpose,
            agreement=r.agreement.id,
            datasets=[f"{r.mine.qualified_name}@v{r.mine.version}", f"{r.other.qualified_name}@v{r.other.version}"],
            counts=r.audit_counts(),
        )
        return bundle_pb2.BundleComparison(
            request=request,
            summary=summary_message(r),
            matches=[match_message(m) for m in r.matches],
        )

    # -- audit ------------------------------------------------------------------------------------
    def _audit(
        self,
        method: str,
        status: str,
        sender: NodeIdentity | None,
        bid: str,
        *,
        purpose: str = "",
        agreement: str = "",
        datasets: list[str] | None = None,
        counts: dict[str, int] | None = None,
        detail: str = "",
    ) -> None:
        if self.audit_log is None:
            return
        self.audit_log.append(
            AuditEntry(
                time=utc_now(),
                method=method,
                outcome=audit_outcome(status),
                status=status,
                department=sender.department or "" if sender else "",
                identity=f"{sender.uri} serial=0x{sender.serial:x}" if sender else "",
                purpose=purpose,
                agreement=agreement,
                datasets=tuple(datasets or ()) + ((f"bundle:{bid}",) if bid else ()),
                counts=dict(counts or {}),
                detail=detail,
                peer="offline:removable-media",
            )
        )
