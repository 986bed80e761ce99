from aidlink.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RebuildGraphRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TypeLevelCount(_message.Message):
    __slots__ = ("type", "level", "count")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    type: str
    level: str
    count: int
    def __init__(self, type: _Optional[str] = ..., level: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class GraphSummary(_message.Message):
    __slots__ = ("datasets", "records", "clusters", "linked_clusters", "households", "rule_set", "raised", "auto_closed", "open_warnings", "notice")
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    LINKED_CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    HOUSEHOLDS_FIELD_NUMBER: _ClassVar[int]
    RULE_SET_FIELD_NUMBER: _ClassVar[int]
    RAISED_FIELD_NUMBER: _ClassVar[int]
    AUTO_CLOSED_FIELD_NUMBER: _ClassVar[int]
    OPEN_WARNINGS_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    datasets: _containers.RepeatedScalarFieldContainer[str]
    records: int
    clusters: int
    linked_clusters: int
    households: int
    rule_set: str
    raised: int
    auto_closed: int
    open_warnings: _containers.RepeatedCompositeFieldContainer[TypeLevelCount]
    notice: _common_pb2.ResultNotice
    def __init__(self, datasets: _Optional[_Iterable[str]] = ..., records: _Optional[int] = ..., clusters: _Optional[int] = ..., linked_clusters: _Optional[int] = ..., households: _Optional[int] = ..., rule_set: _Optional[str] = ..., raised: _Optional[int] = ..., auto_closed: _Optional[int] = ..., open_warnings: _Optional[_Iterable[_Union[TypeLevelCount, _Mapping]]] = ..., notice: _Optional[_Union[_common_pb2.ResultNotice, _Mapping]] = ...) -> None: ...

class WarningQuery(_message.Message):
    __slots__ = ("levels", "types", "statuses", "region", "after_id", "limit")
    LEVELS_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    AFTER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    levels: _containers.RepeatedScalarFieldContainer[str]
    types: _containers.RepeatedScalarFieldContainer[str]
    statuses: _containers.RepeatedScalarFieldContainer[str]
    region: str
    after_id: int
    limit: int
    def __init__(self, levels: _Optional[_Iterable[str]] = ..., types: _Optional[_Iterable[str]] = ..., statuses: _Optional[_Iterable[str]] = ..., region: _Optional[str] = ..., after_id: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class RecordRef(_message.Message):
    __slots__ = ("dataset", "ref")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    ref: str
    def __init__(self, dataset: _Optional[str] = ..., ref: _Optional[str] = ...) -> None: ...

class RiskWarning(_message.Message):
    __slots__ = ("id", "rule_id", "rule_set", "type", "level", "reason", "cluster_id", "region", "subject_dataset", "status", "assignee", "created_at", "updated_at", "my_records", "departments", "household", "action", "not_in_register")
    ID_FIELD_NUMBER: _ClassVar[int]
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_SET_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_DATASET_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    MY_RECORDS_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENTS_FIELD_NUMBER: _ClassVar[int]
    HOUSEHOLD_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    NOT_IN_REGISTER_FIELD_NUMBER: _ClassVar[int]
    id: int
    rule_id: str
    rule_set: str
    type: str
    level: str
    reason: str
    cluster_id: str
    region: str
    subject_dataset: str
    status: str
    assignee: str
    created_at: float
    updated_at: float
    my_records: _containers.RepeatedCompositeFieldContainer[RecordRef]
    departments: _containers.RepeatedScalarFieldContainer[str]
    household: str
    action: str
    not_in_register: bool
    def __init__(self, id: _Optional[int] = ..., rule_id: _Optional[str] = ..., rule_set: _Optional[str] = ..., type: _Optional[str] = ..., level: _Optional[str] = ..., reason: _Optional[str] = ..., cluster_id: _Optional[str] = ..., region: _Optional[str] = ..., subject_dataset: _Optional[str] = ..., status: _Optional[str] = ..., assignee: _Optional[str] = ..., created_at: _Optional[float] = ..., updated_at: _Optional[float] = ..., my_records: _Optional[_Iterable[_Union[RecordRef, _Mapping]]] = ..., departments: _Optional[_Iterable[str]] = ..., household: _Optional[str] = ..., action: _Optional[str] = ..., not_in_register: _Optional[bool] = ...) -> None: ...

class WarningList(_message.Message):
    __slots__ = ("warnings", "notice")
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    warnings: _containers.RepeatedCompositeFieldContainer[RiskWarning]
    notice: _common_pb2.ResultNotice
    def __init__(self, warnings: _Optional[_Iterable[_Union[RiskWarning, _Mapping]]] = ..., notice: _Optional[_Union[_common_pb2.ResultNotice, _Mapping]] = ...) -> None: ...

class GetWarningRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class WarningEventInfo(_message.Message):
    __slots__ = ("at", "department", "identity", "action", "from_status", "to_status", "assignee", "note")
    AT_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    FROM_STATUS_FIELD_NUMBER: _ClassVar[int]
    TO_STATUS_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    at: float
    department: str
    identity: str
    action: str
    from_status: str
    to_status: str
    assignee: str
    note: str
    def __init__(self, at: _Optional[float] = ..., department: _Optional[str] = ..., identity: _Optional[str] = ..., action: _Optional[str] = ..., from_status: _Optional[str] = ..., to_status: _Optional[str] = ..., assignee: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class WarningDetail(_message.Message):
    __slots__ = ("warning", "history", "referrals")
    WARNING_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    REFERRALS_FIELD_NUMBER: _ClassVar[int]
    warning: RiskWarning
    history: _containers.RepeatedCompositeFieldContainer[WarningEventInfo]
    referrals: _containers.RepeatedCompositeFieldContainer[ReferralInfo]
    def __init__(self, warning: _Optional[_Union[RiskWarning, _Mapping]] = ..., history: _Optional[_Iterable[_Union[WarningEventInfo, _Mapping]]] = ..., referrals: _Optional[_Iterable[_Union[ReferralInfo, _Mapping]]] = ...) -> None: ...

class WarningChange(_message.Message):
    __slots__ = ("id", "status", "assignee", "note")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    id: int
    status: str
    assignee: str
    note: str
    def __init__(self, id: _Optional[int] = ..., status: _Optional[str] = ..., assignee: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class ReferRequest(_message.Message):
    __slots__ = ("warning_id", "to_department", "note")
    WARNING_ID_FIELD_NUMBER: _ClassVar[int]
    TO_DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    warning_id: int
    to_department: str
    note: str
    def __init__(self, warning_id: _Optional[int] = ..., to_department: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class ReferralInfo(_message.Message):
    __slots__ = ("id", "warning_id", "from_department", "to_department", "status", "agreement", "outcome", "disclosed")
    ID_FIELD_NUMBER: _ClassVar[int]
    WARNING_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    TO_DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    DISCLOSED_FIELD_NUMBER: _ClassVar[int]
    id: int
    warning_id: int
    from_department: str
    to_department: str
    status: str
    agreement: str
    outcome: str
    disclosed: bool
    def __init__(self, id: _Optional[int] = ..., warning_id: _Optional[int] = ..., from_department: _Optional[str] = ..., to_department: _Optional[str] = ..., status: _Optional[str] = ..., agreement: _Optional[str] = ..., outcome: _Optional[str] = ..., disclosed: _Optional[bool] = ...) -> None: ...

class ReferralInboxRequest(_message.Message):
    __slots__ = ("after", "limit")
    AFTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    after: int
    limit: int
    def __init__(self, after: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ReferralInboxItem(_message.Message):
    __slots__ = ("seq", "kind", "referral_id", "warning_id", "rule_id", "type", "level", "reason", "from_department", "note", "agreement", "records", "sealed_identity", "disclosed_by", "recipient", "recipient_certificate", "status", "outcome")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REFERRAL_ID_FIELD_NUMBER: _ClassVar[int]
    WARNING_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FROM_DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    SEALED_IDENTITY_FIELD_NUMBER: _ClassVar[int]
    DISCLOSED_BY_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    seq: int
    kind: str
    referral_id: int
    warning_id: int
    rule_id: str
    type: str
    level: str
    reason: str
    from_department: str
    note: str
    agreement: str
    records: _containers.RepeatedCompositeFieldContainer[RecordRef]
    sealed_identity: bytes
    disclosed_by: str
    recipient: str
    recipient_certificate: bytes
    status: str
    outcome: str
    def __init__(self, seq: _Optional[int] = ..., kind: _Optional[str] = ..., referral_id: _Optional[int] = ..., warning_id: _Optional[int] = ..., rule_id: _Optional[str] = ..., type: _Optional[str] = ..., level: _Optional[str] = ..., reason: _Optional[str] = ..., from_department: _Optional[str] = ..., note: _Optional[str] = ..., agreement: _Optional[str] = ..., records: _Optional[_Iterable[_Union[RecordRef, _Mapping]]] = ..., sealed_identity: _Optional[bytes] = ..., disclosed_by: _Optional[str] = ..., recipient: _Optional[str] = ..., recipient_certificate: _Optional[bytes] = ..., status: _Optional[str] = ..., outcome: _Optional[str] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ("after", "warnings_after")
    AFTER_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_AFTER_FIELD_NUMBER: _ClassVar[int]
    after: int
    warnings_after: int
    def __init__(self, after: _Optional[int] = ..., warnings_after: _Optional[int] = ...) -> None: ...

class MonitoringEvent(_message.Message):
    __slots__ = ("item", "warning")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    WARNING_FIELD_NUMBER: _ClassVar[int]
    item: ReferralInboxItem
    warning: RiskWarning
    def __init__(self, item: _Optional[_Union[ReferralInboxItem, _Mapping]] = ..., warning: _Optional[_Union[RiskWarning, _Mapping]] = ...) -> None: ...

class ReferralInboxBatch(_message.Message):
    __slots__ = ("items", "acknowledged")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[ReferralInboxItem]
    acknowledged: int
    def __init__(self, items: _Optional[_Iterable[_Union[ReferralInboxItem, _Mapping]]] = ..., acknowledged: _Optional[int] = ...) -> None: ...

class DisclosureSubmission(_message.Message):
    __slots__ = ("referral_id", "sealed_identity", "declined_reason")
    REFERRAL_ID_FIELD_NUMBER: _ClassVar[int]
    SEALED_IDENTITY_FIELD_NUMBER: _ClassVar[int]
    DECLINED_REASON_FIELD_NUMBER: _ClassVar[int]
    referral_id: int
    sealed_identity: bytes
    declined_reason: str
    def __init__(self, referral_id: _Optional[int] = ..., sealed_identity: _Optional[bytes] = ..., declined_reason: _Optional[str] = ...) -> None: ...

class ReferralReport(_message.Message):
    __slots__ = ("referral_id", "outcome")
    REFERRAL_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    referral_id: int
    outcome: str
    def __init__(self, referral_id: _Optional[int] = ..., outcome: _Optional[str] = ...) -> None: ...

class FeedbackRequest(_message.Message):
    __slots__ = ("my_dataset", "purpose")
    MY_DATASET_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    my_dataset: str
    purpose: _common_pb2.Purpose
    def __init__(self, my_dataset: _Optional[str] = ..., purpose: _Optional[_Union[_common_pb2.Purpose, str]] = ...) -> None: ...

class FeedbackItem(_message.Message):
    __slots__ = ("ref", "status", "category")
    REF_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    ref: str
    status: str
    category: str
    def __init__(self, ref: _Optional[str] = ..., status: _Optional[str] = ..., category: _Optional[str] = ...) -> None: ...

class FeedbackList(_message.Message):
    __slots__ = ("my_dataset", "my_version", "agreement", "items", "my_records", "notice")
    MY_DATASET_FIELD_NUMBER: _ClassVar[int]
    MY_VERSION_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    MY_RECORDS_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    my_dataset: str
    my_version: int
    agreement: str
    items: _containers.RepeatedCompositeFieldContainer[FeedbackItem]
    my_records: int
    notice: _common_pb2.ResultNotice
    def __init__(self, my_dataset: _Optional[str] = ..., my_version: _Optional[int] = ..., agreement: _Optional[str] = ..., items: _Optional[_Iterable[_Union[FeedbackItem, _Mapping]]] = ..., my_records: _Optional[int] = ..., notice: _Optional[_Union[_common_pb2.ResultNotice, _Mapping]] = ...) -> None: ...

class LocalWarning(_message.Message):
    __slots__ = ("warning", "record_ids")
    WARNING_FIELD_NUMBER: _ClassVar[int]
    RECORD_IDS_FIELD_NUMBER: _ClassVar[int]
    warning: RiskWarning
    record_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, warning: _Optional[_Union[RiskWarning, _Mapping]] = ..., record_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class LocalWarningList(_message.Message):
    __slots__ = ("warnings", "notice")
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    warnings: _containers.RepeatedCompositeFieldContainer[LocalWarning]
    notice: _common_pb2.ResultNotice
    def __init__(self, warnings: _Optional[_Iterable[_Union[LocalWarning, _Mapping]]] = ..., notice: _Optional[_Union[_common_pb2.ResultNotice, _Mapping]] = ...) -> None: ...

class SyncInboxRequest(_message.Message):
    __slots__ = ("after",)
    AFTER_FIELD_NUMBER: _ClassVar[int]
    after: int
    def __init__(self, after: _Optional[int] = ...) -> None: ...

class LocalInboxEntry(_message.Message):
    __slots__ = ("item", "record_ids", "identity", "state")
    class IdentityEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ITEM_FIELD_NUMBER: _ClassVar[int]
    RECORD_IDS_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    item: ReferralInboxItem
    record_ids: _containers.RepeatedScalarFieldContainer[str]
    identity: _containers.ScalarMap[str, str]
    state: str
    def __init__(self, item: _Optional[_Union[ReferralInboxItem, _Mapping]] = ..., record_ids: _Optional[_Iterable[str]] = ..., identity: _Optional[_Mapping[str, str]] = ..., state: _Optional[str] = ...) -> None: ...

class LocalInbox(_message.Message):
    __slots__ = ("entries", "fetched")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    FETCHED_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[LocalInboxEntry]
    fetched: int
    def __init__(self, entries: _Optional[_Iterable[_Union[LocalInboxEntry, _Mapping]]] = ..., fetched: _Optional[int] = ...) -> None: ...

class DisclosureAnswer(_message.Message):
    __slots__ = ("referral_id", "fields", "declined_reason")
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REFERRAL_ID_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    DECLINED_REASON_FIELD_NUMBER: _ClassVar[int]
    referral_id: int
    fields: _containers.ScalarMap[str, str]
    declined_reason: str
    def __init__(self, referral_id: _Optional[int] = ..., fields: _Optional[_Mapping[str, str]] = ..., declined_reason: _Optional[str] = ...) -> None: ...

class LocalFeedbackItem(_message.Message):
    __slots__ = ("record_id", "status", "category")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    status: str
    category: str
    def __init__(self, record_id: _Optional[str] = ..., status: _Optional[str] = ..., category: _Optional[str] = ...) -> None: ...

class LocalFeedbackList(_message.Message):
    __slots__ = ("summary", "items")
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    summary: FeedbackList
    items: _containers.RepeatedCompositeFieldContainer[LocalFeedbackItem]
    def __init__(self, summary: _Optional[_Union[FeedbackList, _Mapping]] = ..., items: _Optional[_Iterable[_Union[LocalFeedbackItem, _Mapping]]] = ...) -> None: ...
