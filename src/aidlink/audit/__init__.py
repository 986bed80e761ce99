"""The tamper-evident audit trail of matcher calls.

entry (what is recorded) → log (Merkle log: group commit, fail closed, signed
checkpoints) → store / sqlite_store (append-only storage) ; officers read it
through reader (proofs), verify, bundle, report, cli (`aidlink audit`) and
service (gRPC AuditTrail). merkle, note and checkpoint are the RFC 9162 and
C2SP building blocks.
"""
