"""The Helm chart gives the matcher its audit signing key (from a Secret it never creates) and the
witnesses that cosign its checkpoints, validated by values.schema.json; the rendered command line
parses with the real CLI into a matcher that has a key and its witnesses."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aidlink.witness.cosignature import WitnessVerifier
from deploy.validation import helm
from tests.test_helm_chart import NAMESPACE, _matcher, _render
from tests.test_helm_chart import helm_binary as helm_binary  # the fixture

WITNESS_KEY = WitnessVerifier("officers.example/witness", Ed25519PrivateKey.generate().public_key()).vkey()


def _container(docs) -> dict:
    return _matcher(docs)["spec"]["template"]["spec"]["containers"][0]


def test_the_matcher_always_gets_its_audit_key_from_the_secret(helm_binary):
    docs = _render(helm_binary)
    pod = _matcher(docs)["spec"]["template"]["spec"]
    container = _container(docs)
    assert "--audit-key=/etc/aidlink/audit/audit-signing.key" in container["args"]
    assert "--audit-key-passphrase-file=/etc/aidlink/audit/passphrase" in container["args"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/etc/aidlink/audit")
    assert mount["readOnly"] is True
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["secret"] == {"secretName": "aidlink-matcher-audit-key", "defaultMode": 0o440}
    assert not any(a.startswith("--witness") for a in container["args"])
    unprotected = _container(_render(helm_binary, "matcher.audit.passphraseProtected=false"))
    assert not any(a.startswith("--audit-key-passphrase-file") for a in unprotected["args"])


def test_witnesses_and_their_ca_render_into_flags_the_cli_accepts(helm_binary):
    from aidlink.cli.main import build_parser
    from aidlink.cli.matcher_settings import witness_endpoints

    witnesses = f'matcher.witnesses=[{{"url": "https://witness.officers.example:7380", "key": "{WITNESS_KEY}"}}]'
    docs = helm.template(
        helm_binary,
        set_values=["matcher.witnessCaConfigMap=custodian-ca", "matcher.audit.origin=aidlink.audit/jiangsu"],
        set_json=[witnesses],
        namespace=NAMESPACE,
    )
    container = _container(docs)
    args = build_parser().parse_args(container["args"])
    assert args.witness == ["https://witness.officers.example:7380"] and args.witness_key == [WITNESS_KEY]
    assert str(args.witness_ca) == "/etc/aidlink/witness-ca/ca.crt" and args.audit_origin == "aidlink.audit/jiangsu"
    [endpoint] = witness_endpoints(args.witness, args.witness_key, args.witness_ca)
    assert endpoint.verifier == WitnessVerifier.parse(WITNESS_KEY)
    pod = _matcher(docs)["spec"]["template"]["spec"]
    ca = next(v for v in pod["volumes"] if v["name"] == "witness-ca")
    assert ca["configMap"] == {"name": "custodian-ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]}


@pytest.mark.parametrize(
    "witness, why",
    [
        (f'{{"url": "witness.example:7380", "key": "{WITNESS_KEY}"}}', "no http(s):// scheme"),
        ('{"url": "https://w.example", "key": "w.example+0000+AQ=="}', "not a verifier key"),
        ('{"url": "https://w.example"}', "no key"),
        (f'{{"url": "https://w.example", "key": "{WITNESS_KEY}", "extra": 1}}', "unknown field"),
    ],
)
def test_malformed_witnesses_are_refused_by_the_schema(helm_binary, witness, why):
    with pytest.raises(helm.HelmFailed):
        helm.template(helm_binary, set_json=[f"matcher.witnesses=[{witness}]"], namespace=NAMESPACE)


def test_an_origin_with_spaces_is_refused(helm_binary):
    with pytest.raises(helm.HelmFailed):
        _render(helm_binary, "matcher.audit.origin=aidlink audit")


def test_witness_alerts_use_the_metrics_the_submitter_exposes(helm_binary):
    from deploy.validation import promql
    from deploy.validation.metric_names import exposed_metrics
    from tests.test_helm_chart import EXAMPLE

    docs = helm.template(helm_binary, [EXAMPLE], namespace=NAMESPACE)
    rules = {
        r["alert"]: r["expr"]
        for d in docs
        if d["kind"] == "PrometheusRule"
        for g in d["spec"]["groups"]
        for r in g["rules"]
    }
    for alert in ("AidlinkAuditWitnessRefuses", "AidlinkAuditWitnessBehind"):
        assert promql.reference_problems(rules[alert], exposed_metrics()) == [], alert
    assert "refused|rollback" in rules["AidlinkAuditWitnessRefuses"]
