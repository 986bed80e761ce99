"""The officers' review console: a read-only web application over the audit log (`aidlink console serve`).

Officers log in with their certificate (mTLS, the custodian's CA and CRL); their browser verifies
the checkpoints, entries and proofs it shows. Every page view and export is an audited call.
"""
