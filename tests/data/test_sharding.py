"""Samplers that shard a split over ranks (no processes needed: ranks are passed explicitly)."""

from __future__ import annotations

import math

import pytest
import torch

from lightning_gen.data.resumable import ResumableDataLoader
from lightning_gen.data.samplers import EpochShuffleSampler, EvalShardSampler
from lightning_gen.errors import ConfigError


@pytest.mark.parametrize("drop_last", [False, True])
def test_train_shards_are_disjoint_and_give_every_rank_the_same_number_of_batches(drop_last):
    for n in range(1, 30):
        for world in (2, 3, 4):
            for batch in (1, 3, 4):
                shards = [
                    EpochShuffleSampler(n, 5, True, world, r, batch, drop_last).indices()
                    for r in range(world)
                ]
                sizes = [
                    len(s) // batch if drop_last else math.ceil(len(s) / batch) for s in shards
                ]
                assert len(set(sizes)) == 1, (n, world, batch)
                flat = sum(shards, [])
                if not drop_last:  # every image is seen (a few repeated only to equal batch counts)
                    assert set(flat) == set(range(n))
                if n % world == 0:  # divisible: each index exactly once, nothing padded
                    assert sorted(flat) == list(range(n))


def test_uneven_split_is_not_padded_when_batch_counts_already_agree():
    shards = [EpochShuffleSampler(11, 0, True, 2, r, batch_size=4).indices() for r in (0, 1)]
    assert sorted(shards[0] + shards[1]) == list(range(11))  # 6 + 5 images, 2 batches each
    padded = [EpochShuffleSampler(9, 0, True, 2, r, batch_size=4).indices() for r in (0, 1)]
    assert [len(s) for s in padded] == [5, 5]  # 5 + 4 would be 2 vs 1 batches: one repeat


def test_one_rank_keeps_the_single_process_order():
    g = torch.Generator().manual_seed(7 + 2)
    s = EpochShuffleSampler(20, seed=7)
    s.set_epoch(2)
    assert s.indices() == torch.randperm(20, generator=g).tolist()


def test_sharded_loader_resumes_mid_epoch_on_each_rank():
    ds = torch.utils.data.TensorDataset(torch.arange(30))
    for rank in (0, 1):
        full = [
            b[0].tolist()
            for b in ResumableDataLoader(ds, seed=3, batch_size=4, num_replicas=2, rank=rank)
        ]
        resumed = ResumableDataLoader(ds, seed=3, batch_size=4, num_replicas=2, rank=rank)
        resumed.load_state_dict({"epoch": 0, "consumed": 2})
        assert [b[0].tolist() for b in resumed] == full[2:]
    other = [
        b[0].tolist() for b in ResumableDataLoader(ds, seed=3, batch_size=4, num_replicas=2, rank=0)
    ]
    assert set(sum(full, [])).isdisjoint(sum(other, []))


def test_eval_shards_are_contiguous_blocks_without_padding():
    for n in (5, 23, 24):
        for world in (1, 2, 3):
            blocks = [list(EvalShardSampler(n, world, r)) for r in range(world)]
            assert sum(blocks, []) == list(range(n))
            assert max(map(len, blocks)) - min(map(len, blocks)) <= 1
    with pytest.raises(ConfigError, match="data.val_fraction"):
        EvalShardSampler(2, 3, 0, "val")
