"""Encode person records into CLKs (keyed Bloom filters), bit-for-bit as clkhash 0.18.3.

This reimplements clkhash's encoding on current ``cryptography`` and ``hashlib`` instead of
depending on clkhash at run time: clkhash 0.18.x (last released 2023) pins
``cryptography>=40,<41``, and those releases carry published vulnerabilities fixed only in later
ones (e.g. CVE-2023-49083, fixed in 41.0.6; CVE-2023-50782, fixed in 42.0.0; CVE-2024-26130,
fixed in 42.0.4), besides bundling OpenSSL builds with their own advisories. Compatibility is
proven on vectors produced by clkhash itself (``tests/vectors/clkhash``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import lru_cache, reduce
from itertools import islice, repeat
from operator import or_
from typing import Any

import numpy as np

from aidlink.gateway.encoding.bloom import TokenHasher, fold_xor, mask_bytes
from aidlink.gateway.encoding.errors import FeatureValueError, RecordError
from aidlink.gateway.encoding.features import Feature
from aidlink.gateway.encoding.hardening import SALT_SEPARATOR, Balancer, Blip, derive_hardening_key
from aidlink.gateway.encoding.keyderivation import derive_feature_keys, scoped_secret
from aidlink.gateway.encoding.schema import LinkageSchema
from aidlink.gateway.encoding.segments import Diffuser, diffusion_key_info, diffusion_taps, slice_bits, unslice_bits
from aidlink.gateway.encoding.token_tables import FeatureMasks

VALUE_CACHE_SIZE = 2**14
BATCH_RECORDS = 4096  # records encode_each/encode_many hand to encode_blob at a time
COLUMN_RECORDS = 1024  # records encoded a feature at a time (one bad value: these go record by record)

Record = Sequence[str] | Mapping[str, str | None]
# Per hashed feature: schema index, identifier, missing sentinel, mask of (value, salt), masks of a column or None
_FastSlot = tuple[int, str, str | None, Callable[[object, str], int], Callable[[list[Any]], list[int]] | None]
_to_bytes: Callable[[int, int, str], bytes] = int.to_bytes  # type: ignore[assignment]


class _FeatureEncoder:
    """One hashed feature: value -> filter mask, cached per distinct value."""

    def __init__(self, feature: Feature, hasher: TokenHasher) -> None:
        assert feature.hashing is not None
        self.feature = feature
        self.identifier = feature.identifier
        self.hasher = hasher
        self.strategy = feature.hashing.strategy
        missing = feature.hashing.missing_value
        self.sentinel = missing.sentinel if missing is not None else None
        self.salted = False  # set by the Encoder when the schema salts this feature (aidlink extension)
        self.shift = 0  # set by the Encoder for a segmented schema: the segment's place in the filter
        self._cached_mask = lru_cache(maxsize=VALUE_CACHE_SIZE)(self._mask)

    def _mask(self, value: str, salt: str = "") -> int:
        tokens = self.feature.tokens(value)
        if not tokens:
            return 0
        if self.salted:
            tokens = [f"{salt}{SALT_SEPARATOR}{token}" for token in tokens]
        return self.hasher.mask(tokens, self.strategy.bits_per_token(len(tokens))) << self.shift

    def mask(self, value: object, salt: str = "") -> int:
        if value.__class__ is str:
            return self._cached_mask(value, salt)
        return self._mask(value, salt)  # type: ignore[arg-type]  # Feature.prepare rejects non-strings

    def fast_salted_mask(self, value: object, salt: str) -> int:
        """:meth:`mask` of a salted feature for the fast path: the same bits, each salted token hashed
        from a pre-keyed BLAKE2b state (``TokenHasher.fast_token_mask``) instead of keying BLAKE2b
        anew per token, and nothing cached (a salted value seldom repeats)."""
        tokens = self.feature.tokens(value)  # type: ignore[arg-type]  # Feature.prepare rejects non-strings
        if not tokens:
            return 0
        prefix = f"{salt}{SALT_SEPARATOR}"
        ks = self.strategy.bits_per_token(len(tokens))
        salted = [prefix + token for token in tokens]
        return reduce(or_, map(self.hasher.fast_token_mask, salted, ks), 0) << self.shift

    def fast_masks(self) -> FeatureMasks | None:
        """The same masks as :meth:`mask` from memoized token tables, one value or a column at a
        time; None for a salted feature (its masks depend on the record: :meth:`mask` itself)."""
        if self.salted:
            return None
        return FeatureMasks(self.feature, self.hasher.fast_token_mask, self.shift, self.hasher.fast_token_masks)


class Encoder:
    """Encodes records with one schema and one linkage secret; the keys are derived once.

    ``secret`` is the raw linkage secret. clkhash also accepts a ``str`` secret and encodes it as
    UTF-8; pass ``secret.encode("utf-8")`` here to reproduce such encodings.

    ``scope`` (aidlink extension, e.g. ``b"agreement A-17|2026"``): every key is derived from the
    secret *and* the scope, so encodings made under different scopes share nothing and cannot be
    pooled; empty (the default) keeps clkhash's derivation.
    """

    def __init__(self, schema: LinkageSchema, secret: bytes, *, scope: bytes = b"") -> None:
        if isinstance(secret, (bytes, bytearray, memoryview)) and len(secret) == 0:
            raise ValueError("the linkage secret is empty")
        self.schema = schema
        if scope:
            secret = scoped_secret(bytes(secret), scope)
        keys = derive_feature_keys(secret, len(schema.features), schema.kdf)
        bits = schema.hashed_length_bits
        hardening = schema.hardening
        layout = hardening.layout
        self._slots: list[tuple[int, _FeatureEncoder]] = []
        for index, feature in enumerate(schema.features):
            if feature.hashing is None:
                continue
            segment = layout.segment_of(feature.identifier) if layout is not None else None
            width = segment.bits if segment is not None else bits
            slot = _FeatureEncoder(feature, TokenHasher(feature.hashing.hash, keys[index], width, feature.encoding))
            if segment is not None:
                slot.shift = bits - segment.start - segment.bits
            self._slots.append((index, slot))
        # Per segment: (shift of its bits in the filter, all-ones mask of its width, its diffusion)
        self._segments: list[tuple[int, int, Diffuser]] = []
        if layout is not None and layout.diffusion_t:
            for segment in layout.segments:
                key = derive_hardening_key(secret, schema.kdf, diffusion_key_info(segment))
                taps = diffusion_taps(key, segment.bits, layout.diffusion_t)
                self._segments.append((bits - segment.start - segment.bits, (1 << segment.bits) - 1, Diffuser(taps)))
        self._salt = hardening.salt
        self._salt_index = schema.field_identifiers.index(self._salt.feature) if self._salt else -1
        for _, slot in self._slots:
            slot.salted = self._salt is not None and slot.identifier in self._salt.features
        self._balance = Balancer(secret, schema.kdf, schema.length_bits) if hardening.balance else None
        self._blip = Blip(secret, schema.kdf, hardening.flip_probability) if hardening.flip_probability else None

    @property
    def length_bytes(self) -> int:
        """Bytes per encoding (``l / 8``; twice that with balancing)."""
        return self.schema.encoding_length_bits // 8

    def _record_salt(self, record: Mapping[str, str | None] | Sequence[str]) -> str:
        if self._salt is None:
            return ""
        if isinstance(record, Mapping):
            value = record.get(self._salt.feature)
        else:
            value = record[self._salt_index]
        return self._salt.salt_of(value if isinstance(value, str) else None)

    def encode(self, record: Record) -> bytes:
        """The CLK of one record, ``length_bits // 8`` bytes.

        A mapping is keyed by feature identifier (ignored features and extra keys may be left
        out; an absent or ``None`` value counts as the feature's missingValue sentinel, or is an
        error if it has none). A sequence holds every feature's value in schema order, like a
        clkhash CSV row. Raises :class:`FeatureValueError` or :class:`RecordError`.

        This is the plain per-record path; :meth:`encode_many` and :meth:`encode_each` give the
        same bytes faster for many records.
        """
        mask = self._filter_mask(record, fast=False)
        if self._segments:
            diffused = 0
            for shift, ones, diffuse in self._segments:
                diffused |= diffuse((mask >> shift) & ones) << shift
            mask = diffused
        return self._finish(mask)

    def _filter_mask(self, record: Record, *, fast: bool) -> int:
        """The record's filter before any diffusion, folding or hardening."""
        mask = 0
        masks = [s[3] for s in self._fast_masks()] if fast else [slot.mask for _, slot in self._slots]
        if isinstance(record, Mapping):
            salt = self._record_salt(record)
            for (_, slot), slot_mask in zip(self._slots, masks):
                value = record.get(slot.identifier)
                if value is None:
                    if slot.sentinel is None:
                        raise FeatureValueError(
                            slot.identifier,
                            None,
                            "no value given and the schema defines no missingValue for this feature",
                        )
                    value = slot.sentinel
                mask |= slot_mask(value, salt)
        elif isinstance(record, (str, bytes, bytearray)):
            raise RecordError(f"expected a mapping or a sequence of values, got {type(record).__name__}")
        elif isinstance(record, Sequence):
            features = self.schema.features
            if len(record) != len(features):
                raise RecordError(
                    f"the record has {len(record)} values but the schema has {len(features)} features "
                    f"{list(self.schema.field_identifiers)}"
                )
            salt = self._record_salt(record)
            for (index, _), slot_mask in zip(self._slots, masks):
                mask |= slot_mask(record[index], salt)
        else:
            raise RecordError(f"expected a mapping or a sequence of values, got {type(record).__name__}")
        return mask

    def _fast_filter_mask(self, record: Record) -> int:
        """:meth:`_filter_mask` on the fast path (memoized token tables), one frame per feature."""
        slots = self._fast_slots or self._fast_masks()
        if record.__class__ is not dict:
            return self._filter_mask(record, fast=True)
        salt = self._record_salt(record) if self._salt is not None else ""
        get = record.get  # a dict, checked above
        mask = 0
        for _, identifier, sentinel, fast_mask, _ in slots:
            value = get(identifier)
            if value is None:
                if sentinel is None:
                    raise FeatureValueError(
                        identifier, None, "no value given and the schema defines no missingValue for this feature"
                    )
                value = sentinel
            mask |= fast_mask(value, salt)
        return mask

    def _column_filter_masks(self, records: Sequence[Record]) -> list[int] | None:
        """The filters of ``records`` (all dicts) computed a feature at a time over all of them:
        the loops over records run in C (``map``), values memoized per feature. None if a record
        is not a dict, lacks a value its feature has no missingValue for, or holds a bad value:
        the caller then goes record by record (:meth:`_fast_filter_mask`), which names the error."""
        if not records or set(map(type, records)) != {dict}:
            return None
        slots = self._fast_slots or self._fast_masks()
        salts = list(map(self._record_salt, records)) if self._salt is not None else None
        total: list[int] | None = None
        try:
            for _, identifier, sentinel, fast_mask, column_masks in slots:
                column: list[Any] = list(map(dict.get, records, repeat(identifier)))  # type: ignore[arg-type]
                if None in column:
                    if sentinel is None:
                        return None
                    column = [sentinel if value is None else value for value in column]
                if column_masks is not None:
                    masks = column_masks(column)
                else:
                    masks = list(map(fast_mask, column, salts or repeat("")))
                total = masks if total is None else list(map(or_, total, masks))
        except (RecordError, TypeError):  # TypeError: an unhashable value (the record path raises its error)
            return None
        return total

    _fast_slots: list[_FastSlot] | None = None

    def _fast_masks(self) -> list[_FastSlot]:
        """Per hashed feature: (schema index, identifier, missing sentinel, fast mask function,
        column function ``values -> masks`` or None for a salted feature)."""
        if self._fast_slots is None:
            slots: list[_FastSlot] = []
            for index, slot in self._slots:
                fast = slot.fast_masks()
                if fast is None:  # salted
                    slots.append((index, slot.identifier, slot.sentinel, slot.fast_salted_mask, None))
                else:
                    slots.append((index, slot.identifier, slot.sentinel, fast.mask, fast.masks))
            self._fast_slots = slots
        return self._fast_slots

    def _finish(self, mask: int) -> bytes:
        """Fold, balance and BLIP a (diffused) filter, then serialize it as clkhash does."""
        schema = self.schema
        if schema.xor_folds:
            mask = fold_xor(mask, schema.hashed_length_bits, schema.xor_folds)
        length = schema.length_bits
        if self._balance is not None:
            mask = self._balance(mask)
            length *= 2
        if self._blip is not None:
            mask = self._blip(mask, length)
        return mask_bytes(mask, length)

    def _finish_blob(self, masks: list[int]) -> bytes:
        """:meth:`_finish` of many filters, joined; a segmented schema's diffusion runs on all at once."""
        if not masks:
            return b""
        schema = self.schema
        if not self._segments:
            if schema.xor_folds or self._balance is not None or self._blip is not None:
                return b"".join(map(self._finish, masks))
            return b"".join(map(_to_bytes, masks, repeat(schema.length_bits // 8), repeat("big")))
        bits = schema.hashed_length_bits  # segments exclude folding, balancing and BLIP
        size = bits // 8
        count = len(masks)
        joined = b"".join(map(_to_bytes, masks, repeat(size), repeat("big")))
        filters = np.frombuffer(joined, dtype=np.uint8).reshape(count, size)
        # Bit-sliced: row i holds filter bit i of every record, 8 records to a byte.
        sliced = slice_bits(np.unpackbits(filters, axis=1))
        out = np.zeros_like(sliced)
        for shift, _, diffuse in self._segments:
            start = bits - shift - diffuse.bits
            out[start : start + diffuse.bits] = diffuse.sliced(sliced[start : start + diffuse.bits])
        return np.packbits(unslice_bits(out, count), axis=1).tobytes()

    def encode_blob(self, records: Sequence[Record]) -> tuple[bytes, list[tuple[int, RecordError]]]:
        """Every record's CLK joined in order, :attr:`length_bytes` each (zero bytes for a record
        that failed), and (0-based offset, error, row not set) of each record that failed.

        The fast path (bit-identical to :meth:`encode`, tests): features a column at a time over
        ``COLUMN_RECORDS`` records, memoized token tables, a segmented schema's diffusion over all
        the records at once, and no ``bytes`` object per record."""
        masks: list[int] = []
        errors: list[tuple[int, RecordError]] = []
        for start in range(0, len(records), COLUMN_RECORDS):
            part = records[start : start + COLUMN_RECORDS]
            column = self._column_filter_masks(part)
            if column is not None:
                masks.extend(column)
                continue
            filter_mask = self._fast_filter_mask
            for offset, record in enumerate(part, start):
                try:
                    masks.append(filter_mask(record))
                except RecordError as exc:
                    errors.append((offset, exc))
        blob = self._finish_blob(masks)
        if errors:
            size = self.length_bytes
            pieces, position, done = [], 0, 0
            for offset, _ in errors:
                end = position + (offset - done) * size
                pieces += [blob[position:end], bytes(size)]
                position, done = end, offset + 1
            pieces.append(blob[position:])
            blob = b"".join(pieces)
        return blob, errors

    def _batches(self, records: Iterable[Record]) -> Iterator[tuple[list[bytes | RecordError], int]]:
        """Per ``BATCH_RECORDS`` records: each one's CLK or error (row not set), and the batch's first row."""
        iterator = iter(records)
        size = self.length_bytes
        done = 0
        while batch := list(islice(iterator, BATCH_RECORDS)):
            blob, errors = self.encode_blob(batch)
            part: list[bytes | RecordError] = [blob[i : i + size] for i in range(0, len(blob), size)]
            for offset, error in errors:
                part[offset] = error
            yield part, done
            done += len(batch)

    def encode_each(self, records: Iterable[Record]) -> list[bytes | RecordError]:
        """Per record, in order, its CLK or the :class:`RecordError` it raised (row not set).

        The fast path (:meth:`encode_blob`), ``BATCH_RECORDS`` records at a time."""
        out: list[bytes | RecordError] = []
        for part, _ in self._batches(records):
            out.extend(part)
        return out

    def encode_many(self, records: Iterable[Record]) -> list[bytes]:
        """CLKs of ``records`` in order (the fast path); an error names the 0-based row at fault."""
        out: list[bytes] = []
        for part, first in self._batches(records):
            for offset, clk in enumerate(part):
                if isinstance(clk, RecordError):
                    raise clk.at_row(first + offset) from None
            out.extend(part)  # type: ignore[arg-type]  # no errors in this part
        return out
