"""Key scope: encodings made for different agreements or periods cannot be pooled, and the matcher
never compares them (gateway.key_scope)."""

from __future__ import annotations

from datetime import date

import grpc
import numpy as np
import pytest

from aidlink.cli.main import main
from aidlink.gateway.client import submit_rows
from aidlink.gateway.encoding import Encoder, LinkageSchema
from aidlink.gateway.key_scope import KeyScopeError, expand_scope, scope_fingerprint, split_fingerprint
from aidlink.gateway.pipeline import RecordPipeline, RowRefused, schema_fingerprint
from aidlink.gateway.server import GatewayConfig, GatewayServer
from aidlink.gateway.synthetic import SyntheticPopulation, department_extract
from aidlink.keys.linkage_secret import LinkageSecret
from aidlink.matcher.datasets import EncodingSpec
from aidlink.matcher.schema_policies import DEFAULT_SCHEMA_FINGERPRINT, V2_CALIBRATED_THRESHOLD, schema_policy
from aidlink.matcher.server import MatcherConfig, MatcherServer
from aidlink.v1 import common_pb2, gateway_pb2, gateway_pb2_grpc
from tests.test_cli_files import custody_secret_file

SECRET = b"one department's linkage secret, 32+"
SCHEMA = LinkageSchema.default_chinese()
DAY = date(2026, 11, 27)
Q3, Q4 = "agreement A-17|2026-Q3", "agreement A-17|2026-Q4"


def _prepared(scope: str, rows) -> tuple[list[bytes], list[tuple[bytes, ...]]]:
    pipeline = RecordPipeline(SCHEMA, SECRET, 1, today=lambda: DAY, scope=scope)
    encodings, tokens = [], []
    for row in rows:
        try:
            encoding, person = pipeline.encode_person(row)
        except RowRefused:
            continue
        encodings.append(encoding)
        tokens.append(tuple(pipeline.blocking.tokens(person)))
    return encodings, tokens


def _dice(a: bytes, b: bytes) -> float:
    x, y = np.unpackbits(np.frombuffer(a, np.uint8)), np.unpackbits(np.frombuffer(b, np.uint8))
    return 2 * int((x & y).sum()) / int(x.sum() + y.sum())


@pytest.fixture(scope="module")
def rows():
    population = SyntheticPopulation.generate(1500, seed=3)
    return department_extract(population, "mca", seed=3).rows


def test_the_same_records_under_two_scopes_share_no_token_and_no_similarity(rows) -> None:
    q3_encodings, q3_tokens = _prepared(Q3, rows)
    q4_encodings, q4_tokens = _prepared(Q4, rows)
    again, again_tokens = _prepared(Q3, rows)
    assert len(q3_encodings) == len(q4_encodings) > 200
    # Within one scope the same record encodes and tokenizes identically (linkage works) ...
    assert again == q3_encodings and again_tokens == q3_tokens
    # ... across scopes no blocking token of any record recurs,
    assert not {t for ts in q3_tokens for t in ts} & {t for ts in q4_tokens for t in ts}
    # and a record's two encodings are as alike as two unrelated records' (diffused: Dice near 0.5),
    # far under the matcher's floor: a pooled corpus gains no second sighting of anyone.
    same_person = [_dice(a, b) for a, b in zip(q3_encodings, q4_encodings, strict=True)]
    unrelated = [_dice(a, b) for a, b in zip(q3_encodings, q3_encodings[1:], strict=False)]
    floor = schema_policy(EncodingSpec(1024, 1, DEFAULT_SCHEMA_FINGERPRINT)).threshold_floor
    assert max(same_person) < floor
    assert abs(np.mean(same_person) - np.mean(unrelated)) < 0.02
    # The pipeline's keys are the encoder's scoped keys: one definition of a scope.
    scoped = Encoder(SCHEMA, SECRET, scope=Q3.encode())
    pipeline = RecordPipeline(SCHEMA, SECRET, 1, today=lambda: DAY, scope=Q3)
    first = next(r for r in rows if r["name"])
    assert pipeline.encode_person(first)[0] == scoped.encode(pipeline.encode_person(first)[1].features)


def test_a_scoped_upload_declares_its_scope_and_keeps_its_schemas_policy() -> None:
    plain = RecordPipeline(SCHEMA, SECRET, 1).parameters.schema_fingerprint
    q3 = RecordPipeline(SCHEMA, SECRET, 1, scope=Q3).parameters.schema_fingerprint
    q4 = RecordPipeline(SCHEMA, SECRET, 1, scope=Q4).parameters.schema_fingerprint
    assert plain == schema_fingerprint(SCHEMA) == DEFAULT_SCHEMA_FINGERPRINT
    assert split_fingerprint(q3) == (plain, scope_fingerprint(Q3)) and q3 != q4
    assert Q3 not in q3  # the scope's fingerprint travels, not its text
    spec = EncodingSpec(1024, 1, q3)
    assert spec.schema == plain and spec.scope == scope_fingerprint(Q3)
    assert schema_policy(spec).calibrated_threshold == V2_CALIBRATED_THRESHOLD


