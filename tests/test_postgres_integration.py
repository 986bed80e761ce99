"""The integration suite once more with every piece of matcher state in PostgreSQL.

The plain run of these modules uses SQLite (the embedded default); this test
runs them again in a subprocess with ``--database=postgresql`` (tests/conftest.py),
each module in a scratch schema of the test server, so that `pytest` shows the
suite green on both databases. Skipped only when the PostgreSQL server is down,
and when this run is itself the PostgreSQL run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.postgres import postgres_unreachable

ROOT = Path(__file__).resolve().parents[1]
INTEGRATION_SUITE = (
    "test_e2e_exchange.py",
    "test_trust_mtls.py",
    "test_monitoring_referrals.py",
    "test_disputes_workflow.py",
    "test_catalog_grpc.py",
    "test_bundle_offline.py",
)


@pytest.mark.slow
def test_integration_suite_passes_with_matcher_state_in_postgresql(request):
    if request.config.getoption("--database") == "postgresql":
        pytest.skip("this run already uses PostgreSQL for the integration suite")
    reason = postgres_unreachable()
    if reason:
        pytest.skip(reason)
    env = {k: v for k, v in os.environ.items() if k != "AIDLINK_TEST_DATABASE"}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--database=postgresql",
            *(f"tests/{name}" for name in INTEGRATION_SUITE),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    assert run.returncode == 0, f"integration suite on PostgreSQL: {summary}\n{run.stdout[-6000:]}{run.stderr[-2000:]}"
    assert "matcher database: postgresql" in run.stdout and " passed" in summary
