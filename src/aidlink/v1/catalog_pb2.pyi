from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PublishCatalogRequest(_message.Message):
    __slots__ = ("document", "signatures", "note")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURES_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    document: bytes
    signatures: _containers.RepeatedScalarFieldContainer[bytes]
    note: str
    def __init__(self, document: _Optional[bytes] = ..., signatures: _Optional[_Iterable[bytes]] = ..., note: _Optional[str] = ...) -> None: ...

class CatalogEntry(_message.Message):
    __slots__ = ("id", "name", "provider", "sharing", "attributes", "category", "format", "update_cycle", "sharing_conditions", "scope", "method", "source_system", "security_class", "attribute_types")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    SHARING_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_CYCLE_FIELD_NUMBER: _ClassVar[int]
    SHARING_CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    SOURCE_SYSTEM_FIELD_NUMBER: _ClassVar[int]
    SECURITY_CLASS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTE_TYPES_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    provider: str
    sharing: str
    attributes: _containers.RepeatedScalarFieldContainer[str]
    category: str
    format: str
    update_cycle: str
    sharing_conditions: str
    scope: str
    method: str
    source_system: str
    security_class: str
    attribute_types: _containers.RepeatedCompositeFieldContainer[AttributeType]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., provider: _Optional[str] = ..., sharing: _Optional[str] = ..., attributes: _Optional[_Iterable[str]] = ..., category: _Optional[str] = ..., format: _Optional[str] = ..., update_cycle: _Optional[str] = ..., sharing_conditions: _Optional[str] = ..., scope: _Optional[str] = ..., method: _Optional[str] = ..., source_system: _Optional[str] = ..., security_class: _Optional[str] = ..., attribute_types: _Optional[_Iterable[_Union[AttributeType, _Mapping]]] = ...) -> None: ...

class AttributeType(_message.Message):
    __slots__ = ("name", "type", "values", "min", "max", "derived_from", "derived_rule")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    DERIVED_FROM_FIELD_NUMBER: _ClassVar[int]
    DERIVED_RULE_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    values: _containers.RepeatedScalarFieldContainer[str]
    min: str
    max: str
    derived_from: str
    derived_rule: str
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ..., min: _Optional[str] = ..., max: _Optional[str] = ..., derived_from: _Optional[str] = ..., derived_rule: _Optional[str] = ...) -> None: ...

class CatalogVersionInfo(_message.Message):
    __slots__ = ("version", "seq", "published_at", "approved_by", "note", "entries")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    APPROVED_BY_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    version: str
    seq: int
    published_at: str
    approved_by: _containers.RepeatedScalarFieldContainer[str]
    note: str
    entries: int
    def __init__(self, version: _Optional[str] = ..., seq: _Optional[int] = ..., published_at: _Optional[str] = ..., approved_by: _Optional[_Iterable[str]] = ..., note: _Optional[str] = ..., entries: _Optional[int] = ...) -> None: ...

class ListCatalogVersionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListCatalogVersionsResponse(_message.Message):
    __slots__ = ("versions",)
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[CatalogVersionInfo]
    def __init__(self, versions: _Optional[_Iterable[_Union[CatalogVersionInfo, _Mapping]]] = ...) -> None: ...

class GetCatalogRequest(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: str
    def __init__(self, version: _Optional[str] = ...) -> None: ...

class CatalogVersion(_message.Message):
    __slots__ = ("info", "entries")
    INFO_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    info: CatalogVersionInfo
    entries: _containers.RepeatedCompositeFieldContainer[CatalogEntry]
    def __init__(self, info: _Optional[_Union[CatalogVersionInfo, _Mapping]] = ..., entries: _Optional[_Iterable[_Union[CatalogEntry, _Mapping]]] = ...) -> None: ...

class DiffCatalogRequest(_message.Message):
    __slots__ = ("old_version", "new_version")
    OLD_VERSION_FIELD_NUMBER: _ClassVar[int]
    NEW_VERSION_FIELD_NUMBER: _ClassVar[int]
    old_version: str
    new_version: str
    def __init__(self, old_version: _Optional[str] = ..., new_version: _Optional[str] = ...) -> None: ...

class CatalogFieldChange(_message.Message):
    __slots__ = ("field", "old_value", "new_value")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    OLD_VALUE_FIELD_NUMBER: _ClassVar[int]
    NEW_VALUE_FIELD_NUMBER: _ClassVar[int]
    field: str
    old_value: str
    new_value: str
    def __init__(self, field: _Optional[str] = ..., old_value: _Optional[str] = ..., new_value: _Optional[str] = ...) -> None: ...

class CatalogEntryChange(_message.Message):
    __slots__ = ("entry_id", "kind", "changes")
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    entry_id: str
    kind: str
    changes: _containers.RepeatedCompositeFieldContainer[CatalogFieldChange]
    def __init__(self, entry_id: _Optional[str] = ..., kind: _Optional[str] = ..., changes: _Optional[_Iterable[_Union[CatalogFieldChange, _Mapping]]] = ...) -> None: ...

class CatalogDiff(_message.Message):
    __slots__ = ("old_version", "new_version", "changes", "text")
    OLD_VERSION_FIELD_NUMBER: _ClassVar[int]
    NEW_VERSION_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    old_version: str
    new_version: str
    changes: _containers.RepeatedCompositeFieldContainer[CatalogEntryChange]
    text: str
    def __init__(self, old_version: _Optional[str] = ..., new_version: _Optional[str] = ..., changes: _Optional[_Iterable[_Union[CatalogEntryChange, _Mapping]]] = ..., text: _Optional[str] = ...) -> None: ...
