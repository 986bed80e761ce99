"""A comparison's result on the wire: the messages the gRPC servicer streams and the offline
bundle import seals are built here, once, so the two paths answer alike."""

from __future__ import annotations

from aidlink.matcher.exchange import Comparison, MatchedRecord
from aidlink.result_notice import NOTICE
from aidlink.v1 import common_pb2, matcher_pb2


def match_message(m: MatchedRecord) -> matcher_pb2.Match:
    return matcher_pb2.Match(my_ref=m.ref, score=m.score, attributes=m.attributes, disputed=m.disputed)


def summary_message(result: Comparison) -> matcher_pb2.CompareSummary:
    return matcher_pb2.CompareSummary(
        my_dataset=result.mine.qualified_name,
        my_version=result.mine.version,
        other_dataset=result.other.qualified_name,
        other_version=result.other.version,
        my_records=result.mine.records,
        matches=len(result.matches),
        comparisons=result.comparisons,
        threshold=result.threshold,
        agreement=result.agreement.id,
        notice=common_pb2.ResultNotice(text=NOTICE),
    )