def test_scope_placeholders_expand_to_the_period() -> None:
    assert expand_scope("agreement A-17|{quarter}", DAY) == Q4
    assert expand_scope("agreement A-17|{quarter}", date(2026, 7, 1)) == Q3
    assert expand_scope("exchange 9|{year}", DAY) == "exchange 9|2026"
    with pytest.raises(KeyScopeError, match=r"only the placeholders \{quarter\} and \{year\}"):
        expand_scope("agreement A-17|{month}", DAY)


def _node(root, dept: str, matcher: str, secret: LinkageSecret, scope: str) -> GatewayServer:
    config = GatewayConfig(
        department=dept,
        data_dir=root / dept,
        matcher=matcher,
        secret_key=secret.key,
        secret_version=1,
        key_scope=scope,
    )
    return GatewayServer(config).start()


def test_the_matcher_refuses_a_compare_across_scopes_naming_both(tmp_path) -> None:
    population = SyntheticPopulation.generate(600, seed=9)
    secret = LinkageSecret.generate(1)
    matcher = MatcherServer(MatcherConfig(data_dir=tmp_path / "matcher", listen="127.0.0.1:0", insecure_dev=True))
    matcher.start()
    nodes: list[tuple[GatewayServer, grpc.Channel]] = []
    try:
        scopes = {
            "mca": "agreement A-17|{quarter}",
            "edu": "agreement A-17|{quarter}",
            "nhsa": "agreement B-3|{quarter}",
        }
        entries = {
            "mca": ("low-income", "mca.low-income"),
            "edu": ("students", "edu.students"),
            "nhsa": ("medical", "nhsa.medical"),
        }
        stubs = {}
        for dept, (dataset, entry) in entries.items():
            server = _node(tmp_path, dept, matcher.address, secret, scopes[dept])
            channel = grpc.insecure_channel(server.address)
            nodes.append((server, channel))
            stubs[dept] = gateway_pb2_grpc.GatewayStub(channel)
            header = gateway_pb2.SubmitHeader(dataset=dataset, catalog_entry=entry, catalog_version="2023.1")
            submit_rows(stubs[dept], header, department_extract(population, dept, seed=9).rows)
        # Same scope: compared as ever.
        answers = list(
            stubs["edu"].CompareDataset(
                gateway_pb2.GatewayCompareRequest(
                    my_dataset="students", other_dataset="mca/low-income", purpose=common_pb2.ELIGIBILITY_CHECK
                )
            )
        )
        assert answers
        # Another agreement's scope: refused, naming both scopes.
        with pytest.raises(grpc.RpcError) as refused:
            list(
                stubs["mca"].CompareDataset(
                    gateway_pb2.GatewayCompareRequest(
                        my_dataset="low-income", other_dataset="nhsa/medical", purpose=common_pb2.POLICY_DELIVERY_CHECK
                    )
                )
            )
        detail = refused.value.details()
        a = scope_fingerprint(expand_scope(scopes["mca"], date.today()))
        b = scope_fingerprint(expand_scope(scopes["nhsa"], date.today()))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION, detail
        assert "different key scopes" in detail and a in detail and b in detail, detail
    finally:
        for server, channel in nodes:
            channel.close()
            server.stop(grace=1)
        matcher.stop(grace=1)


def test_match_refuses_files_encoded_under_two_scopes(tmp_path, capsys) -> None:
    population = SyntheticPopulation.generate(200, seed=4)
    department_extract(population, "mca", seed=4).write_csv(tmp_path / "mca.csv")
    custody_secret_file(tmp_path / "custody").rename(tmp_path / "secret")
    for name, scope in (("a", "agreement A-17|2026-Q3"), ("b", "agreement A-17|2026-Q4")):
        code = main(
            [
                "encode",
                str(tmp_path / "mca.csv"),
                "-o",
                str(tmp_path / f"{name}.json"),
                "--secret-file",
                str(tmp_path / "secret"),
                "--allow-unknown-columns",
                "--key-scope",
                scope,
            ]
        )
        assert code == 0
    capsys.readouterr()
    assert main(["match", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "-o", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert "encodings of different scopes are never compared" in err and "Traceback" not in err
    assert scope_fingerprint("agreement A-17|2026-Q3") in err and scope_fingerprint("agreement A-17|2026-Q4") in err


def test_encode_refuses_an_unknown_scope_placeholder_in_one_line(tmp_path, capsys) -> None:
    population = SyntheticPopulation.generate(50, seed=4)
    department_extract(population, "mca", seed=4).write_csv(tmp_path / "mca.csv")
    custody_secret_file(tmp_path / "custody").rename(tmp_path / "secret")
    args = ["encode", str(tmp_path / "mca.csv"), "-o", str(tmp_path / "a.json"), "--secret-file"]
    code = main([*args, str(tmp_path / "secret"), "--allow-unknown-columns", "--key-scope", "A-17|{month}"])
    err = capsys.readouterr().err
    assert code == 2 and "aidlink encode: key scope 'A-17|{month}'" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
