"""Every setting the matcher needs can be given through the Helm chart (issue 18): its state in
PostgreSQL (the URL from a Secret the chart never creates), a risk-rule override, extra volumes,
beside the audit key and witnesses (tests/test_helm_witness.py) and the persistent volume that
still holds the encodings. Linted --strict and rendered by the real helm binary; the rendered
command line and environment parse with the real CLI settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deploy.validation import helm
from tests.test_helm_chart import NAMESPACE, _kind, _matcher
from tests.test_helm_chart import helm_binary as helm_binary  # the fixture

RISK_RULES = Path(__file__).parents[1] / "src" / "aidlink" / "matcher" / "data" / "risk-rules.toml"


@pytest.fixture
def production_values(tmp_path) -> Path:
    """A production-like matcher: PostgreSQL, persistence sized, a risk-rule override, a CA bundle
    mounted for the database's TLS, the audit key Secret and one witness."""
    values = {
        "matcher": {
            "database": {"existingSecret": "aidlink-matcher-database", "key": "url"},
            "riskRules": {"content": RISK_RULES.read_text("utf-8")},
            "persistence": {"size": "200Gi", "storageClassName": "fast-ssd"},
            "audit": {"existingSecret": "custodian-audit-key"},
            "extraVolumes": [{"name": "db-ca", "configMap": {"name": "postgres-ca"}}],
            "extraVolumeMounts": [{"name": "db-ca", "mountPath": "/etc/aidlink/db-ca", "readOnly": True}],
        }
    }
    path = tmp_path / "production.yaml"
    path.write_text(yaml.safe_dump(values, allow_unicode=True), encoding="utf-8")
    return path


def test_helm_lint_strict_with_database_audit_key_and_persistence(helm_binary, production_values):
    report = helm.lint(helm_binary, [production_values])
    assert "1 chart(s) linted, 0 chart(s) failed" in report


def test_the_database_url_comes_from_the_secret_and_the_cli_reads_it(helm_binary, production_values, monkeypatch):
    from aidlink.cli.main import build_parser
    from aidlink.cli.settings import apply_settings

    docs = helm.template(helm_binary, [production_values], namespace=NAMESPACE)
    container = _matcher(docs)["spec"]["template"]["spec"]["containers"][0]
    [env] = [e for e in container["env"] if e["name"] == "AIDLINK_DATABASE_URL"]
    assert env["valueFrom"] == {"secretKeyRef": {"name": "aidlink-matcher-database", "key": "url"}}
    assert not any("postgresql://" in a for a in container["args"])  # never on the command line
    # what the pod's environment gives the real settings reader
    monkeypatch.setenv("AIDLINK_DATABASE_URL", "postgresql://aidlink@db.example:5432/aidlink")
    parser = build_parser("matcher")
    args = parser.parse_args(container["args"])
    apply_settings(args.settings_parser, None)
    args = parser.parse_args(container["args"])
    assert args.database_url == "postgresql://aidlink@db.example:5432/aidlink"


def test_risk_rules_override_is_a_config_map_the_matcher_reads(helm_binary, production_values):
    docs = helm.template(helm_binary, [production_values], namespace=NAMESPACE)
    [config_map] = [c for c in _kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-risk-rules")]
    assert config_map["data"]["risk-rules.toml"].strip() == RISK_RULES.read_text("utf-8").strip()
    pod = _matcher(docs)["spec"]["template"]["spec"]
    container = pod["containers"][0]
    path = Path(next(a.split("=", 1)[1] for a in container["args"] if a.startswith("--risk-rules=")))
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(path.parent))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    assert volume["configMap"]["items"] == [{"key": path.name, "path": path.name}]


def test_extra_volumes_and_persistence_render(helm_binary, production_values):
    docs = helm.template(helm_binary, [production_values], namespace=NAMESPACE)
    matcher = _matcher(docs)
    pod = matcher["spec"]["template"]["spec"]
    assert {"name": "db-ca", "configMap": {"name": "postgres-ca"}} in pod["volumes"]
    assert {"name": "db-ca", "mountPath": "/etc/aidlink/db-ca", "readOnly": True} in pod["containers"][0][
        "volumeMounts"
    ]
    [claim] = matcher["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "200Gi"
    assert claim["spec"]["storageClassName"] == "fast-ssd"


@pytest.mark.parametrize(
    "assignment",
    [
        "matcher.database.existingSecret=Not_A_Name",
        "matcher.database.key=",
        "matcher.riskRules.sideways=1",
    ],
)
def test_malformed_settings_are_refused_by_the_schema(helm_binary, assignment):
    with pytest.raises(helm.HelmFailed):
        helm.template(helm_binary, set_values=[assignment], namespace=NAMESPACE)


def test_risk_rules_given_twice_fail_clearly(helm_binary):
    with pytest.raises(helm.HelmFailed, match="matcher.riskRules: set either existingConfigMap or content"):
        helm.template(
            helm_binary,
            set_values=["matcher.riskRules.existingConfigMap=rules", "matcher.riskRules.content=x"],
            namespace=NAMESPACE,
        )


@pytest.mark.parametrize(
    "volumes, why",
    [
        ('[{"name": "host", "hostPath": {"path": "/"}}]', "a hostPath would open the node's disk to the matcher"),
        ('[{"configMap": {"name": "x"}}]', "no name"),
        ('[{"name": "two", "configMap": {"name": "x"}, "secret": {"secretName": "y"}}]', "two sources"),
    ],
)
def test_extra_volumes_are_limited_to_safe_sources(helm_binary, volumes, why):
    with pytest.raises(helm.HelmFailed):
        helm.template(helm_binary, set_json=[f"matcher.extraVolumes={volumes}"], namespace=NAMESPACE)
