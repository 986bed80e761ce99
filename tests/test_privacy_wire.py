"""Privacy by observation: record every byte the gateway nodes send to the
matcher during a demo-sized run, and every byte the matcher writes to disk,
and look for raw identifiers and the linkage secret in them."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import ahocorasick
import grpc
import pytest

from aidlink.gateway.client import submit_rows
from aidlink.gateway.normalize.issues import RowRejected
from aidlink.gateway.normalize.person import normalize_person
from aidlink.gateway.server import GatewayConfig, GatewayServer
from aidlink.gateway.synthetic.extracts import department_extract
from aidlink.gateway.synthetic.population import SyntheticPopulation
from aidlink.keys.linkage_secret import LinkageSecret
from aidlink.matcher.server import MatcherConfig, MatcherServer
from aidlink.v1 import common_pb2, gateway_pb2, gateway_pb2_grpc
from tests.wiretap import RecordingProxy

DATASETS = {
    "mca": ("low-income", "mca.low-income", ["category", "dispersed", "school_age", "household"]),
    "edu": ("students", "edu.students", ["school_stage", "assistance"]),
    "nhsa": ("medical", "nhsa.medical", ["serious_illness", "high_cost", "medical_assistance"]),
}


def needles(rows) -> dict[bytes, str]:
    """Byte strings that would betray a raw identifier, as written and as normalized.

    Short strings that random encoding bytes could produce by chance are left out:
    two-character names in GBK (4 bytes) are checked in UTF-8 (6 bytes) only.
    """
    found: dict[bytes, str] = {}

    def add(text: str, what: str, gbk: bool = True) -> None:
        if not text:
            return
        found[text.encode("utf-8")] = what
        if gbk and len(text.encode("gb18030")) >= 6:
            found[text.encode("gb18030")] = what + " (GBK)"

    for row in rows:
        for key in ("name", "id_number", "phone", "birth_date", "address", "household_id", "rec_id"):
            value = row.get(key, "")
            if key == "birth_date" and len(value) < 8:
                continue
            add(value, key)
        try:
            person = normalize_person(row)
        except RowRejected:
            continue
        for key in ("name", "id_number", "phone", "birth_date", "name_pinyin"):
            if key == "name_pinyin" and len(person.features[key]) < 8:
                continue
            add(person.features[key], f"normalized {key}")
    return found


_AUTOMATA: dict[int, tuple[dict, ahocorasick.Automaton]] = {}


PSEUDONYM = re.compile(r"[0-9a-f]{32,}")  # a keyed pseudonym's form (gateway.pseudonyms): hex


def first_leak(data: bytes, wanted: dict[bytes, str]) -> str | None:
    """The first needle found in `data` (Aho-Corasick over bytes seen as latin-1,
    one character per byte: a per-needle `in` would take minutes on megabytes).

    A digit-only needle inside a run of 32+ hex characters is a chance hit in a household
    pseudonym, not a leak: 8 digits such as a birth date turn up by chance in about one run
    in five among 4,000 random 32-hex pseudonyms, so such a hit is not counted."""
    cached = _AUTOMATA.get(id(wanted))
    if cached is None or cached[0] is not wanted:
        automaton = ahocorasick.Automaton()
        for needle, what in wanted.items():
            automaton.add_word(needle.decode("latin-1"), (needle, what))
        automaton.make_automaton()
        _AUTOMATA[id(wanted)] = cached = (wanted, automaton)
    text = data.decode("latin-1")
    for end, (needle, what) in cached[1].iter(text):
        start = end - len(needle) + 1
        if needle.isdigit() and any(
            m.start() <= start and end < m.end() for m in PSEUDONYM.finditer(text, max(0, start - 64), end + 65)
        ):
            continue
        return f"{what} {needle!r}"
    return None


def test_leak_search_discounts_only_digits_inside_a_pseudonym():
    wanted = {b"20090202": "birth_date", b"H0000013": "household_id"}
    pseudonym = b"a3f" + b"20090202" + b"0c" * 11  # 33 hex characters, a date by chance
    assert first_leak(pseudonym, wanted) is None
    assert first_leak(b"birth=20090202;", wanted) == "birth_date b'20090202'"
    assert first_leak(b"a3f20090202", wanted) == "birth_date b'20090202'"  # too short for a pseudonym
    assert first_leak(pseudonym + b"|20090202", wanted) == "birth_date b'20090202'"
    assert first_leak(pseudonym + b"H0000013", wanted) == "household_id b'H0000013'"


@pytest.fixture(scope="module")
def plaintext_run(tmp_path_factory):
    """Matcher in development plaintext mode so the wire can be read; nodes talk through a tap."""
    root = tmp_path_factory.mktemp("wire")
    population = SyntheticPopulation.generate(20000, seed=5)
    extracts = {d: department_extract(population, d, seed=5) for d in DATASETS}
    secret = LinkageSecret.generate(1)
    matcher = MatcherServer(MatcherConfig(data_dir=root / "matcher", listen="127.0.0.1:0", insecure_dev=True)).start()
    tap = RecordingProxy(matcher.address)
    nodes = {}
    try:
        for dept, (dataset, entry, attrs) in DATASETS.items():
            server = GatewayServer(
                GatewayConfig(
                    department=dept, data_dir=root / dept, matcher=tap.address, secret_key=secret.key, secret_version=1
                )
            ).start()
            nodes[dept] = server
            channel = grpc.insecure_channel(server.address)
            stub = gateway_pb2_grpc.GatewayStub(channel)
            submit_rows(
                stub,
                gateway_pb2.SubmitHeader(
                    dataset=dataset, catalog_entry=entry, catalog_version="2023.1", attributes=attrs
                ),
                extracts[dept].rows,
            )
            nodes[dept] = (server, channel, stub)
        for dept, mine, other, purpose in (
            ("edu", "students", "mca/low-income", common_pb2.ELIGIBILITY_CHECK),
            ("mca", "low-income", "nhsa/medical", common_pb2.POLICY_DELIVERY_CHECK),
        ):
            list(
                nodes[dept][2].CompareDataset(
                    gateway_pb2.GatewayCompareRequest(my_dataset=mine, other_dataset=other, purpose=purpose)
                )
            )
        row = extracts["mca"].rows[0]
        nodes["nhsa"][2].CheckPerson(
            gateway_pb2.CheckPersonRequest(
                fields={k: row[k] for k in ("name", "id_number", "birth_date", "sex", "phone", "address")},
                dataset="mca/low-income",
                purpose=common_pb2.ELIGIBILITY_CHECK,
            )
        )
        yield {
            "sent": tap.sent_by_clients(),
            "received": tap.sent_by_server(),
            "extracts": extracts,
            "needles": {d: needles(e.rows) for d, e in extracts.items()},
            "secret": secret,
            "matcher_dir": root / "matcher",
            "root": root,
        }
    finally:
        for server, channel, _ in nodes.values():
            channel.close()
            server.stop(grace=1)
        tap.close()
        matcher.stop(grace=1)


def test_capture_is_real_plaintext(plaintext_run):
    # Positive control: the capture holds the protocol in the clear (so absence below means something).
    sent = plaintext_run["sent"]
    assert len(sent) > 1_000_000
    assert b"mca.low-income" in sent and b"/aidlink.v1.Matcher/UploadDataset" in sent
    # ... and the needle search does find identifiers where they are.
    extract = plaintext_run["extracts"]["edu"]
    raw = "\n".join(",".join(r.values()) for r in extract.rows).encode("gb18030")
    assert first_leak(raw, plaintext_run["needles"]["edu"]) is not None


def test_no_raw_identifier_or_secret_crosses_the_wire(plaintext_run):
    sent = plaintext_run["sent"]
    for dept, wanted in plaintext_run["needles"].items():
        leak = first_leak(sent, wanted)
        assert leak is None, f"{dept}: {leak} was sent to the matcher"
    key = plaintext_run["secret"].key
    for form in (key, key.hex().encode(), base64.b64encode(key)):
        assert form not in sent
    # Record ids stay on the node: the matcher sees opaque references only.
    assert b"EDU-0" not in sent and b"MCA-0" not in sent


def test_matcher_answers_carry_no_other_side_identifiers(plaintext_run):
    received = plaintext_run["received"]
    for wanted in plaintext_run["needles"].values():
        assert first_leak(received, wanted) is None
    assert b"MCA-0" not in received and b"NHSA-0" not in received


def test_nothing_identifying_lands_on_the_matchers_disk(plaintext_run):
    files = [p for p in Path(plaintext_run["matcher_dir"]).rglob("*") if p.is_file()]
    assert any(p.suffix == ".bin" for p in files) and any(p.name == "matcher.sqlite" for p in files)
    wanted = {}
    for needles_of_department in plaintext_run["needles"].values():
        wanted.update(needles_of_department)
    key = plaintext_run["secret"].key
    for path in files:
        data = path.read_bytes()
        assert first_leak(data, wanted) is None, f"{path.name} holds a raw identifier"
        assert key not in data and key.hex().encode() not in data
        assert b"EDU-0" not in data and b"MCA-0" not in data


def test_mtls_wire_shows_nothing_in_the_clear(tmp_path):
    """With mTLS (the default), not even dataset names are readable on the wire."""
    from aidlink.demo.loopback import LoopbackDeployment

    population = SyntheticPopulation.generate(300, seed=9)
    rows = department_extract(population, "mca", seed=9).rows
    deployment = LoopbackDeployment(tmp_path, departments=())
    deployment.start()
    tap = RecordingProxy(deployment.matcher.address)
    try:
        deployment.matcher.address  # noqa: B018
        node = _node_via(deployment, "mca", tap.address)
        submit_rows(
            node[2],
            gateway_pb2.SubmitHeader(
                dataset="low-income", catalog_entry="mca.low-income", catalog_version="2023.1", attributes=["category"]
            ),
            rows,
        )
        sent = tap.sent_by_clients()
        assert len(sent) > 10_000
        assert b"mca.low-income" not in sent and b"low-income" not in sent
        assert first_leak(sent, needles(rows)) is None
    finally:
        node[1].close()
        node[0].stop(grace=1)
        tap.close()
        deployment.stop()


def _node_via(deployment, dept, matcher_address):
    from aidlink.gateway.server import NodeTls
    from aidlink.keys.linkage_secret import open_sealed

    directory = deployment.node_dir(dept)
    secret = open_sealed((directory / "linkage-secret.sealed").read_bytes(), (directory / "node.key").read_bytes())
    server = GatewayServer(
        GatewayConfig(
            department=dept,
            data_dir=directory / "state",
            matcher=matcher_address,
            secret_key=secret.key,
            secret_version=secret.version,
            tls=NodeTls(directory / "ca.crt", directory / "node.crt", directory / "node.key"),
            matcher_server_name="localhost",
        )
    ).start()
    channel = grpc.insecure_channel(server.address)
    return server, channel, gateway_pb2_grpc.GatewayStub(channel)
