from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AuditQuery(_message.Message):
    __slots__ = ("department", "identity", "method", "purpose", "agreement", "dataset", "outcome", "since", "until", "from_seq", "to_seq", "limit", "newest_first")
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    TO_SEQ_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    NEWEST_FIRST_FIELD_NUMBER: _ClassVar[int]
    department: str
    identity: str
    method: str
    purpose: str
    agreement: str
    dataset: str
    outcome: str
    since: str
    until: str
    from_seq: int
    to_seq: int
    limit: int
    newest_first: bool
    def __init__(self, department: _Optional[str] = ..., identity: _Optional[str] = ..., method: _Optional[str] = ..., purpose: _Optional[str] = ..., agreement: _Optional[str] = ..., dataset: _Optional[str] = ..., outcome: _Optional[str] = ..., since: _Optional[str] = ..., until: _Optional[str] = ..., from_seq: _Optional[int] = ..., to_seq: _Optional[int] = ..., limit: _Optional[int] = ..., newest_first: _Optional[bool] = ...) -> None: ...

class AuditRecord(_message.Message):
    __slots__ = ("seq", "body", "leaf_hash", "time", "method", "outcome", "status", "department", "identity", "purpose", "agreement", "datasets", "counts", "detail", "peer")
    class CountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    SEQ_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    LEAF_HASH_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    PEER_FIELD_NUMBER: _ClassVar[int]
    seq: int
    body: bytes
    leaf_hash: bytes
    time: str
    method: str
    outcome: str
    status: str
    department: str
    identity: str
    purpose: str
    agreement: str
    datasets: _containers.RepeatedScalarFieldContainer[str]
    counts: _containers.ScalarMap[str, int]
    detail: str
    peer: str
    def __init__(self, seq: _Optional[int] = ..., body: _Optional[bytes] = ..., leaf_hash: _Optional[bytes] = ..., time: _Optional[str] = ..., method: _Optional[str] = ..., outcome: _Optional[str] = ..., status: _Optional[str] = ..., department: _Optional[str] = ..., identity: _Optional[str] = ..., purpose: _Optional[str] = ..., agreement: _Optional[str] = ..., datasets: _Optional[_Iterable[str]] = ..., counts: _Optional[_Mapping[str, int]] = ..., detail: _Optional[str] = ..., peer: _Optional[str] = ...) -> None: ...

class GetCheckpointRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SignedCheckpoint(_message.Message):
    __slots__ = ("note", "origin", "tree_size", "root", "issued", "number")
    NOTE_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    ROOT_FIELD_NUMBER: _ClassVar[int]
    ISSUED_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    note: bytes
    origin: str
    tree_size: int
    root: bytes
    issued: str
    number: int
    def __init__(self, note: _Optional[bytes] = ..., origin: _Optional[str] = ..., tree_size: _Optional[int] = ..., root: _Optional[bytes] = ..., issued: _Optional[str] = ..., number: _Optional[int] = ...) -> None: ...

class InclusionRequest(_message.Message):
    __slots__ = ("seq", "tree_size")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    seq: int
    tree_size: int
    def __init__(self, seq: _Optional[int] = ..., tree_size: _Optional[int] = ...) -> None: ...

class InclusionProof(_message.Message):
    __slots__ = ("seq", "tree_size", "leaf_hash", "hashes", "root", "checkpoint_note")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    LEAF_HASH_FIELD_NUMBER: _ClassVar[int]
    HASHES_FIELD_NUMBER: _ClassVar[int]
    ROOT_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_NOTE_FIELD_NUMBER: _ClassVar[int]
    seq: int
    tree_size: int
    leaf_hash: bytes
    hashes: _containers.RepeatedScalarFieldContainer[bytes]
    root: bytes
    checkpoint_note: bytes
    def __init__(self, seq: _Optional[int] = ..., tree_size: _Optional[int] = ..., leaf_hash: _Optional[bytes] = ..., hashes: _Optional[_Iterable[bytes]] = ..., root: _Optional[bytes] = ..., checkpoint_note: _Optional[bytes] = ...) -> None: ...

class ConsistencyRequest(_message.Message):
    __slots__ = ("size1", "size2")
    SIZE1_FIELD_NUMBER: _ClassVar[int]
    SIZE2_FIELD_NUMBER: _ClassVar[int]
    size1: int
    size2: int
    def __init__(self, size1: _Optional[int] = ..., size2: _Optional[int] = ...) -> None: ...

class ConsistencyProof(_message.Message):
    __slots__ = ("size1", "size2", "root1", "root2", "hashes", "checkpoint1_note", "checkpoint2_note")
    SIZE1_FIELD_NUMBER: _ClassVar[int]
    SIZE2_FIELD_NUMBER: _ClassVar[int]
    ROOT1_FIELD_NUMBER: _ClassVar[int]
    ROOT2_FIELD_NUMBER: _ClassVar[int]
    HASHES_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT1_NOTE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT2_NOTE_FIELD_NUMBER: _ClassVar[int]
    size1: int
    size2: int
    root1: bytes
    root2: bytes
    hashes: _containers.RepeatedScalarFieldContainer[bytes]
    checkpoint1_note: bytes
    checkpoint2_note: bytes
    def __init__(self, size1: _Optional[int] = ..., size2: _Optional[int] = ..., root1: _Optional[bytes] = ..., root2: _Optional[bytes] = ..., hashes: _Optional[_Iterable[bytes]] = ..., checkpoint1_note: _Optional[bytes] = ..., checkpoint2_note: _Optional[bytes] = ...) -> None: ...

class ReportRequest(_message.Message):
    __slots__ = ("since", "until", "baseline_days")
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    BASELINE_DAYS_FIELD_NUMBER: _ClassVar[int]
    since: str
    until: str
    baseline_days: float
    def __init__(self, since: _Optional[str] = ..., until: _Optional[str] = ..., baseline_days: _Optional[float] = ...) -> None: ...

class DepartmentCount(_message.Message):
    __slots__ = ("department", "purpose", "outcome", "count")
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    department: str
    purpose: str
    outcome: str
    count: int
    def __init__(self, department: _Optional[str] = ..., purpose: _Optional[str] = ..., outcome: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class Anomaly(_message.Message):
    __slots__ = ("kind", "department", "count", "message")
    KIND_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    kind: str
    department: str
    count: int
    message: str
    def __init__(self, kind: _Optional[str] = ..., department: _Optional[str] = ..., count: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class AuditReport(_message.Message):
    __slots__ = ("since", "until", "total", "counts", "anomalies")
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    ANOMALIES_FIELD_NUMBER: _ClassVar[int]
    since: str
    until: str
    total: int
    counts: _containers.RepeatedCompositeFieldContainer[DepartmentCount]
    anomalies: _containers.RepeatedCompositeFieldContainer[Anomaly]
    def __init__(self, since: _Optional[str] = ..., until: _Optional[str] = ..., total: _Optional[int] = ..., counts: _Optional[_Iterable[_Union[DepartmentCount, _Mapping]]] = ..., anomalies: _Optional[_Iterable[_Union[Anomaly, _Mapping]]] = ...) -> None: ...
