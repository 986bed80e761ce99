"""The matcher's one join path: which of A's records match which of B's.

Every comparison the matcher makes goes through :class:`DatasetJoin`: a dataset
compare and a status query (``Exchange``), a dispute's flag (through the status
path), and the monitoring graph's pairwise links. It picks the join:

- **blocked** when both sides carry keyed blocking tokens (and blocking is on):
  only pairs sharing a token or an LSH band are scored, in process, or with
  ``join_backend = "dask"`` on the cluster by key partition (same pairs and scores);
- **exhaustive** otherwise, on the configured join backend (``local``: in
  process; ``dask``: on the cluster), where the B side stays loaded between calls
  under its version (an older version of the same dataset is evicted when a newer
  one is loaded), or on the in-process kernel when there is no backend.

Scores are the same exact Dice coefficient on every path; a blocked join finds a
subset of the exhaustive join's pairs. For a segmented schema (linkage schema v2, the default)
the Dice coefficient is taken over the segments both records have (:mod:`matcher.missing_aware`):
blocked, that join runs with ``join_backend = "dask"`` on the cluster by key partition (the
in-process missing-aware join's pairs, scores and order; :mod:`matcher.distributed.blocked`),
else in process; exhaustive, it always runs on the in-process kernel, never on the backend
(whose workers hold B's whole vectors, not the masked versions a missing-aware pair is scored on).
"""

from __future__ import annotations

import threading

import numpy as np

from aidlink.matcher.comparison import (
    DEFAULT_CHUNK_ROWS,
    DEFAULT_LSH,
    Blocking,
    MatchOutcome,
    Progress,
    match_encodings,
)
from aidlink.matcher.datasets import DatasetVersion, LoadedDataset
from aidlink.matcher.distributed import DatasetNotLoaded, JoinBackend, JoinFailed
from aidlink.matcher.errors import Refused
from aidlink.matcher.missing_aware import OptionalSegments, missing_aware_match
from aidlink.matcher.schema_policies import schema_policy
from aidlink.matcher.similarity import CandidatePairs, greedy_link_pairs, pack
from aidlink.matcher.similarity.blocking import BlockingKeys
from aidlink.matcher.similarity.lsh import BitSamplingLsh
from aidlink.observability.tracing import span


class JoinUnavailable(Refused):
    """The join backend could not finish a comparison; nothing of it was returned."""

    status = "UNAVAILABLE"


def join_key(meta: DatasetVersion) -> str:
    """The name a dataset version has on the join backend (and in its metrics)."""
    return f"{meta.qualified_name}@v{meta.version}"


