"""Image loading on the odd/hostile corpus: accepted files load upright as RGB, the rest are
refused with one message that names the file."""
from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from PIL import Image

from l2r_core.errors import ImageLoadError
from l2r_core.images import list_images, load_image
from tests.corpus.images import CorpusItem, make_image_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[CorpusItem]:
    return make_image_corpus(tmp_path_factory.mktemp("corpus"))


def test_every_corpus_item_loads_or_is_refused_clearly(corpus: list[CorpusItem]) -> None:
    for item in corpus:
        if item.ok:
            img = load_image(item.path)
            assert img.mode == "RGB", item.name
            if item.size:
                assert img.size == item.size, item.name
        else:
            with pytest.raises(ImageLoadError) as e:
                load_image(item.path)
            msg = str(e.value)
            assert str(item.path) in msg and "\n" not in msg, item.name


def test_transparency_is_composited_over_white(corpus: list[CorpusItem]) -> None:
    item = next(i for i in corpus if i.name == "transparent.png")
    assert load_image(item.path).getpixel((0, 0)) == (255, 255, 255)


def test_bomb_message_mentions_the_limit(corpus: list[CorpusItem]) -> None:
    item = next(i for i in corpus if i.name == "bomb.png")  # 400 MP, over the 300 MP default
    with pytest.raises(ImageLoadError, match="decompression bomb") as e:
        load_image(item.path)
    msg = str(e.value)
    assert "20000x20000" in msg and "limit of 300 MP" in msg and "--max-pixels 400M" in msg


def test_large_image_is_downscaled_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (5000, 300), (1, 2, 3)).save(path)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        img = load_image(path, max_side=1000)
    assert img.size == (1000, 60) and any("downscaled" in str(x.message) for x in w)


def test_list_images_is_sorted_and_filters_by_suffix(tmp_path: Path) -> None:
    for name in ("b.png", "a.JPG", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.png"]
    with pytest.raises(ImageLoadError, match="not a folder"):
        list_images(tmp_path / "b.png")
