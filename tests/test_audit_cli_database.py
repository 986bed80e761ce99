"""Officers read and verify an audit log kept in PostgreSQL with the same commands."""

from __future__ import annotations

import pytest

from aidlink.audit.entry import AuditEntry, utc_now
from aidlink.audit.log import AuditLog
from aidlink.audit.open_store import open_audit_store
from aidlink.cli.main import main
from aidlink.keys.audit_key import AuditSigningKey
from tests.support.postgres import postgres_unreachable, scratch_schema

_UNREACHABLE = postgres_unreachable()
pytestmark = pytest.mark.skipif(_UNREACHABLE is not None, reason=f"PostgreSQL unavailable: {_UNREACHABLE}")


def test_tail_and_verify_with_a_database_url(tmp_path, capsys):
    key = AuditSigningKey.create(tmp_path / "audit.key")
    with scratch_schema() as url:
        log = AuditLog(open_audit_store(url), signing_key=key, origin="aidlink.audit/test")
        for i, dept in enumerate(("edu", "mca", "nhsa")):
            log.append(
                AuditEntry(
                    time=utc_now(),
                    method="/aidlink.v1.Matcher/CompareDatasets",
                    outcome="allowed" if i else "refused",
                    status="OK" if i else "PERMISSION_DENIED",
                    department=dept,
                )
            )
        log.checkpoint()
        log.close()
        assert main(["audit", "tail", "--database-url", url]) == 0
        out = capsys.readouterr().out
        assert "edu" in out and "nhsa" in out and "PERMISSION_DENIED" in out
        assert main(["audit", "verify", "--database-url", url, "--key", str(tmp_path / "audit.pub.pem")]) == 0
        assert "every entry and checkpoint verifies" in capsys.readouterr().out
    assert main(["audit", "tail"]) == 2
    assert "--data-dir (or --database-url) is required" in capsys.readouterr().err
