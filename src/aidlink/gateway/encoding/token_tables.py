"""The fast path's per-feature masks: a feature value's filter mask from memoized token masks.

The plain path (``_FeatureEncoder._mask``) builds the token list, asks the strategy for each
token's bit count and ORs cached token masks through Python calls per token. Here a feature's
token masks sit in plain dicts (one per bit count ``k``), already shifted into the feature's
segment, and a value's mask is one ``reduce(or_, map(table.__getitem__, tokens))``: the loop
over tokens runs in C. n-grams are cut with precomputed ``slice`` objects, also in C.

Three more shortcuts, none changing a bit: values are memoized per feature, and a column of
values (:meth:`FeatureMasks.masks`) is looked up in C; n-grams (n >= 2, fixed ``k``) are looked
up ``WINDOW_TOKENS`` at a time, by the substring that holds them (its mask is the OR of its
n-grams: fewer lookups and big-int ORs per value); an exact feature's values that are not
memoized (ID numbers) are hashed together and their bits set with numpy.

Output is bit-identical to the plain path (tested on thousands of synthetic records, v3 and
v2, and on clkhash's own vectors). Memory is bounded: a table that reaches ``TABLE_LIMIT``
entries is emptied and refills (a dict, not an LRU: eviction bookkeeping per token would cost
more than the occasional refill; n-gram vocabularies are far below the limit in practice).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce
from operator import add, or_

from aidlink.gateway.encoding.features import Feature
from aidlink.gateway.encoding.strategy import BitsPerFeature, BitsPerToken
from aidlink.gateway.encoding.tokens import ExactTokenizer, NgramTokenizer

TABLE_LIMIT = 1 << 15  # token masks per (feature, k); ~200 bytes each at l = 1024
VALUE_LIMIT = 1 << 15  # value masks per feature (birth dates: ~36 500 a century)
WINDOW_TOKENS = 3  # n-grams per memoized window (4 characters of bigrams: 10**4 digit windows)
MAX_WINDOW_MISSES = 0.5  # values with a window not memoized, above which a feature stops using windows
EXACT_BATCH = 16  # an exact feature's values not memoized, hashed together from this many on
MIN_VALUE_HITS = 0.25  # a feature whose values repeat less than this stops memoizing values


def quick_prepare(feature: Feature) -> Callable[[str], str]:
    """``Feature.prepare`` for a str, with fewer steps on the way: the sentinel compared first, the
    text-encoding check skipped for ASCII (encodable in every allowed encoding), then the format's
    own check. Anything that fails goes through ``Feature.prepare``, which raises its error."""
    assert feature.hashing is not None and feature.format is not None
    missing = feature.hashing.missing_value
    sentinel = missing.sentinel if missing is not None else None
    replacement = missing.replacement if missing is not None else ""
    encoding = feature.encoding
    canonical = feature.format.canonical
    slow = feature.prepare

    def prepare(value: str) -> str:
        if value == sentinel:
            return replacement
        if not value.isascii():
            try:
                value.encode(encoding)
            except UnicodeEncodeError:
                return slow(value)
        try:
            return canonical(value)
        except ValueError:
            return slow(value)

    return prepare


class FeatureMasks:
    """value -> mask, for one unsalted feature; a bad value raises as ``Feature.tokens`` does."""

    def __init__(
        self,
        feature: Feature,
        token_mask: Callable[[str, int], int],
        shift: int,
        token_masks: Callable[[list[str], int], list[int]] | None = None,
    ) -> None:
        assert feature.hashing is not None
        self.feature = feature
        self._token_mask = token_mask
        self._token_masks = token_masks
        self._shift = shift
        tokenizer = feature.hashing.tokenizer
        strategy = feature.hashing.strategy
        # Plain n-grams are cut with cached slices (C); positional ones and other comparisons use the tokenizer.
        self._n = tokenizer.n if isinstance(tokenizer, NgramTokenizer) else 0
        # Positional n-grams: each n-gram prefixed with "<1-based position> " (cached prefixes, C).
        self._positional = isinstance(tokenizer, NgramTokenizer) and tokenizer.positional
        self._prefixes: list[str] = []
        self._pad = " " * (self._n - 1) if self._n > 1 else ""
        self._slices: dict[int, list[slice]] = {}
        self._k = strategy.k if isinstance(strategy, BitsPerToken) else 0
        self._total = strategy.total if isinstance(strategy, BitsPerFeature) else 0
        self._strategy = strategy
        self._tables: dict[int, dict[str, int]] = {}
        # An exact token is the whole value: memoized with the values, not again as a token.
        self._memo_tokens = not isinstance(tokenizer, ExactTokenizer)
        self._values: dict[str, int] | None = {}
        self._lookups = 0
        self._hits = 0
        self._prepare = quick_prepare(feature)
        # The usual case, inlined in `mask`: plain n-grams, a fixed k, token masks memoized.
        self._direct = self._n > 0 and self._k > 0 and self._memo_tokens
        self._direct_table = self._table(self._k) if self._direct else {}
        # Windows: n-gram features (n >= 2) look up the mask of WINDOW_TOKENS n-grams at once, memoized
        # by the substring that holds them (its mask: the OR of its n-grams), so fewer lookups and
        # ORs per value; given up if the windows repeat too little (a large alphabet, say).
        self._windowed = (
            self._n >= 2 and not self._positional and self._memo_tokens and (self._k > 0 or self._total > 0)
        )
        self._plans: dict[int, list[tuple[dict[str, int], int, list[slice]]]] = {}
        self._window_tables: dict[int, dict[str, int]] = {}
        self._window_lookups = 0
        self._window_misses = 0
        # An exact comparison with a fixed k: the value's one token, hashed straight away.
        self._exact_k = self._k if isinstance(tokenizer, ExactTokenizer) else 0

    def _tokens(self, value: str) -> list[str]:
        n = self._n
        if not n:
            return self.feature.tokens(value)
        word = self._prepare(value)
        return self._ngrams(word) if word else []

    def _ngrams(self, word: str) -> list[str]:
        """The n-grams of a prepared, non-empty value, cut with cached slices (padded for n > 1,
        position-prefixed for a positional tokenizer)."""
        n = self._n
        if n > 1:
            word = f"{self._pad}{word}{self._pad}"
        count = len(word) - n + 1
        slices = self._slices.get(count)
        if slices is None:
            slices = self._slices[count] = [slice(i, i + n) for i in range(count)]
        tokens = list(map(word.__getitem__, slices))
        return list(map(add, self._prefix(count), tokens)) if self._positional else tokens

    def _prefix(self, count: int) -> list[str]:
        """Position prefixes of positional n-grams, ``"1 "``, ``"2 "``, ..., at least ``count`` of them
        (``map`` stops at the shorter list)."""
        prefixes = self._prefixes
        if len(prefixes) < count:
            prefixes.extend(f"{i + 1} " for i in range(len(prefixes), count))
        return prefixes

    def _table(self, k: int) -> dict[str, int]:
        table = self._tables.get(k)
        if table is None:
            table = self._tables[k] = {}
        return table

    def _or(self, tokens: list[str], k: int) -> int:
        if not self._memo_tokens:
            token_mask, shift = self._token_mask, self._shift
            return reduce(or_, [token_mask(token, k) << shift for token in tokens], 0)
        table = self._table(k)
        try:
            return reduce(or_, map(table.__getitem__, tokens), 0)
        except KeyError:
            if len(table) + len(tokens) > TABLE_LIMIT:
                table.clear()
            shift = self._shift
            # The masks are kept here, not read back from the table: another thread encoding with
            # this encoder (a gateway serving two uploads) may empty the table meanwhile.
            masks = []
            for token in tokens:
                mask = table.get(token)
                if mask is None:
                    mask = table[token] = self._token_mask(token, k) << shift
                masks.append(mask)
            return reduce(or_, masks, 0)

    def mask(self, value: object, salt: str = "") -> int:
        """The mask of a value: the OR of its tokens' masks, ``k`` bits each (strategy).

        ``salt`` is ignored: salted features take the plain path (the signature is the plain one)."""
        if value.__class__ is not str:
            return self._token_free(value)
        values = self._values
        if values is not None:
            self._lookups += 1
            cached = values.get(value)  # a str, checked above
            if cached is not None:
                self._hits += 1
                return cached
        return self._compute(value)

    def masks(self, column: list[object]) -> list[int]:
        """:meth:`mask` of each value, the memoized ones looked up in C (``map``); an exact
        feature's values not memoized hashed together (:meth:`_exact_masks`)."""
        values = self._values
        many = self._exact_k and self._token_masks is not None
        if values is None:
            if many and len(column) >= EXACT_BATCH:
                return self._exact_masks(column)
            return list(map(self.mask, column))
        got = list(map(values.get, column))  # type: ignore[arg-type]  # a non-str misses, then raises
        misses = got.count(None)
        self._lookups += len(got)
        self._hits += len(got) - misses
        if not misses:
            return got  # type: ignore[return-value]  # no None in it
        if many and misses >= EXACT_BATCH:
            places = [i for i, mask in enumerate(got) if mask is None]
            computed = self._exact_masks([column[i] for i in places])
            remember = self._remember
            for i, mask in zip(places, computed):
                got[i] = remember(column[i], mask)  # type: ignore[arg-type]  # str, or _exact_masks raised
            return got  # type: ignore[return-value]  # every None replaced
        compute = self._compute
        return [compute(value) if mask is None else mask for mask, value in zip(got, column)]

    def _exact_masks(self, column: list[object]) -> list[int]:
        """The masks of an exact feature's values (fixed ``k``), their tokens hashed in one go."""
        if set(map(type, column)) != {str}:
            return [self._compute(value) for value in column]  # raises the error of a non-str
        words = list(map(self._prepare, column))  # type: ignore[arg-type]  # all str, checked
        assert self._token_masks is not None
        hashed = iter(self._token_masks([word for word in words if word], self._exact_k))
        shift = self._shift
        return [next(hashed) << shift if word else 0 for word in words]

    def _compute(self, value: object) -> int:
        """The mask of a value not memoized (remembered for next time)."""
        if value.__class__ is not str:
            return self._token_free(value)
        assert isinstance(value, str)
        if self._windowed:
            mask = 0
            word = self._prepare(value)
            if word:
                word = f"{self._pad}{word}{self._pad}"
                count = len(word) - self._n + 1
                plan = self._plans.get(count)
                if plan is None:
                    plan = self._plans[count] = self._plan(count)
                self._window_lookups += 1
                for table, k, cuts in plan:
                    windows = list(map(word.__getitem__, cuts))
                    try:
                        mask |= reduce(or_, map(table.__getitem__, windows))
                    except KeyError:
                        mask |= self._window_miss(windows, k, table)
            return self._remember(value, mask)
        if self._direct:
            mask = 0
            word = self._prepare(value)
            if word:
                tokens = self._ngrams(word)
                try:
                    mask = reduce(or_, map(self._direct_table.__getitem__, tokens))
                except KeyError:
                    mask = self._or(tokens, self._k)
            return self._remember(value, mask)
        if self._exact_k:  # the value itself is the one token, not kept in a token table
            word = self._prepare(value)
            mask = self._token_mask(word, self._exact_k) << self._shift if word else 0
            return self._remember(value, mask)
        tokens = self._tokens(value)
        if not tokens:
            mask = 0
        elif self._k:
            mask = self._or(tokens, self._k)
        elif self._total:
            k, residue = divmod(self._total, len(tokens))
            mask = self._or(tokens[residue:], k) if k else 0
            if residue:
                mask |= self._or(tokens[:residue], k + 1)
        else:  # a strategy this module does not know: per-token counts from the strategy itself
            mask = 0
            for token, k in zip(tokens, self._strategy.bits_per_token(len(tokens))):
                mask |= self._or([token], k)
        return self._remember(value, mask)

    def _plan(self, count: int) -> list[tuple[dict[str, int], int, list[slice]]]:
        """For a padded word of ``count`` n-grams: per bit count ``k`` (one; two for bitsPerFeature,
        the first ``residue`` n-grams taking one bit more, as ``_compute``'s plain branch), the
        window table and the slices of windows of WINDOW_TOKENS n-grams (the last may hold fewer)
        that hold those n-grams, each once."""
        n, step = self._n, WINDOW_TOKENS
        if self._k:
            groups = [(self._k, 0, count)]
        else:
            k, residue = divmod(self._total, count)
            groups = [(k + 1, 0, residue)] if residue else []
            if k:
                groups.append((k, residue, count))
        plan = []
        for k, first, end in groups:
            table = self._window_tables.get(k)
            if table is None:
                table = self._window_tables[k] = {}
            plan.append((table, k, [slice(i, min(i + step, end) + n - 1) for i in range(first, end, step)]))
        return plan

    def _window_miss(self, windows: list[str], k: int, table: dict[str, int]) -> int:
        """The OR of windows' masks (``k`` bits per n-gram), the ones not memoized made from their
        n-grams' masks and kept in ``table``."""
        self._window_misses += 1
        if len(table) + len(windows) > TABLE_LIMIT:
            if self._window_misses > MAX_WINDOW_MISSES * self._window_lookups:
                self._windowed = False  # too few repeats: back to one lookup per n-gram
            table.clear()
            self._window_lookups = self._window_misses = 0
        n = self._n
        masks = []
        for window in windows:
            mask = table.get(window)
            if mask is None:
                tokens = [window[i : i + n] for i in range(len(window) - n + 1)]
                mask = table[window] = self._or(tokens, k)
            masks.append(mask)
        return reduce(or_, masks)

    def _remember(self, value: str, mask: int) -> int:
        values = self._values
        if values is not None:
            if len(values) >= VALUE_LIMIT:
                values.clear()
                if self._hits < MIN_VALUE_HITS * self._lookups:  # mostly unique values (ID numbers, phones)
                    self._values = None
                self._lookups = self._hits = 0
            else:
                values[value] = mask
        return mask

    def _token_free(self, value: object) -> int:
        """A value that is not a str: ``Feature.tokens`` raises the error naming the feature."""
        return self._or(self.feature.tokens(value), self._k or 1)  # type: ignore[arg-type]
