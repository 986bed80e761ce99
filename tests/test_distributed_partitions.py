"""Popcount-ordered shards: every row in exactly one shard, and no query row with a
pair in a shard is ever left out of it (checked against the exhaustive join)."""

from __future__ import annotations

import numpy as np
import pytest

from aidlink.bench.kernel import make_datasets
from aidlink.matcher.distributed.partitions import ShardLayout, row_popcounts, row_positions
from aidlink.matcher.similarity import candidate_pairs, pack


@pytest.fixture(scope="module")
def data():
    return make_datasets(1200, 512, 0.5, seed=2)


def test_shards_cover_every_row_once_in_popcount_order(data):
    _, dataset = data
    layout = ShardLayout.build(dataset, 7)
    assert len(layout.shards) == 7 and layout.records == 1200 and layout.width == 64
    rows = np.concatenate([s.rows for s in layout.shards])
    assert np.array_equal(np.sort(rows), np.arange(1200))
    pop = row_popcounts(dataset)
    for shard, following in zip(layout.shards, layout.shards[1:]):
        assert shard.high <= following.low
        assert pop[shard.rows].min() == shard.low and pop[shard.rows].max() == shard.high
    assert np.array_equal(layout.shards[2].encodings(dataset), dataset[layout.shards[2].rows])
    assert len(ShardLayout.build(dataset[:3], 10).shards) == 3  # never an empty shard


@pytest.mark.parametrize("threshold", [0.9, 0.7, 0.5])
def test_query_rows_sent_to_a_shard_include_every_row_with_a_pair_there(data, threshold):
    query, dataset = data
    layout = ShardLayout.build(dataset, 9)
    pairs = candidate_pairs(pack(query), pack(dataset), threshold)
    shard_of = np.empty(len(dataset), dtype=np.int64)
    for shard in layout.shards:
        shard_of[shard.rows] = shard.number
    sent = layout.query_rows(row_popcounts(query), threshold)
    for shard in layout.shards:
        needed = np.unique(pairs.a_index[shard_of[pairs.b_index] == shard.number])
        assert np.isin(needed, sent[shard.number]).all()
    # Pruning happens: at a high threshold most shards see only part of the query.
    if threshold == 0.9:
        assert sum(len(s) for s in sent) < 0.75 * len(query) * len(layout.shards)


def test_row_filter_positions_and_refusals():
    positions = row_positions(np.array([4, 0, 2]), 5, "d")
    assert positions.tolist() == [1, -1, 2, -1, 0]
    assert row_positions(None, 5, "d") is None
    with pytest.raises(ValueError, match=r"rows for dataset 'd' must be a 1-D array of row indices"):
        row_positions(np.array([[1]]), 5, "d")
    with pytest.raises(ValueError, match="partitions must be a positive integer; got 0"):
        ShardLayout.build(np.zeros((2, 8), np.uint8), 0)
