from aidlink.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RespondAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESPOND_ACTION_UNSPECIFIED: _ClassVar[RespondAction]
    ACKNOWLEDGE: _ClassVar[RespondAction]
    CONFIRM: _ClassVar[RespondAction]
    REJECT: _ClassVar[RespondAction]
RESPOND_ACTION_UNSPECIFIED: RespondAction
ACKNOWLEDGE: RespondAction
CONFIRM: RespondAction
REJECT: RespondAction

class FlagRequest(_message.Message):
    __slots__ = ("my_dataset", "my_ref", "other_dataset", "purpose", "reason", "threshold")
    MY_DATASET_FIELD_NUMBER: _ClassVar[int]
    MY_REF_FIELD_NUMBER: _ClassVar[int]
    OTHER_DATASET_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    my_dataset: str
    my_ref: str
    other_dataset: str
    purpose: _common_pb2.Purpose
    reason: str
    threshold: float
    def __init__(self, my_dataset: _Optional[str] = ..., my_ref: _Optional[str] = ..., other_dataset: _Optional[str] = ..., purpose: _Optional[_Union[_common_pb2.Purpose, str]] = ..., reason: _Optional[str] = ..., threshold: _Optional[float] = ...) -> None: ...

class RespondRequest(_message.Message):
    __slots__ = ("dispute_id", "action", "reason")
    DISPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    dispute_id: str
    action: RespondAction
    reason: str
    def __init__(self, dispute_id: _Optional[str] = ..., action: _Optional[_Union[RespondAction, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class CorrectRecordRequest(_message.Message):
    __slots__ = ("dispute_id", "encoding", "encoding_info", "attributes", "blocking_keys", "reason")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DISPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    ENCODING_INFO_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    BLOCKING_KEYS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    dispute_id: str
    encoding: bytes
    encoding_info: _common_pb2.EncodingInfo
    attributes: _containers.ScalarMap[str, str]
    blocking_keys: _containers.RepeatedScalarFieldContainer[bytes]
    reason: str
    def __init__(self, dispute_id: _Optional[str] = ..., encoding: _Optional[bytes] = ..., encoding_info: _Optional[_Union[_common_pb2.EncodingInfo, _Mapping]] = ..., attributes: _Optional[_Mapping[str, str]] = ..., blocking_keys: _Optional[_Iterable[bytes]] = ..., reason: _Optional[str] = ...) -> None: ...

class Dispute(_message.Message):
    __slots__ = ("id", "state", "flagged_by", "provider", "user_dataset", "user_version", "user_ref", "provider_dataset", "provider_version", "provider_ref", "catalog_entry", "agreement", "reason", "answer", "created", "due", "overdue", "corrected_version", "updated", "notice")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FLAGGED_BY_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    USER_DATASET_FIELD_NUMBER: _ClassVar[int]
    USER_VERSION_FIELD_NUMBER: _ClassVar[int]
    USER_REF_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_DATASET_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_REF_FIELD_NUMBER: _ClassVar[int]
    CATALOG_ENTRY_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    DUE_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_FIELD_NUMBER: _ClassVar[int]
    CORRECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    id: str
    state: str
    flagged_by: str
    provider: str
    user_dataset: str
    user_version: int
    user_ref: str
    provider_dataset: str
    provider_version: int
    provider_ref: str
    catalog_entry: str
    agreement: str
    reason: str
    answer: str
    created: str
    due: str
    overdue: bool
    corrected_version: int
    updated: str
    notice: _common_pb2.ResultNotice
    def __init__(self, id: _Optional[str] = ..., state: _Optional[str] = ..., flagged_by: _Optional[str] = ..., provider: _Optional[str] = ..., user_dataset: _Optional[str] = ..., user_version: _Optional[int] = ..., user_ref: _Optional[str] = ..., provider_dataset: _Optional[str] = ..., provider_version: _Optional[int] = ..., provider_ref: _Optional[str] = ..., catalog_entry: _Optional[str] = ..., agreement: _Optional[str] = ..., reason: _Optional[str] = ..., answer: _Optional[str] = ..., created: _Optional[str] = ..., due: _Optional[str] = ..., overdue: _Optional[bool] = ..., corrected_version: _Optional[int] = ..., updated: _Optional[str] = ..., notice: _Optional[_Union[_common_pb2.ResultNotice, _Mapping]] = ...) -> None: ...

class ListDisputesRequest(_message.Message):
    __slots__ = ("role", "open_only")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    OPEN_ONLY_FIELD_NUMBER: _ClassVar[int]
    role: str
    open_only: bool
    def __init__(self, role: _Optional[str] = ..., open_only: _Optional[bool] = ...) -> None: ...

class ListDisputesResponse(_message.Message):
    __slots__ = ("disputes",)
    DISPUTES_FIELD_NUMBER: _ClassVar[int]
    disputes: _containers.RepeatedCompositeFieldContainer[Dispute]
    def __init__(self, disputes: _Optional[_Iterable[_Union[Dispute, _Mapping]]] = ...) -> None: ...

class InboxRequest(_message.Message):
    __slots__ = ("after", "wait_seconds")
    AFTER_FIELD_NUMBER: _ClassVar[int]
    WAIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    after: int
    wait_seconds: int
    def __init__(self, after: _Optional[int] = ..., wait_seconds: _Optional[int] = ...) -> None: ...

class DisputeEvent(_message.Message):
    __slots__ = ("seq", "kind", "dispute")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DISPUTE_FIELD_NUMBER: _ClassVar[int]
    seq: int
    kind: str
    dispute: Dispute
    def __init__(self, seq: _Optional[int] = ..., kind: _Optional[str] = ..., dispute: _Optional[_Union[Dispute, _Mapping]] = ...) -> None: ...