class DatasetJoin:
    """Blocked, or exhaustive on the join backend: one interface for every comparison."""

    def __init__(
        self,
        backend: JoinBackend | None = None,
        *,
        lsh: BitSamplingLsh | None = DEFAULT_LSH,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
    ) -> None:
        self.backend, self.lsh, self.chunk_rows = backend, lsh, chunk_rows
        self._lock = threading.Lock()
        self._loaded: dict[str, set[int]] = {}  # qualified name -> versions on the backend

    @property
    def name(self) -> str:
        return self.backend.name if self.backend is not None else "in-process"

    def match(
        self,
        mine: np.ndarray,
        other: LoadedDataset,
        admitted: np.ndarray | None,
        threshold: float,
        *,
        all_pairs: bool,
        mine_blocking: BlockingKeys | None = None,
        blocking: bool = True,
        progress: Progress | None = None,
    ) -> MatchOutcome:
        """Links between rows of ``mine`` and the ``admitted`` rows of ``other`` (None: all rows).

        ``Link.other`` indexes ``admitted`` (the agreement's filtered view of ``other``).
        Blocked when ``blocking`` and both ``mine_blocking`` and ``other.blocking`` are
        given; else exhaustive on the backend. ``all_pairs`` False: greedy 1-to-1 links.
        """
        rows = np.arange(len(other.refs), dtype=np.int64) if admitted is None else np.asarray(admitted, dtype=np.int64)
        blocked = blocking and mine_blocking is not None and other.blocking is not None
        segments = schema_policy(other.meta.encoding).optional_segments
        kind = "blocked" if blocked else ("exhaustive" if self.backend is None else self.name)
        with span(
            "aidlink.join",
            **{
                "aidlink.join.kind": f"missing-aware {kind}" if segments.ranges else kind,
                "aidlink.join.rows_mine": len(mine),
                "aidlink.join.rows_other": len(rows),
                "aidlink.join.threshold": threshold,
            },
        ) as s:
            if segments.ranges:
                outcome = self._missing_aware(
                    np.asarray(mine),
                    other,
                    rows,
                    threshold,
                    segments,
                    all_pairs=all_pairs,
                    mine_blocking=mine_blocking if blocking else None,
                    progress=progress,
                )
            else:
                outcome = self._match(mine, other, rows, threshold, all_pairs, mine_blocking, blocked, progress)
            s.set_attribute("aidlink.join.links", len(outcome.pairs.scores))
            s.set_attribute("aidlink.join.comparisons", outcome.comparisons)
            return outcome

    def _match(
        self,
        mine: np.ndarray,
        other: LoadedDataset,
        rows: np.ndarray,
        threshold: float,
        all_pairs: bool,
        mine_blocking: BlockingKeys | None,
        blocked: bool,
        progress: Progress | None,
    ) -> MatchOutcome:
        if blocked:
            assert mine_blocking is not None and other.blocking is not None
            keys = Blocking(mine_blocking, other.blocking.take(rows), self.lsh)
            if hasattr(self.backend, "blocked_join") and threshold > 0:  # the Dask backend
                mine, other_rows = np.asarray(mine), np.asarray(other.encodings[rows])
                if len(mine) == 0 or len(other_rows) == 0:
                    return self._blocked_on_dask(mine, other.meta, other_rows, None, threshold, all_pairs, progress)
                return self._blocked_on_dask(
                    mine,
                    other.meta,
                    other_rows,
                    keys.keys(pack(mine), pack(other_rows)),
                    threshold,
                    all_pairs,
                    progress,
                )
            return match_encodings(
                np.asarray(mine),
                np.asarray(other.encodings[rows]),
                threshold,
                all_pairs=all_pairs,
                blocking=keys,
                progress=progress,
                chunk_rows=self.chunk_rows,
            )
        if self.backend is None:
            return match_encodings(
                np.asarray(mine),
                np.asarray(other.encodings[rows]),
                threshold,
                all_pairs=all_pairs,
                progress=progress,
                chunk_rows=self.chunk_rows,
            )
        return self._on_backend(
            np.asarray(mine), other.meta, other.encodings, rows, threshold, all_pairs=all_pairs, progress=progress
        )

    # -- missing-aware: scored on the segments both records have ------------------------------------
    def _missing_aware(
        self,
        mine: np.ndarray,
        other: LoadedDataset,
        rows: np.ndarray,
        threshold: float,
        segments: OptionalSegments,
        *,
        all_pairs: bool,
        mine_blocking: BlockingKeys | None,
        progress: Progress | None,
    ) -> MatchOutcome:
        """Blocked when both sides carry tokens (by key partition on the Dask backend if there is
        one, else in process), else exhaustive on the in-process kernel."""
        other_keys = other.blocking.take(rows) if mine_blocking is not None and other.blocking is not None else None
        if other_keys is not None and hasattr(self.backend, "blocked_join") and threshold > 0:  # the Dask backend
            assert mine_blocking is not None
            return self._blocked_on_dask(
                mine,
                other.meta,
                np.asarray(other.encodings[rows]),
                (mine_blocking, other_keys),
                threshold,
                all_pairs,
                progress,
                segments=segments,
            )
        outcome = missing_aware_match(
            mine,
            np.asarray(other.encodings[rows]),
            threshold,
            segments,
            all_pairs=all_pairs,
            mine_blocking=mine_blocking if other_keys is not None else None,
            other_blocking=other_keys,
            lsh=self.lsh,
            chunk_rows=self.chunk_rows,
            progress=progress,
        )
        return outcome

    # -- the blocked join on the Dask backend ------------------------------------------------------
    def _blocked_on_dask(
        self,
        mine: np.ndarray,
        other: DatasetVersion,
        other_rows: np.ndarray,
        keys: tuple[BlockingKeys, BlockingKeys] | None,
        threshold: float,
        all_pairs: bool,
        progress: Progress | None,
        *,
        segments: OptionalSegments | None = None,
    ) -> MatchOutcome:
        """The blocked join on the cluster, by key partition (``progress`` as partitions finish):
        the in-process blocked join's pairs and scores; no partial result if it cannot finish.

        ``keys``: both sides' keys with the LSH bands; with ``segments`` (missing-aware: the
        in-process ``missing_aware_match``'s answer), the tokens only."""
        blocked_join = self.backend.blocked_join  # type: ignore[union-attr]
        if len(mine) == 0 or len(other_rows) == 0 or keys is None:
            if progress:
                progress(len(mine), len(mine))
            return MatchOutcome(CandidatePairs.empty(), 0, True)
        mine_keys, other_keys = keys
        extra = {} if segments is None else {"segments": segments, "lsh": self.lsh}
        parts = []
        try:
            join = blocked_join(join_key(other), mine, mine_keys, other_rows, other_keys, threshold, **extra)
            for part in join:
                parts.append(part.pairs)
                if progress:
                    progress(len(mine) * len(parts) // join.stats.partitions, len(mine))
        except (JoinFailed, OSError, TimeoutError) as exc:
            raise JoinUnavailable(
                f"comparison against {other.qualified_name} v{other.version} could not "
                f"finish on the {self.name} join backend, and nothing of it was "
                f"returned: {exc}"
            ) from exc
        if progress and not parts:
            progress(len(mine), len(mine))
        candidates = CandidatePairs.concatenate(parts)
        if not all_pairs:
            candidates = greedy_link_pairs(candidates)
        return MatchOutcome(candidates, join.stats.candidates, True)

    # -- the exhaustive join on the backend --------------------------------------------------------
    def _on_backend(
        self,
        mine: np.ndarray,
        other: DatasetVersion,
        other_encodings: np.ndarray,
        admitted: np.ndarray,
        threshold: float,
        *,
        all_pairs: bool,
        progress: Progress | None,
    ) -> MatchOutcome:
        """``other`` stays loaded on the backend between calls; ``mine`` streams in chunks of
        ``chunk_rows``, with ``progress`` after each. If the backend cannot answer, the call
        raises :class:`JoinUnavailable` naming the dataset and partition: no partial result."""
        if len(mine) == 0 or len(admitted) == 0:
            if progress:
                progress(len(mine), len(mine))
            return MatchOutcome(CandidatePairs.empty(), 0, False)
        rows = None if len(admitted) == len(other_encodings) else admitted
        parts = []
        try:
            for start in range(0, len(mine), self.chunk_rows):
                chunk = np.ascontiguousarray(mine[start : start + self.chunk_rows])
                pairs = self._join_chunk(chunk, other, other_encodings, threshold, rows)
                parts.append(CandidatePairs(pairs.scores, pairs.a_index + start, pairs.b_index))
                if progress:
                    progress(start + len(chunk), len(mine))
        except (JoinFailed, OSError, TimeoutError) as exc:
            raise JoinUnavailable(
                f"comparison against {other.qualified_name} v{other.version} could not "
                f"finish on the {self.name} join backend, and nothing of it was "
                f"returned: {exc}"
            ) from exc
        candidates = CandidatePairs.concatenate(parts)
        if not all_pairs:
            candidates = greedy_link_pairs(candidates)
        return MatchOutcome(candidates, len(mine) * len(admitted), False)

    def _join_chunk(
        self, chunk: np.ndarray, other: DatasetVersion, encodings: np.ndarray, threshold: float, rows: np.ndarray | None
    ) -> CandidatePairs:
        assert self.backend is not None
        key = join_key(other)
        for attempt in range(3):
            self._load(other, encodings)
            try:
                return self.backend.candidate_pairs(chunk, key, threshold, rows=rows)
            except DatasetNotLoaded:
                if attempt == 2:  # newer versions kept replacing it: give up clearly
                    raise JoinUnavailable(
                        f"comparison against {other.qualified_name} v{other.version} "
                        f"was abandoned: newer versions kept replacing it on the "
                        f"{self.name} join backend; try again"
                    ) from None
        raise AssertionError("unreachable")

    def _load(self, meta: DatasetVersion, encodings: np.ndarray) -> None:
        """Put a dataset version on the join backend (once), evicting its older versions."""
        assert self.backend is not None
        key = join_key(meta)
        with self._lock:
            if self.backend.loaded_version(key) == meta.version:
                return
            self.backend.load(key, encodings, version=meta.version)
            older = [v for v in self._loaded.get(meta.qualified_name, ()) if v < meta.version]
            for version in older:
                self.backend.evict(f"{meta.qualified_name}@v{version}")
            self._loaded[meta.qualified_name] = {
                v for v in self._loaded.get(meta.qualified_name, ()) if v > meta.version
            } | {meta.version}
