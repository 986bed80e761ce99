from aidlink.v1 import matcher_pb2 as _matcher_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BundleEnvelope(_message.Message):
    __slots__ = ("bundle_id", "kind", "sender_certificate", "recipient_fingerprint", "created", "expires")
    BUNDLE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SENDER_CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    bundle_id: str
    kind: str
    sender_certificate: bytes
    recipient_fingerprint: bytes
    created: str
    expires: str
    def __init__(self, bundle_id: _Optional[str] = ..., kind: _Optional[str] = ..., sender_certificate: _Optional[bytes] = ..., recipient_fingerprint: _Optional[bytes] = ..., created: _Optional[str] = ..., expires: _Optional[str] = ...) -> None: ...

class BundleCompareRequest(_message.Message):
    __slots__ = ("other_dataset", "purpose", "threshold", "all_pairs")
    OTHER_DATASET_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    ALL_PAIRS_FIELD_NUMBER: _ClassVar[int]
    other_dataset: str
    purpose: str
    threshold: float
    all_pairs: bool
    def __init__(self, other_dataset: _Optional[str] = ..., purpose: _Optional[str] = ..., threshold: _Optional[float] = ..., all_pairs: _Optional[bool] = ...) -> None: ...

class DatasetBundle(_message.Message):
    __slots__ = ("header", "records", "compare")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    COMPARE_FIELD_NUMBER: _ClassVar[int]
    header: _matcher_pb2.UploadHeader
    records: _containers.RepeatedCompositeFieldContainer[_matcher_pb2.EncodedRecord]
    compare: _containers.RepeatedCompositeFieldContainer[BundleCompareRequest]
    def __init__(self, header: _Optional[_Union[_matcher_pb2.UploadHeader, _Mapping]] = ..., records: _Optional[_Iterable[_Union[_matcher_pb2.EncodedRecord, _Mapping]]] = ..., compare: _Optional[_Iterable[_Union[BundleCompareRequest, _Mapping]]] = ...) -> None: ...

class BundleComparison(_message.Message):
    __slots__ = ("request", "summary", "matches", "refused")
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    request: _matcher_pb2.CompareRequest
    summary: _matcher_pb2.CompareSummary
    matches: _containers.RepeatedCompositeFieldContainer[_matcher_pb2.Match]
    refused: str
    def __init__(self, request: _Optional[_Union[_matcher_pb2.CompareRequest, _Mapping]] = ..., summary: _Optional[_Union[_matcher_pb2.CompareSummary, _Mapping]] = ..., matches: _Optional[_Iterable[_Union[_matcher_pb2.Match, _Mapping]]] = ..., refused: _Optional[str] = ...) -> None: ...

class ResultBundle(_message.Message):
    __slots__ = ("in_reply_to", "upload", "comparisons")
    IN_REPLY_TO_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_FIELD_NUMBER: _ClassVar[int]
    COMPARISONS_FIELD_NUMBER: _ClassVar[int]
    in_reply_to: str
    upload: _matcher_pb2.UploadSummary
    comparisons: _containers.RepeatedCompositeFieldContainer[BundleComparison]
    def __init__(self, in_reply_to: _Optional[str] = ..., upload: _Optional[_Union[_matcher_pb2.UploadSummary, _Mapping]] = ..., comparisons: _Optional[_Iterable[_Union[BundleComparison, _Mapping]]] = ...) -> None: ...
