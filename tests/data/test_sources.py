"""Data sources on files written here in the real formats: image folders, MNIST/Fashion-MNIST IDX,
CIFAR-10 tarball, CelebA zip; checksums, downloads (served locally) and error messages."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from lightning_gen.data import download as dl
from lightning_gen.data.celeba import CelebA64
from lightning_gen.data.folder import FolderDataset, ImageFolder
from lightning_gen.data.public import CIFAR10, MNIST, FashionMNIST, read_idx
from lightning_gen.errors import ConfigError, DataError
from lightning_gen.images import to_uint8
from tests.helpers.data_files import (
    write_celeba_zip,
    write_cifar_tarball,
    write_image,
    write_mnist_like,
)

RED, BLUE = (255, 0, 0), (0, 0, 255)


def solid(h: int, w: int, colour: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(np.array(colour, np.uint8), (h, w, len(colour))).copy()


@pytest.fixture
def class_folder(tmp_path: Path) -> Path:
    """cats/ (3 red PNG/JPEG of mixed sizes, one RGBA) and dogs/ (2 blue, one greyscale-ish)."""
    root = tmp_path / "pets"
    write_image(root / "cats" / "a.png", solid(20, 30, RED))
    write_image(root / "cats" / "b.JPG", solid(64, 64, RED))
    write_image(root / "cats" / "sub" / "c.png", solid(10, 10, (*RED, 255)))  # RGBA, nested
    write_image(root / "dogs" / "d.png", solid(40, 16, BLUE))
    write_image(root / "dogs" / "e.jpeg", solid(8, 8, BLUE))
    (root / "dogs" / "notes.txt").write_text("not an image")
    write_image(root / ".hidden" / "x.png", solid(8, 8, RED))
    return root


def test_folder_class_subfolders_give_labels_and_mixed_sizes_are_resized(class_folder):
    ds = ImageFolder(class_folder, image_size=16, channels=3).load()
    assert ds.class_names == ["cats", "dogs"] and ds.num_classes == 2
    assert ds.labels.tolist() == [0, 0, 0, 1, 1] and ds.image_shape == (3, 16, 16)
    x = torch.stack([ds[i][0] for i in range(len(ds))])
    assert x.min() >= -1 and x.max() <= 1
    px = to_uint8(x).float().mean(dim=(2, 3))  # (5, 3) mean colour per image
    assert torch.allclose(
        px[:3], torch.tensor([255.0, 0, 0]).expand(3, 3), atol=3
    )  # JPEG tolerance
    assert torch.allclose(px[3:], torch.tensor([0, 0, 255.0]).expand(2, 3), atol=3)


def test_folder_greyscale_conversion_and_alpha_on_white(tmp_path):
    rgba = solid(12, 12, (0, 0, 0, 0))  # fully transparent -> white
    write_image(tmp_path / "t.png", rgba)
    write_image(tmp_path / "g.png", np.full((9, 9), 100, np.uint8))  # greyscale into RGB
    ds = ImageFolder(tmp_path, image_size=8, channels=1).load()
    assert ds.labels is None and ds.num_classes == 0 and ds.image_shape == (1, 8, 8)
    assert ds.images[0].unique().tolist() == [100] and ds.images[1].unique().tolist() == [255]
    rgb = ImageFolder(tmp_path, image_size=8, channels=3).load()
    assert rgb.image_shape == (3, 8, 8) and rgb.images[0].unique().tolist() == [100]


def test_folder_applies_exif_rotation(tmp_path):
    from PIL import Image

    img = np.zeros((8, 16), np.uint8)
    img[:, :8] = 255  # left half white, landscape as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": stored landscape, shown portrait
    Image.fromarray(img).save(tmp_path / "cam.png", exif=exif)
    x = ImageFolder(tmp_path, image_size=8, channels=1, resize="stretch").load().images[0, 0]
    assert x[:4].float().mean() > 250 and x[4:].float().mean() < 5  # the white half is now on top


@pytest.mark.parametrize(
    "mode, left, right", [("center_crop", 255, 255), ("stretch", 0, 0), ("pad", 0, 0)]
)
def test_folder_resize_modes(tmp_path, mode, left, right):
    img = np.zeros((10, 40), np.uint8)
    img[:, 10:30] = 255  # white centre square band on black sides; 10x40 landscape
    write_image(tmp_path / "wide.png", img)
    x = ImageFolder(tmp_path, image_size=10, channels=1, resize=mode).load().images[0, 0]
    assert x.shape == (10, 10)
    row = x[5] if mode != "pad" else x[:, 5]  # pad: letterbox rows at top/bottom are black
    assert int(row[0]) == left and abs(int(row[len(row) // 2]) - 255) <= 1 and int(row[-1]) == right


def corrupt_files(root: Path) -> list[Path]:
    write_image(root / "ok1.png", solid(8, 8, RED))
    write_image(root / "ok2.jpg", solid(8, 8, BLUE))
    truncated = root / "truncated.png"
    truncated.write_bytes((root / "ok1.png").read_bytes()[:40])
    fake = root / "fake.jpg"
    fake.write_bytes(b"this is not a jpeg at all")
    return [fake, truncated]


def test_folder_corrupt_image_fails_naming_the_file(tmp_path):
    corrupt_files(tmp_path)
    with pytest.raises(DataError, match=r"fake\.jpg.*on_corrupt=skip"):
        ImageFolder(tmp_path, image_size=8).load()


@pytest.mark.parametrize("cache", [True, False])
def test_folder_corrupt_images_skipped_and_counted(tmp_path, cache):
    bad = corrupt_files(tmp_path)
    src = ImageFolder(tmp_path, image_size=8, on_corrupt="skip", cache=cache)
    ds = src.load()
    assert len(ds) == 2 and sorted(src.skipped) == sorted(bad)
    assert isinstance(ds, FolderDataset) != cache
    assert ds[1][0].shape == (3, 8, 8)


def test_folder_lazy_without_verify_names_the_file_at_read_time(tmp_path):
    corrupt_files(tmp_path)
    ds = ImageFolder(tmp_path, image_size=8, cache=False, verify=False).load()
    assert len(ds) == 4
    with pytest.raises(DataError, match="fake.jpg"):
        ds[0]  # sorted: fake.jpg comes first


def test_folder_missing_empty_and_bad_options(tmp_path):
    with pytest.raises(DataError, match=f"{tmp_path / 'nope'}.*does not exist"):
        ImageFolder(tmp_path / "nope").load()
    (tmp_path / "empty" / "classA").mkdir(parents=True)
    with pytest.raises(DataError, match=r"no images with extensions.*empty"):
        ImageFolder(tmp_path / "empty").load()
    (tmp_path / "allbad").mkdir()
    (tmp_path / "allbad" / "x.png").write_bytes(b"junk")
    with pytest.raises(DataError, match="all 1 images .* unreadable"):
        ImageFolder(tmp_path / "allbad", on_corrupt="skip").load()
    for kwargs in ({"channels": 4}, {"resize": "zoom"}, {"on_corrupt": "ignore"}):
        with pytest.raises(ConfigError):
            ImageFolder(tmp_path, **kwargs)


# -- MNIST / Fashion-MNIST ------------------------------------------------------------------
def _patch_md5s(monkeypatch, cls: type[MNIST], folder: Path) -> None:
    files = {
        split: tuple((name, dl.md5_file(folder / name)) for name, _ in pair)
        for split, pair in cls.files.items()
    }
    monkeypatch.setattr(cls, "files", files)


@pytest.mark.parametrize("cls", [MNIST, FashionMNIST])
def test_idx_datasets_load_real_format(tmp_path, monkeypatch, cls):
    arrays = write_mnist_like(tmp_path / cls.folder)
    _patch_md5s(monkeypatch, cls, tmp_path / cls.folder)
    train = cls(tmp_path).load()
    assert train.image_shape == (1, 28, 28) and len(train) == 30 and train.num_classes == 10
    assert torch.equal(train.images[:, 0], torch.from_numpy(arrays["train_x"]))
    assert train.labels.tolist() == arrays["train_y"].tolist()
    both = cls(tmp_path, split="all", image_size=32).load()
    assert len(both) == 40 and both.image_shape == (1, 32, 32)
    assert torch.equal(cls(tmp_path, split="test").load().labels, torch.arange(10))


def test_idx_checksum_mismatch_and_missing_files(tmp_path):
    write_mnist_like(tmp_path / "mnist")  # random bytes: official MD5s cannot match
    with pytest.raises(
        DataError, match=r"checksum mismatch for .*train-images-idx3-ubyte\.gz.*download"
    ):
        MNIST(tmp_path).load()
    assert len(MNIST(tmp_path, verify=False).load()) == 30  # verify=false trusts the files
    with pytest.raises(DataError) as err:
        FashionMNIST(tmp_path / "elsewhere").load()
    msg = str(err.value)
    assert str(tmp_path / "elsewhere" / "fashion_mnist" / "train-images-idx3-ubyte.gz") in msg
    assert "download=true" in msg and "fashion-mnist.s3" in msg


def test_read_idx_rejects_truncated_and_foreign_files(tmp_path):
    x = write_mnist_like(tmp_path)["train_x"]
    raw = tmp_path / "raw-idx3-ubyte"
    raw.write_bytes(bytes([0, 0, 8, 3]) + np.array([5, 28, 28], ">i4").tobytes() + x[:2].tobytes())
    with pytest.raises(DataError, match="truncated"):
        read_idx(raw)
    (tmp_path / "x.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match="cannot read IDX file"):
        read_idx(tmp_path / "x.gz")


def test_download_served_locally_with_mirror_fallback(tmp_path, monkeypatch):
    served = tmp_path / "server"
    write_mnist_like(served)
    _patch_md5s(monkeypatch, MNIST, served)
    calls: list[str] = []

    def fake_fetch(url: str, dest: Path, timeout: float = 60.0) -> None:
        calls.append(url)
        if "ossci" in url:
            raise OSError("mirror down")
        shutil.copy(served / url.rsplit("/", 1)[1], dest)

    monkeypatch.setattr(dl, "fetch_url", fake_fetch)
    src = MNIST(tmp_path / "data", download=True)
    src.prepare()
    assert sorted(p.name for p in (tmp_path / "data" / "mnist").iterdir()) == [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
    ]
    assert len(calls) == 4 and "ossci" in calls[0] and "googleapis" in calls[1]
    assert len(src.load()) == 30 and len(calls) == 4  # second time: no download


def test_download_with_wrong_checksum_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(
        dl, "fetch_url", lambda url, dest, timeout=60.0: Path(dest).write_bytes(b"html error page")
    )
    with pytest.raises(DataError, match=r"(?s)could not download.*checksum mismatch") as err:
        CIFAR10(tmp_path, download=True).load()
    assert "cs.toronto.edu" in str(err.value)
    assert not any((tmp_path / "cifar10").iterdir())  # no partial file left behind


# -- CIFAR-10 ------------------------------------------------------------------------------
def test_cifar10_tarball_and_extracted_folder(tmp_path, monkeypatch):
    tarball = tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    arrays = write_cifar_tarball(tarball)
    monkeypatch.setattr(CIFAR10, "md5", dl.md5_file(tarball))
    train = CIFAR10(tmp_path).load()
    assert (
        len(train) == 20 and train.image_shape == (3, 32, 32) and train.class_names[0] == "airplane"
    )
    first = torch.from_numpy(arrays["data_batch_1"][0].reshape(3, 32, 32))  # R, G, B planes
    assert torch.equal(train.images[0], first)
    assert train.labels[:4].tolist() == arrays["data_batch_1_labels"].tolist()
    test = CIFAR10(tmp_path, split="test", image_size=16).load()
    assert len(test) == 4 and test.image_shape == (3, 16, 16)
    monkeypatch.setattr(CIFAR10, "md5", "0" * 32)
    with pytest.raises(DataError, match="checksum mismatch"):
        CIFAR10(tmp_path).load()
    shutil.unpack_archive(
        tarball, tmp_path / "cifar10"
    )  # extracted folder wins, no checksum needed
    assert torch.equal(CIFAR10(tmp_path, split="all").load().images[:20], train.images)


def test_cifar_unpickler_refuses_code(tmp_path):
    import pickle

    from lightning_gen.data.public import _unpickle

    with pytest.raises(DataError, match="refusing to unpickle"):
        _unpickle(pickle.dumps({"data": print}), "evil_batch")


# -- CelebA-64 -----------------------------------------------------------------------------
def test_celeba64_zip_centre_crop_and_cache(tmp_path, monkeypatch):
    zpath = write_celeba_zip(tmp_path / "celeba" / "img_align_celeba.zip", n=5)
    monkeypatch.setattr(CelebA64, "md5", dl.md5_file(zpath))
    src = CelebA64(tmp_path, image_size=16, threads=2)
    src.prepare()
    ds = src.load()
    assert (
        len(ds) == 5 and ds.image_shape == (3, 16, 16) and ds.labels is None and ds.num_classes == 0
    )
    mean = ds.images.float().mean(dim=(0, 2, 3))  # the crop keeps only the green square
    assert mean[1] > 190 and mean[0] < 15 and mean[2] < 15
    assert src.cache_path.is_file()
    zpath.unlink()  # cached: the archive is no longer needed
    assert torch.equal(CelebA64(tmp_path, image_size=16).load().images, ds.images)
    with pytest.raises(DataError, match=r"img_align_celeba\.zip.*download=true"):
        CelebA64(tmp_path, image_size=32).load()


def test_celeba64_folder_with_corrupt_file(tmp_path):
    folder = tmp_path / "celeba" / "img_align_celeba"
    write_image(folder / "000001.jpg", solid(218, 178, BLUE))
    (folder / "000002.jpg").write_bytes(b"\xff\xd8 broken")
    with pytest.raises(DataError, match="000002.jpg"):
        CelebA64(tmp_path, cache=False).load()
    src = CelebA64(tmp_path, cache=False, on_corrupt="skip")
    assert len(src.load()) == 1 and len(src.skipped) == 1
