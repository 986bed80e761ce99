from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Purpose(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PURPOSE_UNSPECIFIED: _ClassVar[Purpose]
    ELIGIBILITY_CHECK: _ClassVar[Purpose]
    POLICY_DELIVERY_CHECK: _ClassVar[Purpose]
    RISK_MONITORING: _ClassVar[Purpose]
    REFERRAL: _ClassVar[Purpose]
    DATA_CORRECTION: _ClassVar[Purpose]
PURPOSE_UNSPECIFIED: Purpose
ELIGIBILITY_CHECK: Purpose
POLICY_DELIVERY_CHECK: Purpose
RISK_MONITORING: Purpose
REFERRAL: Purpose
DATA_CORRECTION: Purpose

class EncodingInfo(_message.Message):
    __slots__ = ("bits", "secret_version", "schema_fingerprint")
    BITS_FIELD_NUMBER: _ClassVar[int]
    SECRET_VERSION_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    bits: int
    secret_version: int
    schema_fingerprint: str
    def __init__(self, bits: _Optional[int] = ..., secret_version: _Optional[int] = ..., schema_fingerprint: _Optional[str] = ...) -> None: ...

class ResultNotice(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...
