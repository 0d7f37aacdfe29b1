"""Data: ImageFolder labels, hash split, seeded batches and shards, augmentation, target rule."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from l2r_core.models.preprocessing import Preprocessing
from l2r_training.data import (UNKNOWN, BatchLoader, augment_image, batch_indices, class_index, load_fixed,
                               scan_folder, second_targets, split_indices)

from .conftest import CLASSES, make_images

PRE = Preprocessing(input_size=(32, 32), crop_pct=32 / 36, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def test_class_folders_map_to_model_classes(tmp_path: Path) -> None:
    make_images(tmp_path, n=6, classes=("Dog", "zebra", "fox"))
    (tmp_path / "loose.png").write_bytes((tmp_path / "fox" / "img02.png").read_bytes())
    images = scan_folder(tmp_path, CLASSES)
    labels = dict(zip((p.relative_to(tmp_path).as_posix() for p in images.paths), images.labels))
    assert labels["Dog/img00.png"] == 1 and labels["fox/img02.png"] == 2
    assert labels["zebra/img01.png"] == UNKNOWN and labels["loose.png"] == UNKNOWN
    assert images.unmatched == ["zebra"] and images.class_map == {"Dog": 1, "fox": 2}


def test_imagenet_synonyms_and_wordnet_ids() -> None:
    names = [f"class {i}" for i in range(1000)]
    names[0] = "tench, Tinca tinca"
    assert class_index("Tinca_tinca", names) == 0
    assert class_index("n01443537", names) == 1  # goldfish's WordNet id, by position in ImageNet
    assert class_index("n01443537", names[:10]) == UNKNOWN


def test_slash_in_a_class_name_matches_a_folder() -> None:
    # Fashion-MNIST's 'T-shirt/top' cannot be a folder name: either half, or both, must match
    names = ["T-shirt/top", "Trouser"]
    assert class_index("T-shirt", names) == 0
    assert class_index("t-shirt_top", names) == 0
    assert class_index("top", names) == 0
    assert class_index("shirt", names) == UNKNOWN


def test_split_is_deterministic_and_stable(tmp_path: Path) -> None:
    make_images(tmp_path, n=40, classes=())
    images = scan_folder(tmp_path, CLASSES)
    train, val = split_indices(images, 0.25)
    assert sorted(train + val) == list(range(40)) and not set(train) & set(val)
    assert 4 <= len(val) <= 18
    assert split_indices(scan_folder(tmp_path, CLASSES), 0.25) == (train, val)
    # Adding files never moves old ones between the sets (the split hashes each path alone).
    Image.new("RGB", (8, 8)).save(tmp_path / "zz_new.png")
    old_val = {images.paths[i] for i in val}
    images2 = scan_folder(tmp_path, CLASSES)
    assert old_val <= {images2.paths[i] for i in split_indices(images2, 0.25)[1]}
    assert split_indices(scan_folder(tmp_path, CLASSES), 0.0)[1] == []


def test_batches_are_seeded_and_ranks_shard_each_global_batch() -> None:
    n, b = 10, 3
    assert batch_indices(5, n, b, seed=1) == batch_indices(5, n, b, seed=1)
    assert batch_indices(5, n, b, seed=1) != batch_indices(5, n, b, seed=2)
    stream = [i for s in range(10) for i in batch_indices(s, n, b, seed=0)]
    for e in range(3):  # every epoch is a permutation
        assert sorted(stream[e * n:(e + 1) * n]) == list(range(n))
    for step in range(4):  # 2 ranks take consecutive slices of the single-process stream of 2x batches
        r0 = batch_indices(step, n, b, seed=0, rank=0, world=2)
        r1 = batch_indices(step, n, b, seed=0, rank=1, world=2)
        assert r0 + r1 == batch_indices(step, n, 2 * b, seed=0)


def test_augmentation_is_reproducible_and_normalised() -> None:
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8))
    a = augment_image(img, PRE, "heavy", np.random.default_rng([0, 3]))
    b = augment_image(img, PRE, "heavy", np.random.default_rng([0, 3]))
    c = augment_image(img, PRE, "heavy", np.random.default_rng([0, 4]))
    assert a.shape == (3, 32, 32) and torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= -1.0 and a.max() <= 1.0  # mean/std 0.5 maps [0,1] to [-1,1]
    assert torch.equal(augment_image(img, PRE, "none", np.random.default_rng(0)), PRE(img))


def test_unreadable_images_are_skipped_with_a_warning(tmp_path: Path) -> None:
    make_images(tmp_path, n=4, classes=())
    (tmp_path / "img01.png").write_bytes(b"not a png")
    images = scan_folder(tmp_path, CLASSES)
    loader = BatchLoader(images, list(range(4)), PRE, "light", batch_size=4, seed=0, threads=1)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            x, labels = loader.get(0, prefetch=False)
        assert x.shape == (4, 3, 32, 32) and torch.isfinite(x).all()
        assert any("img01.png" in str(w.message) for w in caught)
        x2, _ = loader.get(0, prefetch=False)
        assert torch.equal(x, x2)  # the substitute is the same every time
        assert labels.tolist() == [UNKNOWN] * 4
    finally:
        loader.close()


def test_second_target_rule() -> None:
    logits = torch.tensor([[5.0, 3.0, 1.0], [5.0, 3.0, 1.0], [1.0, 2.0, 9.0], [0.0, 4.0, 1.0]])
    labels = torch.tensor([0, 2, UNKNOWN, 1])
    top1, second = second_targets(logits, labels)
    assert top1.tolist() == [0, 0, 2, 1]
    # correct -> runner-up; wrong -> the label; unknown -> runner-up; correct -> runner-up
    assert second.tolist() == [1, 2, 1, 2]


@pytest.mark.parametrize("k", [1])
def test_single_class_model_repeats_top1(k: int) -> None:
    top1, second = second_targets(torch.zeros(2, k), torch.tensor([UNKNOWN, 0]))
    assert torch.equal(top1, second)


def test_capped_validation_set_spans_every_class(tmp_path: Path) -> None:
    # Paths sort by class folder; the first N validation images were once all one class.
    make_images(tmp_path, n=60, classes=("cat", "dog", "fox"))
    images = scan_folder(tmp_path, CLASSES)
    _, val = split_indices(images, 0.5)
    x, labels = load_fixed(images, val, PRE, 6)
    assert x.shape == (6, 3, 32, 32)
    assert set(labels.tolist()) == {0, 1, 2}
    assert load_fixed(images, val, PRE, 1000)[0].shape[0] == len(val)


def test_spread_second_target_draws_ranks_two_to_ten_and_keeps_the_label_rule() -> None:
    logits = torch.arange(20.0).flip(0).repeat(400, 1)  # class k is ranked k+1
    labels = torch.full((400,), UNKNOWN)
    labels[:5] = 7  # wrong top-1 with a known label: the label, whatever the rule
    gen = torch.Generator().manual_seed(0)
    top1, second = second_targets(logits, labels, "spread", gen)
    assert (top1 == 0).all() and (second[:5] == 7).all()
    drawn = second[5:]
    assert set(drawn.tolist()) == set(range(1, 10))  # ranks 2..10, never top-1, never beyond
    counts = torch.bincount(drawn, minlength=10)[1:].float()
    assert counts.min() > 0.5 * counts.mean()  # roughly uniform
    assert second_targets(logits, labels)[1][5:].eq(1).all()  # the default stays the runner-up
