"""Linkage schemas in clkhash's v3 JSON format (``version``, ``clkConfig``, ``features``).

Parsing is stricter than clkhash 0.18 where clkhash would silently do something surprising:
unknown keys are rejected (a misspelt key would otherwise be ignored), ``clkConfig.xorFolds`` is
rejected because clkhash 0.18 ignores it (it honours the undocumented ``xor_folds``, which we
honour too), identifiers must be unique, and ``l`` must be a multiple of 8. Every error names
the feature and key at fault. Schema versions 1 and 2 are not read.

One aidlink extension is read: the top-level ``aidlinkHardening`` section (per-record salt,
balancing, BLIP; see :mod:`gateway.encoding.hardening`). Without it a schema encodes exactly as
clkhash 0.18.3 does.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from aidlink.gateway.encoding.bloom import BLAKE_HASH, BLAKE_MAX_KEY_SIZE, DOUBLE_HASH, HashSpec
from aidlink.gateway.encoding.errors import SchemaError
from aidlink.gateway.encoding.features import Feature, HashingSpec, MissingValue
from aidlink.gateway.encoding.formats import DateFormat, EnumFormat, IntegerFormat, StringFormat, ValueFormat
from aidlink.gateway.encoding.hardening import EXTENSION_KEY, Hardening, parse_hardening
from aidlink.gateway.encoding.keyderivation import KdfConfig
from aidlink.gateway.encoding.strategy import BitsPerFeature, BitsPerToken, Strategy
from aidlink.gateway.encoding.tokens import ExactTokenizer, NgramTokenizer, NumericTokenizer, Tokenizer

SCHEMA_VERSION = 3
# The default for new encodings: linkage schema v2.1 (v2, segmented and diffused, docs/encoding-v2.md,
# with phone and address salted by the birth date, docs/privacy.md "Known pairs").
# v2 and v3 (plain clkhash) stay readable; the matcher never compares across schemas.
DEFAULT_CHINESE_SCHEMA = "chinese-person-v2.1.json"
CHINESE_V2_SCHEMA = "chinese-person-v2.json"
CHINESE_V3_SCHEMA = "chinese-person-v3.json"
# blakeHash takes positions from 16-bit slices of the digest, so larger filters are never filled.
BLAKE_MAX_FILTER_BITS = 2**16
_TEXT_ENCODINGS = ("ascii", "utf-8", "utf-16", "utf-32")
_MISSING = object()


@dataclass(frozen=True)
class LinkageSchema:
    """A parsed v3 linkage schema: filter length, key derivation and ordered features."""

    length_bits: int
    features: tuple[Feature, ...]
    kdf: KdfConfig = KdfConfig()
    xor_folds: int = 0
    hardening: Hardening = Hardening()
    document: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def field_identifiers(self) -> tuple[str, ...]:
        """Identifiers of all features (ignored ones included), in schema order."""
        return tuple(f.identifier for f in self.features)

    @property
    def hashed_length_bits(self) -> int:
        """Filter length before XOR folding."""
        return self.length_bits << self.xor_folds

    @property
    def encoding_length_bits(self) -> int:
        """Length of the encodings this schema produces (``l``, doubled by balancing)."""
        return self.hardening.output_bits(self.length_bits)

    def feature(self, identifier: str) -> Feature:
        for f in self.features:
            if f.identifier == identifier:
                return f
        raise KeyError(f"the schema has no feature {identifier!r}; it has {list(self.field_identifiers)}")

    def to_json(self) -> dict[str, Any]:
        """The JSON document this schema was read from."""
        return copy.deepcopy(dict(self.document))

    @classmethod
    def from_json(cls, obj: Mapping[str, Any] | str | bytes) -> LinkageSchema:
        """Parse a v3 schema from a JSON object or its text; raises :class:`SchemaError`."""
        if isinstance(obj, (str, bytes, bytearray)):
            try:
                obj = json.loads(obj)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise SchemaError(f"the schema is not valid JSON: {exc}") from None
        return _parse_schema(obj)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LinkageSchema:
        """Read a v3 schema from a JSON file."""
        with open(path, "rb") as fh:
            data = fh.read()
        try:
            return cls.from_json(data)
        except SchemaError as exc:
            raise SchemaError(f"{os.fspath(path)}: {exc.reason}", feature=exc.feature, key=exc.key) from None

    @classmethod
    def shipped(cls, name: str) -> LinkageSchema:
        """A schema shipped in ``gateway/encoding/schemas`` by file name."""
        text = resources.files("aidlink.gateway.encoding.schemas").joinpath(name).read_bytes()
        return cls.from_json(text)

    @classmethod
    def default_chinese(cls) -> LinkageSchema:
        """The default schema for Chinese person records (``schemas/chinese-person-v2.1.json``)."""
        return cls.shipped(DEFAULT_CHINESE_SCHEMA)

    @classmethod
    def chinese_v3(cls) -> LinkageSchema:
        """The earlier default, plain clkhash v3 (``schemas/chinese-person-v3.json``); still readable."""
        return cls.shipped(CHINESE_V3_SCHEMA)


class _Section:
    """A JSON object at ``path`` in the schema, read with type checks and precise errors."""

    def __init__(self, obj: Any, path: str, feature: str | None, allowed: tuple[str, ...]) -> None:
        self.path = path
        self.feature = feature
        if not isinstance(obj, Mapping):
            raise self.error(f"expected a JSON object, got {_json_type(obj)}")
        self.obj = obj
        unknown = sorted(set(obj) - set(allowed))
        if unknown:
            raise self.error(f"unknown key(s) {unknown}; allowed keys are {list(allowed)}")

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def error(self, message: str, name: str | None = None) -> SchemaError:
        key = self.key(name) if name is not None else (self.path or None)
        return SchemaError(message, feature=self.feature, key=key)

    def get(self, name: str, kind: str, default: Any = _MISSING) -> Any:
        if name not in self.obj:
            if default is _MISSING:
                raise self.error("required key is missing", name)
            return default
        value = self.obj[name]
        if not _is_kind(value, kind):
            raise self.error(f"expected {kind}, got {_json_type(value)} {value!r}", name)
        return value

    def integer(self, name: str, minimum: int, default: Any = _MISSING) -> Any:
        value = self.get(name, "integer", default)
        if value is not default and value < minimum:
            raise self.error(f"must be at least {minimum}, got {value}", name)
        return value


def _is_kind(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, Mapping)
    raise AssertionError(kind)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _parse_schema(obj: Any) -> LinkageSchema:
    top = _Section(obj, "", None, ("version", "clkConfig", "features", "description", EXTENSION_KEY))
    version = top.get("version", "number")
    if version != SCHEMA_VERSION:
        raise top.error(f"only linkage-schema version {SCHEMA_VERSION} is supported, got {version!r}", "version")
    clk = _Section(top.get("clkConfig", "object"), "clkConfig", None, ("l", "kdf", "xor_folds", "xorFolds"))
    length = clk.integer("l", 1)
    if length % 8:
        raise clk.error(f"the filter length must be a multiple of 8 bits, got {length}", "l")
    if clk.obj.get("xorFolds", 0) != 0:
        raise clk.error("clkhash 0.18 ignores 'xorFolds' (it reads 'xor_folds'); use 'xor_folds' to fold", "xorFolds")
    xor_folds = clk.integer("xor_folds", 0, 0)
    kdf = _parse_kdf(clk.get("kdf", "object"))

    raw_features = top.get("features", "array")
    if not raw_features:
        raise top.error("the schema must list at least one feature", "features")
    features: list[Feature] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_features):
        feature = _parse_feature(raw, index)
        if feature.identifier in seen:
            raise SchemaError(
                "duplicate feature identifier", feature=feature.identifier, key=f"features[{index}].identifier"
            )
        seen.add(feature.identifier)
        features.append(feature)

    hashed_bits = length << xor_folds
    for feature in features:
        if feature.hashing is None or feature.hashing.hash.type != BLAKE_HASH:
            continue
        if hashed_bits & (hashed_bits - 1) or hashed_bits > BLAKE_MAX_FILTER_BITS:
            raise SchemaError(
                f"blakeHash needs l * 2**xor_folds to be a power of two of at most {BLAKE_MAX_FILTER_BITS}, "
                f"got {hashed_bits}",
                feature=feature.identifier,
                key="hashing.hash",
            )
        if kdf.key_size > BLAKE_MAX_KEY_SIZE:
            raise SchemaError(
                f"blakeHash keys are at most {BLAKE_MAX_KEY_SIZE} bytes but clkConfig.kdf.keySize is {kdf.key_size}",
                feature=feature.identifier,
                key="hashing.hash",
            )
    hardening = Hardening()
    if EXTENSION_KEY in top.obj:
        hardening = parse_hardening(
            top.obj[EXTENSION_KEY],
            tuple(f.identifier for f in features if not f.ignored),
            tuple(f.identifier for f in features),
            length,
            xor_folds,
        )
    return LinkageSchema(length, tuple(features), kdf, xor_folds, hardening, copy.deepcopy(dict(obj)))


def _parse_kdf(obj: Any) -> KdfConfig:
    kdf = _Section(obj, "clkConfig.kdf", None, ("type", "hash", "salt", "info", "keySize"))
    kdf_type = kdf.get("type", "string")
    if kdf_type != "HKDF":
        raise kdf.error(f"only 'HKDF' is supported, got {kdf_type!r}", "type")
    hash_name = kdf.get("hash", "string", "SHA256")
    if hash_name not in ("SHA256", "SHA512"):
        raise kdf.error(f"expected 'SHA256' or 'SHA512', got {hash_name!r}", "hash")
    return KdfConfig(
        hash=hash_name,
        salt=_base64(kdf, "salt"),
        info=_base64(kdf, "info"),
        key_size=kdf.integer("keySize", 1, 64),
    )


def _base64(section: _Section, name: str) -> bytes | None:
    text = section.get(name, "string", None)
    if text is None:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise section.error(f"not valid base64 ({exc})", name) from None


def _parse_feature(raw: Any, index: int) -> Feature:
    if not isinstance(raw, Mapping):
        raise SchemaError(f"expected a JSON object, got {_json_type(raw)}", key=f"features[{index}]")
    identifier = raw.get("identifier")
    if not isinstance(identifier, str) or not identifier:
        raise SchemaError("every feature needs a non-empty string 'identifier'", key=f"features[{index}].identifier")
    if raw.get("ignored", False) is True:
        ignored = _Section(raw, "", identifier, ("identifier", "ignored", "description"))
        return Feature(identifier, description=ignored.get("description", "string", None))
    section = _Section(raw, "", identifier, ("identifier", "ignored", "description", "format", "hashing"))
    section.get("ignored", "boolean", False)
    fmt = _parse_format(section.get("format", "object"), identifier)
    hashing = _parse_hashing(section.get("hashing", "object"), identifier)
    return Feature(identifier, fmt, hashing, section.get("description", "string", None))


def _parse_format(obj: Any, feature: str) -> ValueFormat:
    kind = obj.get("type") if isinstance(obj, Mapping) else None
    if kind == "string":
        keys: tuple[str, ...] = ("type", "encoding", "description")
        keys += ("pattern",) if "pattern" in obj else ("case", "minLength", "maxLength")
        fmt = _Section(obj, "format", feature, keys)
        encoding = fmt.get("encoding", "string", "utf-8")
        if encoding not in _TEXT_ENCODINGS:
            raise fmt.error(f"expected one of {list(_TEXT_ENCODINGS)}, got {encoding!r}", "encoding")
        pattern = fmt.get("pattern", "string", None)
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise fmt.error(f"invalid regular expression {pattern!r}: {exc}", "pattern") from None
            return StringFormat(encoding=encoding, pattern=pattern)
        case = fmt.get("case", "string", "mixed")
        if case not in ("upper", "lower", "mixed"):
            raise fmt.error(f"expected 'upper', 'lower' or 'mixed', got {case!r}", "case")
        return StringFormat(
            encoding=encoding,
            case=case,
            min_length=fmt.integer("minLength", 0, None),
            max_length=fmt.integer("maxLength", 1, None),
        )
    if kind == "integer":
        fmt = _Section(obj, "format", feature, ("type", "minimum", "maximum", "description"))
        return IntegerFormat(fmt.get("minimum", "integer", None), fmt.get("maximum", "integer", None))
    if kind == "date":
        fmt = _Section(obj, "format", feature, ("type", "format", "description"))
        return DateFormat(fmt.get("format", "string"))
    if kind == "enum":
        fmt = _Section(obj, "format", feature, ("type", "values", "description"))
        values = fmt.get("values", "array")
        if not all(isinstance(v, str) for v in values):
            raise fmt.error(f"every value must be a string, got {values!r}", "values")
        return EnumFormat(frozenset(values))
    if not isinstance(obj, Mapping):
        raise SchemaError(f"expected a JSON object, got {_json_type(obj)}", feature=feature, key="format")
    raise SchemaError(
        f"expected 'string', 'integer', 'date' or 'enum', got {kind!r}", feature=feature, key="format.type"
    )


def _parse_hashing(obj: Any, feature: str) -> HashingSpec:
    hashing = _Section(obj, "hashing", feature, ("comparison", "strategy", "hash", "missingValue"))
    tokenizer = _parse_comparison(hashing.get("comparison", "object"), feature)
    strategy = _parse_strategy(hashing.get("strategy", "object"), feature)
    hash_spec = _parse_hash(hashing.get("hash", "object", {"type": BLAKE_HASH}), feature)
    missing = None
    if "missingValue" in hashing.obj:
        mv = _Section(
            hashing.get("missingValue", "object"), "hashing.missingValue", feature, ("sentinel", "replaceWith")
        )
        missing = MissingValue(mv.get("sentinel", "string"), mv.get("replaceWith", "string", None))
    return HashingSpec(tokenizer, strategy, hash_spec, missing)


def _parse_comparison(obj: Any, feature: str) -> Tokenizer:
    kind = obj.get("type")
    if kind == "ngram":
        cmp = _Section(obj, "hashing.comparison", feature, ("type", "n", "positional"))
        return NgramTokenizer(cmp.integer("n", 1), cmp.get("positional", "boolean", False))
    if kind == "exact":
        _Section(obj, "hashing.comparison", feature, ("type",))
        return ExactTokenizer()
    if kind == "numeric":
        cmp = _Section(
            obj, "hashing.comparison", feature, ("type", "thresholdDistance", "resolution", "fractional_precision")
        )
        threshold = cmp.get("thresholdDistance", "number")
        if not threshold > 0:
            raise cmp.error(f"must be positive, got {threshold}", "thresholdDistance")
        try:
            return NumericTokenizer(threshold, cmp.integer("resolution", 1), cmp.integer("fractional_precision", 0, 0))
        except ValueError as exc:
            raise cmp.error(str(exc)) from None
    raise SchemaError(
        f"expected 'ngram', 'exact' or 'numeric', got {kind!r}", feature=feature, key="hashing.comparison.type"
    )


def _parse_strategy(obj: Any, feature: str) -> Strategy:
    strategy = _Section(obj, "hashing.strategy", feature, ("bitsPerToken", "bitsPerFeature"))
    if len(strategy.obj) != 1:
        raise strategy.error(f"expected exactly one of 'bitsPerToken' or 'bitsPerFeature', got {sorted(strategy.obj)}")
    if "bitsPerToken" in strategy.obj:
        return BitsPerToken(strategy.integer("bitsPerToken", 1))
    return BitsPerFeature(strategy.integer("bitsPerFeature", 1))


def _parse_hash(obj: Any, feature: str) -> HashSpec:
    kind = obj.get("type") if isinstance(obj, Mapping) else None
    if kind == BLAKE_HASH:
        _Section(obj, "hashing.hash", feature, ("type",))
        return HashSpec(BLAKE_HASH)
    if kind == DOUBLE_HASH:
        spec = _Section(obj, "hashing.hash", feature, ("type", "prevent_singularity"))
        return HashSpec(DOUBLE_HASH, spec.get("prevent_singularity", "boolean", False))
    raise SchemaError(f"expected 'blakeHash' or 'doubleHash', got {kind!r}", feature=feature, key="hashing.hash.type")
