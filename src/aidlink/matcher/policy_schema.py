"""The policy gate's schema, as numbered migrations of the ``policy`` component.

One table: which provider records each (user department, agreement, provider
dataset version, as "<department>/<name>@v<version>") has been shown, and when
last, so that the share of a provider's records revealed in a period can be
counted (volume limits). Never edit a released migration: add the next one.
"""

from __future__ import annotations

from aidlink.database.migrations import Migration

COMPONENT = "policy"

V1 = """
CREATE TABLE policy_reveals (
    department TEXT NOT NULL,
    agreement TEXT NOT NULL,
    dataset TEXT NOT NULL,
    ref TEXT NOT NULL,
    revealed_at TEXT NOT NULL,
    PRIMARY KEY (department, agreement, dataset, ref)
);
CREATE INDEX policy_reveals_window ON policy_reveals (department, agreement, dataset, revealed_at);
"""

MIGRATIONS = (Migration(1, "provider records revealed per department, agreement and dataset version", V1),)
