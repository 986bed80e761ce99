"""A compare's matches travel in batches: a real matcher on loopback answers 100k+ matches in
a handful of messages, each within the byte limit, in the order and with the content a
one-match-per-message answer had."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest

from aidlink.bench.kernel import _near_duplicates
from aidlink.bench.scale import BENCH_AGREEMENTS
from aidlink.gateway.match_batches import RemoteMatchBatch, attribute_rows, disputed_flags, remote_matches
from aidlink.matcher.authentication import DEV_DEPARTMENT_HEADER
from aidlink.matcher.compared_matches import ComparedMatches
from aidlink.matcher.result_messages import MAX_BATCH_BYTES, match_batches
from aidlink.matcher.server import MatcherConfig, MatcherServer
from aidlink.v1 import common_pb2, matcher_pb2, matcher_pb2_grpc

INFO = common_pb2.EncodingInfo(bits=1024, secret_version=1, schema_fingerprint="test")
N = 100_000
NOISY = 2_000  # rows of mine that also meet a noisy copy (two matches, scores apart)
STATES = ("receiving", "enrolled", "none")


def _upload(stub, department, dataset, entry, refs, encodings, keys, attributes):
    def chunks():
        yield matcher_pb2.UploadChunk(
            header=matcher_pb2.UploadHeader(
                dataset=dataset,
                catalog_entry=entry,
                catalog_version="2023.1",
                encoding=INFO,
                attributes=["social_insurance", "registered_unemployed"] if attributes else [],
            )
        )
        for start in range(0, len(refs), 5000):
            yield matcher_pb2.UploadChunk(
                batch=matcher_pb2.RecordBatch(
                    records=[
                        matcher_pb2.EncodedRecord(
                            ref=refs[i],
                            encoding=encodings[i].tobytes(),
                            blocking_keys=[keys[i]],
                            attributes=attributes[i] if attributes else {},
                        )
                        for i in range(start, min(start + 5000, len(refs)))
                    ]
                )
            )

    summary = stub.UploadDataset(chunks(), metadata=[(DEV_DEPARTMENT_HEADER, department)])
    assert summary.accepted == len(refs), list(summary.rejected)[:3]


def _attributes(j: int) -> dict[str, str]:
    """Some provider records lack an attribute: a batch must say so, not send an empty value."""
    attrs = {"social_insurance": STATES[j % 3]}
    if j % 5:
        attrs["registered_unemployed"] = str(j % 2)
    return attrs


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    common = int(np.unpackbits(a & b).sum())
    return 2 * common / float(int(np.unpackbits(a).sum()) + int(np.unpackbits(b).sum()))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """mca's N records; hrss holds each of them (shuffled) and noisy copies of the first NOISY."""
    tmp = tmp_path_factory.mktemp("batches")
    rng = np.random.default_rng(19)
    mine = np.packbits(rng.random((N, 1024)) < 0.3, axis=1)
    noisy = _near_duplicates(rng, mine[:NOISY])
    other = np.concatenate([mine, noisy])
    order = rng.permutation(len(other))  # other row k holds source row order[k]
    other = other[order]
    source_keys = [i.to_bytes(8, "little") * 2 for i in range(N)] + [i.to_bytes(8, "little") * 2 for i in range(NOISY)]
    agreements = Path(tmp) / "agreements.toml"
    agreements.write_text(BENCH_AGREEMENTS, encoding="utf-8")
    server = MatcherServer(
        MatcherConfig(data_dir=Path(tmp) / "data", listen="127.0.0.1:0", insecure_dev=True, agreements=agreements)
    ).start()
    channel = grpc.insecure_channel(server.address)
    try:
        stub = matcher_pb2_grpc.MatcherStub(channel)
        mine_refs = [f"m{i}" for i in range(N)]
        other_refs = [f"o{k}" for k in range(len(other))]
        other_attrs = [_attributes(k) for k in range(len(other))]
        _upload(stub, "mca", "people", "mca.low-income", mine_refs, mine, source_keys[:N], None)
        _upload(
            stub,
            "hrss",
            "jobs",
            "hrss.employment",
            other_refs,
            other,
            [source_keys[s] for s in order],
            other_attrs,
        )
        # What a one-match-per-message answer held, worked out from the data: per mca record
        # (in upload order) its exact copy (score 1.0), then its noisy copy if that reaches 0.8.
        where = np.empty(len(other), dtype=np.int64)
        where[order] = np.arange(len(other))
        expected = []
        for i in range(N):
            k = int(where[i])
            expected.append((mine_refs[i], 1.0, other_attrs[k], False))
            if i < NOISY:
                k2 = int(where[N + i])
                score = _dice(mine[i], other[k2])
                if score >= 0.8:
                    expected.append((mine_refs[i], score, other_attrs[k2], False))
        yield stub, server, expected
    finally:
        channel.close()
        server.stop(0)


