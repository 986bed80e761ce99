from aidlink.v1 import common_pb2 as _common_pb2
from aidlink.v1 import matcher_pb2 as _matcher_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubmitHeader(_message.Message):
    __slots__ = ("dataset", "catalog_entry", "catalog_version", "id_column", "attributes")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    CATALOG_ENTRY_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    ID_COLUMN_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    catalog_entry: str
    catalog_version: str
    id_column: str
    attributes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, dataset: _Optional[str] = ..., catalog_entry: _Optional[str] = ..., catalog_version: _Optional[str] = ..., id_column: _Optional[str] = ..., attributes: _Optional[_Iterable[str]] = ...) -> None: ...

class RawRow(_message.Message):
    __slots__ = ("fields",)
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    fields: _containers.ScalarMap[str, str]
    def __init__(self, fields: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SubmitChunk(_message.Message):
    __slots__ = ("header", "rows")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    header: SubmitHeader
    rows: RawRowBatch
    def __init__(self, header: _Optional[_Union[SubmitHeader, _Mapping]] = ..., rows: _Optional[_Union[RawRowBatch, _Mapping]] = ...) -> None: ...

class RawRowBatch(_message.Message):
    __slots__ = ("rows",)
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[RawRow]
    def __init__(self, rows: _Optional[_Iterable[_Union[RawRow, _Mapping]]] = ...) -> None: ...

class RowProblem(_message.Message):
    __slots__ = ("row", "record_id", "field", "reason", "kept")
    ROW_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    KEPT_FIELD_NUMBER: _ClassVar[int]
    row: int
    record_id: str
    field: str
    reason: str
    kept: bool
    def __init__(self, row: _Optional[int] = ..., record_id: _Optional[str] = ..., field: _Optional[str] = ..., reason: _Optional[str] = ..., kept: _Optional[bool] = ...) -> None: ...

class SubmitSummary(_message.Message):
    __slots__ = ("dataset", "version", "rows", "uploaded", "problems", "problem_count", "rows_flagged")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    UPLOADED_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_COUNT_FIELD_NUMBER: _ClassVar[int]
    ROWS_FLAGGED_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    version: int
    rows: int
    uploaded: int
    problems: _containers.RepeatedCompositeFieldContainer[RowProblem]
    problem_count: int
    rows_flagged: int
    def __init__(self, dataset: _Optional[str] = ..., version: _Optional[int] = ..., rows: _Optional[int] = ..., uploaded: _Optional[int] = ..., problems: _Optional[_Iterable[_Union[RowProblem, _Mapping]]] = ..., problem_count: _Optional[int] = ..., rows_flagged: _Optional[int] = ...) -> None: ...

class GatewayCompareRequest(_message.Message):
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

class LocalMatch(_message.Message):
    __slots__ = ("record_id", "score", "attributes", "disputed")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    DISPUTED_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    score: float
    attributes: _containers.ScalarMap[str, str]
    disputed: bool
    def __init__(self, record_id: _Optional[str] = ..., score: _Optional[float] = ..., attributes: _Optional[_Mapping[str, str]] = ..., disputed: _Optional[bool] = ...) -> None: ...

class LocalMatchBatch(_message.Message):
    __slots__ = ("record_ids", "scores", "disputed", "attributes")
    RECORD_IDS_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    DISPUTED_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    record_ids: _containers.RepeatedScalarFieldContainer[str]
    scores: _containers.RepeatedScalarFieldContainer[float]
    disputed: _containers.RepeatedScalarFieldContainer[int]
    attributes: _containers.RepeatedCompositeFieldContainer[_matcher_pb2.AttributeColumn]
    def __init__(self, record_ids: _Optional[_Iterable[str]] = ..., scores: _Optional[_Iterable[float]] = ..., disputed: _Optional[_Iterable[int]] = ..., attributes: _Optional[_Iterable[_Union[_matcher_pb2.AttributeColumn, _Mapping]]] = ...) -> None: ...

class GatewayCompareEvent(_message.Message):
    __slots__ = ("match", "summary", "progress", "matches")
    MATCH_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    match: LocalMatch
    summary: GatewayCompareSummary
    progress: _matcher_pb2.CompareProgress
    matches: LocalMatchBatch
    def __init__(self, match: _Optional[_Union[LocalMatch, _Mapping]] = ..., summary: _Optional[_Union[GatewayCompareSummary, _Mapping]] = ..., progress: _Optional[_Union[_matcher_pb2.CompareProgress, _Mapping]] = ..., matches: _Optional[_Union[LocalMatchBatch, _Mapping]] = ...) -> None: ...

class GatewayCompareSummary(_message.Message):
    __slots__ = ("my_dataset", "other_dataset", "matches", "my_records", "agreement", "notice")
    MY_DATASET_FIELD_NUMBER: _ClassVar[int]
    OTHER_DATASET_FIELD_NUMBER: _ClassVar[int]
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    MY_RECORDS_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    my_dataset: str
    other_dataset: str
    matches: int
    my_records: int
    agreement: str
    notice: _common_pb2.ResultNotice
    def __init__(self, my_dataset: _Optional[str] = ..., other_dataset: _Optional[str] = ..., matches: _Optional[int] = ..., my_records: _Optional[int] = ..., agreement: _Optional[str] = ..., notice: _Optional[_Union[_common_pb2.ResultNotice, _Mapping]] = ...) -> None: ...

class CheckPersonRequest(_message.Message):
    __slots__ = ("fields", "dataset", "purpose", "threshold")
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    fields: _containers.ScalarMap[str, str]
    dataset: str
    purpose: _common_pb2.Purpose
    threshold: float
    def __init__(self, fields: _Optional[_Mapping[str, str]] = ..., dataset: _Optional[str] = ..., purpose: _Optional[_Union[_common_pb2.Purpose, str]] = ..., threshold: _Optional[float] = ...) -> None: ...

class CheckPersonResponse(_message.Message):
    __slots__ = ("found", "score", "attributes", "agreement", "flags", "notice", "disputed")
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
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    DISPUTED_FIELD_NUMBER: _ClassVar[int]
    found: bool
    score: float
    attributes: _containers.ScalarMap[str, str]
    agreement: str
    flags: _containers.RepeatedScalarFieldContainer[str]
    notice: _common_pb2.ResultNotice
    disputed: bool
    def __init__(self, found: _Optional[bool] = ..., score: _Optional[float] = ..., attributes: _Optional[_Mapping[str, str]] = ..., agreement: _Optional[str] = ..., flags: _Optional[_Iterable[str]] = ..., notice: _Optional[_Union[_common_pb2.ResultNotice, _Mapping]] = ..., disputed: _Optional[bool] = ...) -> None: ...
