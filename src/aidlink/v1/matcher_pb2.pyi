from aidlink.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UploadHeader(_message.Message):
    __slots__ = ("dataset", "catalog_entry", "catalog_version", "encoding", "attributes", "expected_records")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    CATALOG_ENTRY_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_RECORDS_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    catalog_entry: str
    catalog_version: str
    encoding: _common_pb2.EncodingInfo
    attributes: _containers.RepeatedScalarFieldContainer[str]
    expected_records: int
    def __init__(self, dataset: _Optional[str] = ..., catalog_entry: _Optional[str] = ..., catalog_version: _Optional[str] = ..., encoding: _Optional[_Union[_common_pb2.EncodingInfo, _Mapping]] = ..., attributes: _Optional[_Iterable[str]] = ..., expected_records: _Optional[int] = ...) -> None: ...

class EncodedRecord(_message.Message):
    __slots__ = ("ref", "encoding", "attributes", "blocking_keys")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REF_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    BLOCKING_KEYS_FIELD_NUMBER: _ClassVar[int]
    ref: str
    encoding: bytes
    attributes: _containers.ScalarMap[str, str]
    blocking_keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, ref: _Optional[str] = ..., encoding: _Optional[bytes] = ..., attributes: _Optional[_Mapping[str, str]] = ..., blocking_keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class RecordBatch(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[EncodedRecord]
    def __init__(self, records: _Optional[_Iterable[_Union[EncodedRecord, _Mapping]]] = ...) -> None: ...

class UploadChunk(_message.Message):
    __slots__ = ("header", "batch")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    header: UploadHeader
    batch: RecordBatch
    def __init__(self, header: _Optional[_Union[UploadHeader, _Mapping]] = ..., batch: _Optional[_Union[RecordBatch, _Mapping]] = ...) -> None: ...

class RecordProblem(_message.Message):
    __slots__ = ("index", "ref", "field", "reason")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    index: int
    ref: str
    field: str
    reason: str
    def __init__(self, index: _Optional[int] = ..., ref: _Optional[str] = ..., field: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class UploadSummary(_message.Message):
    __slots__ = ("dataset", "version", "accepted", "rejected", "rejected_count")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    version: int
    accepted: int
    rejected: _containers.RepeatedCompositeFieldContainer[RecordProblem]
    rejected_count: int
    def __init__(self, dataset: _Optional[str] = ..., version: _Optional[int] = ..., accepted: _Optional[int] = ..., rejected: _Optional[_Iterable[_Union[RecordProblem, _Mapping]]] = ..., rejected_count: _Optional[int] = ...) -> None: ...

class CompareRequest(_message.Message):
    __slots__ = ("my_dataset", "other_dataset", "purpose", "threshold", "all_pairs")
    MY_DATASET_FIELD_NUMBER: _ClassVar[int]
    OTHER_DATASET_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    ALL_PAIRS_FIELD_NUMBER: _ClassVar[int]
    my_dataset: str
    other_dataset: str
    purpose: _common_pb2.Purpose
    threshold: float
    all_pairs: bool
    def __init__(self, my_dataset: _Optional[str] = ..., other_dataset: _Optional[str] = ..., purpose: _Optional[_Union[_common_pb2.Purpose, str]] = ..., threshold: _Optional[float] = ..., all_pairs: _Optional[bool] = ...) -> None: ...

class CompareProgress(_message.Message):
    __slots__ = ("done", "total", "stage")
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    done: int
    total: int
    stage: str
    def __init__(self, done: _Optional[int] = ..., total: _Optional[int] = ..., stage: _Optional[str] = ...) -> None: ...

class Match(_message.Message):
    __slots__ = ("my_ref", "score", "attributes", "disputed")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MY_REF_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    DISPUTED_FIELD_NUMBER: _ClassVar[int]
    my_ref: str
    score: float
    attributes: _containers.ScalarMap[str, str]
    disputed: bool
    def __init__(self, my_ref: _Optional[str] = ..., score: _Optional[float] = ..., attributes: _Optional[_Mapping[str, str]] = ..., disputed: _Optional[bool] = ...) -> None: ...

class MatchBatch(_message.Message):
    __slots__ = ("my_refs", "scores", "disputed", "attributes")
    MY_REFS_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    DISPUTED_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    my_refs: _containers.RepeatedScalarFieldContainer[str]
    scores: _containers.RepeatedScalarFieldContainer[float]
    disputed: _containers.RepeatedScalarFieldContainer[int]
    attributes: _containers.RepeatedCompositeFieldContainer[AttributeColumn]
    def __init__(self, my_refs: _Optional[_Iterable[str]] = ..., scores: _Optional[_Iterable[float]] = ..., disputed: _Optional[_Iterable[int]] = ..., attributes: _Optional[_Iterable[_Union[AttributeColumn, _Mapping]]] = ...) -> None: ...

class AttributeColumn(_message.Message):
    __slots__ = ("name", "values", "missing")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    name: str
    values: _containers.RepeatedScalarFieldContainer[str]
    missing: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, name: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ..., missing: _Optional[_Iterable[int]] = ...) -> None: ...

class CompareSummary(_message.Message):
    __slots__ = ("my_dataset", "my_version", "other_dataset", "other_version", "my_records", "matches", "comparisons", "threshold", "agreement", "notice")
    MY_DATASET_FIELD_NUMBER: _ClassVar[int]
    MY_VERSION_FIELD_NUMBER: _ClassVar[int]
    OTHER_DATASET_FIELD_NUMBER: _ClassVar[int]
    OTHER_VERSION_FIELD_NUMBER: _ClassVar[int]
    MY_RECORDS_FIELD_NUMBER: _ClassVar[int]
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    COMPARISONS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    my_dataset: str
    my_version: int
    other_dataset: str
    other_version: int
    my_records: int
    matches: int
    comparisons: int
    threshold: float
    agreement: str
    notice: _common_pb2.ResultNotice
    def __init__(self, my_dataset: _Optional[str] = ..., my_version: _Optional[int] = ..., other_dataset: _Optional[str] = ..., other_version: _Optional[int] = ..., my_records: _Optional[int] = ..., matches: _Optional[int] = ..., comparisons: _Optional[int] = ..., threshold: _Optional[float] = ..., agreement: _Optional[str] = ..., notice: _Optional[_Union[_common_pb2.ResultNotice, _Mapping]] = ...) -> None: ...

class CompareEvent(_message.Message):
    __slots__ = ("progress", "match", "summary", "matches")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    progress: CompareProgress
    match: Match
    summary: CompareSummary
    matches: MatchBatch
    def __init__(self, progress: _Optional[_Union[CompareProgress, _Mapping]] = ..., match: _Optional[_Union[Match, _Mapping]] = ..., summary: _Optional[_Union[CompareSummary, _Mapping]] = ..., matches: _Optional[_Union[MatchBatch, _Mapping]] = ...) -> None: ...

class StatusQuery(_message.Message):
    __slots__ = ("dataset", "encoding", "encoding_info", "purpose", "threshold")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    ENCODING_INFO_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    encoding: bytes
    encoding_info: _common_pb2.EncodingInfo
    purpose: _common_pb2.Purpose
    threshold: float
    def __init__(self, dataset: _Optional[str] = ..., encoding: _Optional[bytes] = ..., encoding_info: _Optional[_Union[_common_pb2.EncodingInfo, _Mapping]] = ..., purpose: _Optional[_Union[_common_pb2.Purpose, str]] = ..., threshold: _Optional[float] = ...) -> None: ...

class StatusAnswer(_message.Message):
    __slots__ = ("found", "score", "attributes", "dataset", "version", "agreement", "notice", "disputed")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FOUND_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    DISPUTED_FIELD_NUMBER: _ClassVar[int]
    found: bool
    score: float
    attributes: _containers.ScalarMap[str, str]
    dataset: str
    version: int
    agreement: str
    notice: _common_pb2.ResultNotice
    disputed: bool
    def __init__(self, found: _Optional[bool] = ..., score: _Optional[float] = ..., attributes: _Optional[_Mapping[str, str]] = ..., dataset: _Optional[str] = ..., version: _Optional[int] = ..., agreement: _Optional[str] = ..., notice: _Optional[_Union[_common_pb2.ResultNotice, _Mapping]] = ..., disputed: _Optional[bool] = ...) -> None: ...

class ListDatasetsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DatasetInfo(_message.Message):
    __slots__ = ("dataset", "version", "catalog_entry", "catalog_version", "records", "encoding", "agreements")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CATALOG_ENTRY_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    AGREEMENTS_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    version: int
    catalog_entry: str
    catalog_version: str
    records: int
    encoding: _common_pb2.EncodingInfo
    agreements: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, dataset: _Optional[str] = ..., version: _Optional[int] = ..., catalog_entry: _Optional[str] = ..., catalog_version: _Optional[str] = ..., records: _Optional[int] = ..., encoding: _Optional[_Union[_common_pb2.EncodingInfo, _Mapping]] = ..., agreements: _Optional[_Iterable[str]] = ...) -> None: ...

class ListDatasetsResponse(_message.Message):
    __slots__ = ("datasets",)
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    datasets: _containers.RepeatedCompositeFieldContainer[DatasetInfo]
    def __init__(self, datasets: _Optional[_Iterable[_Union[DatasetInfo, _Mapping]]] = ...) -> None: ...