def _compare(stub):
    return list(
        stub.CompareDatasets(
            matcher_pb2.CompareRequest(
                my_dataset="people",
                other_dataset="hrss/jobs",
                purpose=common_pb2.POLICY_DELIVERY_CHECK,
                threshold=0.8,
                all_pairs=True,
            ),
            metadata=[(DEV_DEPARTMENT_HEADER, "mca")],
        )
    )


def test_100k_matches_arrive_in_few_batches_in_the_old_order_and_content(world):
    stub, server, expected = world
    events = _compare(stub)
    batches = [e for e in events if e.WhichOneof("event") == "matches"]
    assert not [e for e in events if e.WhichOneof("event") == "match"]
    got = [(m.my_ref, m.score, dict(m.attributes), m.disputed) for e in events for m in remote_matches(e)]
    assert len(got) >= 100_000 and len(got) > N  # the noisy copies add second matches
    assert got == expected
    assert len(batches) <= len(got) // 1000  # far fewer messages than matches
    assert all(b.ByteSize() <= MAX_BATCH_BYTES for b in batches)
    summary = events[-1].summary
    assert events[-1].WhichOneof("event") == "summary" and summary.matches == len(got)
    # The same answer as the comparison's matches read one by one (what per-match messages carried).
    result = server.exchange.compare("mca", "people", "hrss/jobs", "policy-delivery-check", 0.8, True)
    assert [tuple(m) for m in result.matches] == got


def _matches(n: int, disputed: set[str]) -> ComparedMatches:
    rng = np.random.default_rng(5)
    return ComparedMatches.in_answer_order(
        rng.integers(0, 50, n),
        rng.integers(0, 40, n),
        rng.choice([0.8, 0.9, 1.0], n),
        my_refs=[f"m{i}" for i in range(50)],
        other_refs=[f"o{i}" for i in range(40)],
        other_attributes=[{"a": f"v{i}" * 30} if i % 3 else {} for i in range(40)],
        returns=("a", "b"),
        disputed_refs=frozenset(disputed),
    )


def test_batches_keep_disputes_and_missing_attributes_and_respect_a_small_limit():
    matches = _matches(3000, {"o3", "o7"})
    batches = list(match_batches(matches, max_bytes=4096))
    assert len(batches) > 10 and all(b.ByteSize() <= 4096 for b in batches)
    flat = [
        (ref, score, attrs, disputed)
        for b in batches
        for ref, score, attrs, disputed in zip(b.my_refs, b.scores, attribute_rows(b), disputed_flags(b))
    ]
    assert flat == [tuple(m) for m in matches]
    assert any(d for *_, d in flat) and any(not a for _, _, a, _ in flat)


def test_a_batch_whose_columns_do_not_line_up_is_refused_clearly():
    batch = next(match_batches(_matches(10, set())))
    del batch.scores[-1]
    with pytest.raises(ValueError, match="malformed match batch: 9 scores for 10 my_refs"):
        RemoteMatchBatch(batch)
    batch = next(match_batches(_matches(10, set())))
    batch.disputed.append(10)
    with pytest.raises(ValueError, match="disputed position is past the batch's 10 matches"):
        RemoteMatchBatch(batch)


def test_a_relayed_batch_with_long_record_ids_is_split_to_the_limit_in_order():
    remote = RemoteMatchBatch(next(match_batches(_matches(400, {"o3"}))))
    local = remote.resolved(lambda ref: ref + "-" + "x" * 2000)  # ids far longer than the refs
    pieces = list(local.pieces(max_bytes=64 * 1024))
    assert len(pieces) > 1 and all(p.message.ByteSize() <= 64 * 1024 for p in pieces)
    assert [m for p in pieces for m in p.matches()] == local.matches()


def test_gateway_compare_into_a_missing_folder_says_so_in_one_line(tmp_path, capsys):
    from aidlink.cli.main import main

    target = tmp_path / "missing" / "out.csv"
    argv = ["gateway", "compare", "--gateway", "127.0.0.1:9", "--my-dataset", "students"]
    argv += ["--other", "mca/low-income", "--purpose", "eligibility-check", "-o", str(target)]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"aidlink gateway compare: cannot write {target}: No such file or directory"]
