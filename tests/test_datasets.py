"""Data-set plugins, each read from files the tests write in its real on-disk format:
CIFAR-10 python pickles, (Fashion-)MNIST IDX files, the Flowers-102 jpg folder and
.mat files, and image folders; plus the real Debian Fashion-MNIST and the shared
CIFAR-10 JPEG copy when this machine has them."""
from __future__ import annotations

import gzip
import subprocess
import sys
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganbench import data as gdata
from ganbench.config import from_dict
from ganbench.errors import GanbenchError, ResourceMissing
from ganbench.plugins import load_plugins

CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
CIFAR_JPEG_TAR = Path("/work/shared/data/cifar10-train-jpeg.tar")


@pytest.fixture(scope="module")
def plugins():
    return load_plugins()


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Caches and the default data root in tmp_path; no network."""
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GANBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("GANBENCH_OFFLINE", "1")


def options(plugins, name: str, **values):
    """Options validated exactly as a suite's [datasets.<name>] table is."""
    return from_dict(plugins.datasets.get(name).options, values, f"datasets.{name}")


def load(plugins, name: str, **values):
    spec = plugins.datasets.get(name)
    return spec.load(options(plugins, name, **values), str(gdata.cache_dir()))


def decoded_entries() -> list[Path]:
    folder = gdata.cache_dir() / "decoded"
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.exists() else []


# -- writers of the real formats ------------------------------------------------------------

def cifar_pixels(label: int, index: int) -> np.ndarray:
    """A recognisable 3x32x32 image: the class in channel 0, the index in channel 1."""
    img = np.zeros((3, 32, 32), np.uint8)
    img[0], img[1], img[2] = label * 20, index % 256, 7
    return img


def write_cifar(root: Path, per_batch: int = 20) -> Path:
    """root/cifar-10-batches-py as torchvision expects: 5 train batches, test_batch, batches.meta."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for b, name in enumerate(names):
        labels = [(b + i) % 10 for i in range(per_batch)]
        data = np.stack([cifar_pixels(y, b * per_batch + i).reshape(-1) for i, y in enumerate(labels)])
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": name, "labels": labels, "data": data,
                         "filenames": [f"{i}.png" for i in range(per_batch)]}, f, protocol=2)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": CIFAR_NAMES, "num_cases_per_batch": per_batch, "num_vis": 3072}, f,
                    protocol=2)
    return folder


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> Path:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)
    return path


def write_mnist_like(folder: Path, n: int = 30, gz: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", n), ("t10k", n // 2)):
        labels = np.arange(count) % 10
        images = np.stack([np.full((28, 28), 10 * y + 1, np.uint8) for y in labels])
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images, gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, gz)


def write_flowers(root: Path, n: int = 12) -> Path:
    from scipy.io import savemat

    folder = root / "flowers-102"
    (folder / "jpg").mkdir(parents=True)
    labels = np.array([[1 + i % 3 for i in range(n)]])  # 1-based, classes 0..2
    for i in range(1, n + 1):
        w, h = (40, 30) if i % 2 else (30, 50)  # photos of varying size and orientation
        Image.new("RGB", (w, h), (20 * i, 100, 200)).save(folder / "jpg" / f"image_{i:05d}.jpg", quality=95)
    savemat(folder / "imagelabels.mat", {"labels": labels})
    ids = np.arange(1, n + 1)
    savemat(folder / "setid.mat", {"trnid": ids[None, 0::3], "valid": ids[None, 1::3], "tstid": ids[None, 2::3]})
    return folder


def write_folder(root: Path, classes: dict[str, int], size: tuple[int, int] = (12, 12), mode: str = "RGB") -> Path:
    exts = [".png", ".jpg", ".jpeg", ".webp", ".PNG"]
    for k, (name, count) in enumerate(classes.items()):
        d = root / name
        d.mkdir(parents=True)
        for i in range(count):
            color = (40 * k + 10, 5 * i, 90) if mode == "RGB" else 40 * k + 10
            Image.new(mode, size, color).save(d / f"{i:03d}{exts[i % len(exts)]}", lossless=True)
        (d / ".DS_Store").write_bytes(b"\0junk")  # hidden: ignored
        Image.new(mode, (3, 3)).save(d / ".hidden.png")  # hidden image: ignored
        (d / "notes.txt").write_text("not an image")  # other extensions: ignored
    return root


# -- CIFAR-10 --------------------------------------------------------------------------------

def test_cifar10_reads_python_batches(plugins, tmp_path):
    write_cifar(tmp_path / "data" / "cifar10")
    d = load(plugins, "cifar10")
    assert d.images.shape == (100, 3, 32, 32) and d.images.dtype == torch.uint8
    assert d.class_names == tuple(CIFAR_NAMES) and d.labels.dtype == torch.int64
    for i in (0, 37, 99):
        assert np.array_equal(d.images[i].numpy(), cifar_pixels(int(d.labels[i]), i))
    test = load(plugins, "cifar10", split="test")
    assert len(test.images) == 20 and test.fingerprint != d.fingerprint
    assert plugins.datasets.get("cifar10").shape(options(plugins, "cifar10", resolution=64, channels=1)) == (1, 64, 64)


def test_cifar10_class_subsets_by_name_or_index_never_share_a_fingerprint(plugins, tmp_path):
    write_cifar(tmp_path / "data" / "cifar10")
    auto = load(plugins, "cifar10", classes=["automobile"])
    assert set(auto.labels.tolist()) == {1} and len(auto.images) == 10
    assert (auto.images[:, 0] == 20).all()  # only automobile pixels
    assert load(plugins, "cifar10", classes=[1]).fingerprint == auto.fingerprint  # same data, same key
    truck = load(plugins, "cifar10", classes=["truck"])
    both = load(plugins, "cifar10", classes=["truck", 1])
    prints = {auto.fingerprint, truck.fingerprint, both.fingerprint, load(plugins, "cifar10").fingerprint,
              load(plugins, "cifar10", classes=["automobile"], limit=5).fingerprint}
    assert len(prints) == 5
    assert len(decoded_entries()) == 1  # every subset is cut from one decoded copy


def test_class_subsets_get_separate_data_cache_entries(plugins, tmp_path):
    from ganbench.data import DataCache

    write_cifar(tmp_path / "data" / "cifar10")
    cache = DataCache(plugins, gdata.cache_dir(), size=4)
    a = cache.get("cifar10", options(plugins, "cifar10", classes=["automobile"]))
    b = cache.get("cifar10", options(plugins, "cifar10", classes=["bird"]))
    assert a is not b and a.fingerprint != b.fingerprint
    assert cache.get("cifar10", options(plugins, "cifar10", classes=["automobile"])) is a
    full = cache.full("cifar10", options(plugins, "cifar10", classes=["bird"]))
    assert len(full.images) == 100 and full.fingerprint not in (a.fingerprint, b.fingerprint)


def test_decoded_cache_is_reused_and_invalidated_by_changed_files(plugins, tmp_path, monkeypatch):
    from ganbench_plugins.torchvision_sets import cifar

    folder = write_cifar(tmp_path / "data" / "cifar10")
    first = load(plugins, "cifar10")
    assert len(decoded_entries()) == 1

    def refuse(path):
        raise AssertionError("decoded again although cached")

    with monkeypatch.context() as m:
        m.setattr(cifar, "_unpickle", refuse)
        again = load(plugins, "cifar10")
    assert again.fingerprint == first.fingerprint and torch.equal(again.images, first.images)
    # replacing a batch (new inode, size or mtime) re-decodes into a new entry
    (folder / "data_batch_3").unlink()
    write_cifar(tmp_path / "other")
    (tmp_path / "other" / "cifar-10-batches-py" / "data_batch_1").rename(folder / "data_batch_3")
    changed = load(plugins, "cifar10")
    assert len(decoded_entries()) == 2 and changed.fingerprint != first.fingerprint


def test_damaged_cache_entry_is_decoded_again(plugins, tmp_path):
    write_cifar(tmp_path / "data" / "cifar10")
    first = load(plugins, "cifar10")
    (entry,) = decoded_entries()
    (entry / "images.npy").write_bytes((entry / "images.npy").read_bytes()[:500])
    assert load(plugins, "cifar10").fingerprint == first.fingerprint


def test_cifar10_truncated_pickle_names_the_file(plugins, tmp_path):
    folder = write_cifar(tmp_path / "data" / "cifar10")
    batch = folder / "data_batch_2"
    batch.write_bytes(batch.read_bytes()[:1000])
    with pytest.raises(GanbenchError) as exc:
        load(plugins, "cifar10")
    text = str(exc.value)
    assert str(batch) in text and "truncated" in text and "download" in text


def test_cifar10_refuses_pickles_that_run_code(plugins, tmp_path):
    folder = write_cifar(tmp_path / "data" / "cifar10")

    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    with open(folder / "data_batch_1", "wb") as f:
        pickle.dump({"data": Evil(), "labels": []}, f, protocol=2)
    with pytest.raises(GanbenchError, match="refusing to load .*print"):
        load(plugins, "cifar10")


def test_cifar10_missing_is_a_clear_resource_error(plugins, tmp_path):
    spec = plugins.datasets.get("cifar10")
    root = tmp_path / "nowhere"
    msg = spec.check(options(plugins, "cifar10", root=str(root), download=False))
    assert msg and str(root / "cifar-10-batches-py") in msg and "data_batch_1" in msg
    assert "download = false" in msg and "cifar-10-python.tar.gz" in msg
    offline = spec.check(options(plugins, "cifar10", root=str(root)))  # download = true, GANBENCH_OFFLINE
    assert offline and "cannot be reached" in offline
    with pytest.raises(ResourceMissing) as exc:
        load(plugins, "cifar10", root=str(root), download=False)
    assert exc.value.exit_code == 3


def test_cifar10_downloads_through_torchvision_when_online(plugins, tmp_path, monkeypatch):
    import torchvision.datasets
    from ganbench_plugins.torchvision_sets import cifar

    calls = []

    class FakeCIFAR10:  # stands in for the network: writes what the real download extracts
        def __init__(self, root, train, download):
            calls.append((root, train, download))
            write_cifar(Path(root))

    monkeypatch.setattr(cifar, "online", lambda host, port=443: True)
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    assert plugins.datasets.get("cifar10").check(options(plugins, "cifar10")) is None
    d = load(plugins, "cifar10", classes=["cat"])
    assert calls == [(str(tmp_path / "data" / "cifar10"), True, True)] and set(d.labels.tolist()) == {3}

    def broken(root, train, download):
        raise OSError("connection reset")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", broken)
    with pytest.raises(ResourceMissing, match="connection reset"):
        load(plugins, "cifar10", root=str(tmp_path / "elsewhere"))


def test_wrong_class_name_suggests_and_lists(plugins, tmp_path):
    write_cifar(tmp_path / "data" / "cifar10")
    with pytest.raises(GanbenchError) as exc:
        load(plugins, "cifar10", classes=["automobil"])
    text = str(exc.value)
    assert "datasets.cifar10.classes[0]" in text and "did you mean 'automobile'" in text and "truck" in text
    with pytest.raises(GanbenchError, match=r"class index 10 out of range 0..9"):
        load(plugins, "cifar10", classes=[10])
    assert set(load(plugins, "cifar10", classes=["Automobile"]).labels.tolist()) == {1}  # case-insensitive


# -- MNIST and Fashion-MNIST -----------------------------------------------------------------

@pytest.mark.parametrize("gz", [True, False])
def test_mnist_reads_idx_files_in_torchvision_layout(plugins, tmp_path, gz):
    write_mnist_like(tmp_path / "data" / "mnist" / "MNIST" / "raw", gz=gz)
    d = load(plugins, "mnist")
    assert d.images.shape == (30, 1, 28, 28) and d.class_names == tuple(str(i) for i in range(10))
    assert (d.images[:, 0, 0, 0].long() == 10 * d.labels + 1).all()
    t = load(plugins, "mnist", split="test", classes=["3"], resolution=32, channels=3)
    assert t.images.shape == (2, 3, 32, 32) and t.labels.tolist() == [3, 3]
    assert (t.images == 31).all()  # a flat image stays flat through resize and channel expansion


def test_fashion_mnist_from_a_root_folder_with_limit(plugins, tmp_path):
    write_mnist_like(tmp_path / "fm", n=40)
    d = load(plugins, "fashion-mnist", root=str(tmp_path / "fm"), classes=["sneaker", "Bag"], limit=5)
    assert d.labels.tolist() == [7, 8, 7, 8, 7] and d.class_names[7] == "sneaker"
    spec = plugins.datasets.get("fashion-mnist")
    assert spec.num_classes == 10 and spec.shape(options(plugins, "fashion-mnist")) == (1, 28, 28)


def test_idx_truncated_or_wrong_files_name_the_file(plugins, tmp_path):
    raw = tmp_path / "data" / "mnist" / "MNIST" / "raw"
    write_mnist_like(raw)
    images = raw / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:-40])
    with pytest.raises(GanbenchError) as exc:
        load(plugins, "mnist")
    assert str(images) in str(exc.value) and "download" in str(exc.value)
    write_idx(raw / "t10k-labels-idx1-ubyte", np.arange(3) % 10)  # 15 images, 3 labels
    with pytest.raises(GanbenchError, match="15 images but .* has 3 labels"):
        load(plugins, "mnist", split="test")
    with pytest.raises(GanbenchError, match="datasets.mnist: unknown split 'tran' — did you mean 'train'"):
        options(plugins, "mnist", split="tran")


@pytest.mark.skipif(not (DEBIAN_FASHION / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason="Debian's dataset-fashion-mnist is not installed (/usr/share/datasets/fashion-mnist)")
def test_fashion_mnist_from_debian_package(plugins):
    spec = plugins.datasets.get("fashion-mnist")
    assert spec.check(options(plugins, "fashion-mnist", download=False)) is None
    d = load(plugins, "fashion-mnist", split="test", classes=["sneaker"], download=False)
    assert d.images.shape == (1000, 1, 28, 28) and set(d.labels.tolist()) == {7}
    assert "/usr/share/datasets/fashion-mnist" in d.description
    assert 20 < d.images.float().mean() < 120  # real pixels, not zeros


# -- Flowers-102 -----------------------------------------------------------------------------

def test_flowers102_reads_jpg_folder_and_mat_files(plugins, tmp_path):
    write_flowers(tmp_path / "data" / "flowers102")
    d = load(plugins, "flowers102", resolution=16)
    assert d.images.shape == (12, 3, 16, 16) and len(d.class_names) == 102
    assert d.labels.tolist() == [i % 3 for i in range(12)]
    assert d.class_names[0] == "pink primrose"
    assert abs(int(d.images[0, 0].float().mean()) - 20) <= 2  # image_00001 colour, centre-cropped
    train = load(plugins, "flowers102", split="train", resolution=16)
    val = load(plugins, "flowers102", split="val", resolution=8, channels=1)
    assert len(train.images) == 4 and val.images.shape == (4, 1, 8, 8)
    assert plugins.datasets.get("flowers102").shape(options(plugins, "flowers102")) == (3, 64, 64)


def test_flowers102_needs_a_resolution_and_intact_files(plugins, tmp_path):
    folder = write_flowers(tmp_path / "data" / "flowers102")
    with pytest.raises(GanbenchError, match="vary in size") as exc:
        options(plugins, "flowers102", resolution=0)
    assert "datasets.flowers102" in str(exc.value) and "resolution = 64" in str(exc.value)
    with pytest.raises(GanbenchError, match="datasets.flowers102.resolution: must be ≥ 0 and ≤ 4096, found -8"):
        options(plugins, "flowers102", resolution=-8)
    with pytest.raises(GanbenchError, match="datasets.flowers102: unknown split 'vall' — did you mean 'val'"):
        options(plugins, "flowers102", split="vall")
    (folder / "jpg" / "image_00005.jpg").unlink()
    with pytest.raises(ResourceMissing, match="image_00005.jpg"):
        load(plugins, "flowers102", resolution=16)
    (folder / "setid.mat").write_bytes(b"MATLAB 5.0 broken")
    with pytest.raises(GanbenchError, match="setid.mat"):
        load(plugins, "flowers102", split="test", resolution=16)
    msg = plugins.datasets.get("flowers102").check(options(plugins, "flowers102", root=str(tmp_path / "x")))
    assert "imagelabels.mat" in msg and "setid.mat" in msg and "102flowers.tgz" in msg


# -- image folders ---------------------------------------------------------------------------

def test_imagefolder_classes_formats_and_hidden_files(plugins, tmp_path):
    root = write_folder(tmp_path / "imgs", {"dog": 5, "cat": 3})
    d = load(plugins, "imagefolder", root=str(root))
    assert d.class_names == ("cat", "dog") and d.images.shape == (8, 3, 12, 12)
    assert d.labels.tolist() == [0] * 3 + [1] * 5
    assert d.images[0, 0, 0, 0] == 50 and d.images[3, 0, 0, 0] == 10  # cat is class 1 written, index 0 here
    assert plugins.datasets.get("imagefolder").check(options(plugins, "imagefolder", root=str(root))) is None
    assert plugins.datasets.get("imagefolder").shape(options(plugins, "imagefolder", root=str(root))) == (3, 12, 12)


def test_imagefolder_grayscale_native_channels_and_split_folder(plugins, tmp_path):
    root = tmp_path / "gray"
    write_folder(root / "train", {"a": 2, "b": 2}, mode="L")
    d = load(plugins, "imagefolder", root=str(root))
    assert d.images.shape == (4, 1, 12, 12)
    assert load(plugins, "imagefolder", root=str(root), channels=3).images.shape == (4, 3, 12, 12)
    msg = plugins.datasets.get("imagefolder").check(options(plugins, "imagefolder", root=str(root), split="test"))
    assert msg and str(root / "test") in msg


def test_imagefolder_scales_16_bit_images_to_8_bits(plugins, tmp_path):
    root = tmp_path / "deep"
    (root / "x").mkdir(parents=True)
    Image.fromarray(np.full((6, 6), 40000, np.uint16)).save(root / "x" / "a.png")
    assert (load(plugins, "imagefolder", root=str(root)).images == 40000 >> 8).all()


@pytest.mark.parametrize("fit", ["center-crop", "stretch", "pad"])
def test_imagefolder_fits_mixed_sizes_to_a_resolution(plugins, tmp_path, fit):
    root = tmp_path / "mixed"
    (root / "x").mkdir(parents=True)
    Image.new("RGB", (40, 20), (200, 0, 0)).save(root / "x" / "wide.png")
    Image.new("RGB", (10, 30), (0, 200, 0)).save(root / "x" / "tall.png")
    d = load(plugins, "imagefolder", root=str(root), resolution=8, fit=fit)
    assert d.images.shape == (2, 3, 8, 8)
    corner = d.images[1, :, 0, 0].tolist()  # wide.png sorts second
    assert corner == ([0, 0, 0] if fit == "pad" else [200, 0, 0])


def test_imagefolder_mismatched_sizes_need_a_resolution(plugins, tmp_path):
    root = tmp_path / "mixed"
    (root / "x").mkdir(parents=True)
    Image.new("RGB", (16, 16)).save(root / "x" / "a.png")
    Image.new("RGB", (20, 16)).save(root / "x" / "b.png")
    with pytest.raises(GanbenchError) as exc:
        load(plugins, "imagefolder", root=str(root))
    text = str(exc.value)
    assert str(root / "x" / "b.png") in text and str(root / "x" / "a.png") in text and "resolution" in text


def test_imagefolder_bad_folders_and_images(plugins, tmp_path):
    root = write_folder(tmp_path / "imgs", {"cat": 2, "dog": 2})
    bad = root / "dog" / "001.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    with pytest.raises(GanbenchError) as exc:
        load(plugins, "imagefolder", root=str(root))
    assert str(bad) in str(exc.value) and "replace or delete" in str(exc.value)
    bad.unlink()
    (root / "empty").mkdir()
    with pytest.raises(GanbenchError, match="class folder .*empty has no images"):
        load(plugins, "imagefolder", root=str(root))
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.new("RGB", (4, 4)).save(flat / "a.png")
    with pytest.raises(GanbenchError, match="no class sub-folders .*holds 1 images"):
        load(plugins, "imagefolder", root=str(flat))
    missing = tmp_path / "missing"
    msg = plugins.datasets.get("imagefolder").check(options(plugins, "imagefolder", root=str(missing)))
    assert str(missing) in msg and "<class>" in msg
    with pytest.raises(ResourceMissing):
        load(plugins, "imagefolder", root=str(missing))


@pytest.mark.skipif(not CIFAR_JPEG_TAR.is_file(), reason=f"the shared CIFAR-10 JPEG copy {CIFAR_JPEG_TAR} is absent")
def test_imagefolder_on_real_cifar10_jpegs(plugins, tmp_path):
    root = tmp_path / "cifar-jpeg"
    wanted = {"automobile", "horse"}
    with tarfile.open(CIFAR_JPEG_TAR) as tar:
        members = [m for m in tar if m.isfile() and m.name.split("/")[1] in wanted
                   and int(Path(m.name).stem) < 150]
        tar.extractall(root, members=members, filter="data")
    d = load(plugins, "imagefolder", root=str(root))  # split "train": root/train/<class>
    assert d.class_names == ("automobile", "horse") and d.images.shape == (300, 3, 32, 32)
    assert 30 < d.images.float().mean() < 220 and d.images.float().std() > 20
    one = load(plugins, "imagefolder", root=str(root), classes=["horse"], resolution=16)
    assert one.images.shape == (150, 3, 16, 16) and set(one.labels.tolist()) == {1}


# -- finish() and the shared helpers -----------------------------------------------------------

def test_finish_chunked_conversions_match_one_shot(monkeypatch):
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (37, 3, 12, 12), dtype=torch.uint8, generator=g)
    labels = torch.arange(37) % 4
    monkeypatch.setattr(gdata, "CHUNK_BYTES", 5000)  # many chunks
    opts = gdata.DatasetOptions(resolution=20, channels=1)
    out = gdata.finish(images, labels, ["a", "b", "c", "d"], opts, "datasets.test")
    w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    gray = (images.float() * w).sum(1, keepdim=True).round().clamp(0, 255)
    ref = F.interpolate(gray, size=(20, 20), mode="bilinear", antialias=True, align_corners=False)
    assert torch.equal(out.images, ref.round().clamp(0, 255).to(torch.uint8))
    rgb = gdata.finish(images[:, :1], labels, "abcd", gdata.DatasetOptions(channels=3), "datasets.test")
    assert rgb.images.shape == (37, 3, 12, 12) and rgb.images.is_contiguous()
    with pytest.raises(GanbenchError, match="not square"):
        gdata.finish(images[:, :, :, :10], labels, "abcd", gdata.DatasetOptions(resolution=8), "datasets.test")
    with pytest.raises(GanbenchError, match="no images left"):
        gdata.finish(images, labels, "abcde", gdata.DatasetOptions(classes=["e"]), "datasets.test")


def test_data_root_and_cache_dir_follow_the_environment(tmp_path, monkeypatch):
    assert gdata.data_root(gdata.DatasetOptions(), "cifar10") == tmp_path / "data" / "cifar10"
    assert gdata.data_root(gdata.DatasetOptions(root="~/x"), "cifar10") == Path("~/x").expanduser()
    monkeypatch.delenv("GANBENCH_DATA")
    assert gdata.data_root(gdata.DatasetOptions(), "mnist") == tmp_path / "cache" / "data" / "mnist"
    assert gdata.online("example.invalid") is False  # GANBENCH_OFFLINE


# -- from a suite ------------------------------------------------------------------------------

def write_all_sets(tmp_path: Path) -> dict[str, Path]:
    data = tmp_path / "data"
    write_cifar(data / "cifar10")
    write_mnist_like(data / "mnist" / "MNIST" / "raw")
    write_mnist_like(data / "fashion-mnist" / "FashionMNIST" / "raw")
    write_flowers(data / "flowers102")
    return {"imagefolder": write_folder(tmp_path / "imgs", {"cat": 3, "dog": 3}, size=(16, 16))}


SUITE = """
[suite]
name = "datasets"
[matrix]
model = ["dcgan"]
dataset = ["cifar10", "mnist", "fashion-mnist", "flowers102", "imagefolder", "digits"]
[train]
steps = 2
[metrics]
names = []
[models.dcgan]
width = 8
[datasets.cifar10]
classes = ["automobile"]
[datasets.mnist]
resolution = 32
[datasets.fashion-mnist]
classes = ["sneaker"]
resolution = 16
[datasets.flowers102]
resolution = 32
[datasets.imagefolder]
root = "{imagefolder}"
resolution = 16
"""


def test_every_data_set_loads_from_a_suite(plugins, tmp_path):
    from ganbench.runner import check_suite
    from ganbench.data import DataCache
    from ganbench.suite import load_suite

    roots = write_all_sets(tmp_path)
    path = tmp_path / "suite.toml"
    path.write_text(SUITE.format(imagefolder=roots["imagefolder"]))
    suite = load_suite(plugins, path)
    assert check_suite(plugins, suite) == []
    cache = DataCache(plugins, gdata.cache_dir(), size=8)
    shapes = {}
    for run in suite.runs:
        d = cache.get(run.dataset, run.dataset_options)
        spec = plugins.datasets.get(run.dataset)
        assert spec.shape(run.dataset_options) == d.shape, run.dataset
        shapes[run.dataset] = d.shape
    assert shapes == {"cifar10": (3, 32, 32), "mnist": (1, 32, 32), "fashion-mnist": (1, 16, 16),
                      "flowers102": (3, 32, 32), "imagefolder": (3, 16, 16), "digits": (1, 16, 16)}


def test_validate_exits_3_for_a_missing_data_set(plugins, tmp_path, capsys):
    from ganbench.cli import main

    roots = write_all_sets(tmp_path)
    path = tmp_path / "suite.toml"
    path.write_text(SUITE.format(imagefolder=roots["imagefolder"]))
    only = ["--filter", "dataset=cifar10", "--filter", "dataset=imagefolder"]  # fewer model builds: faster
    assert main(["validate", str(path), *only]) == 0
    missing = tmp_path / "no-cifar"
    assert main(["validate", str(path), *only, "--set", f"datasets.cifar10.root='{missing}'",
                 "--set", "datasets.cifar10.download=false"]) == 3
    err = capsys.readouterr().err.replace("\n", "")  # rich wraps long lines
    assert "MISSING" in err and "datasets.cifar10" in err and "cifar-10-batches-py" in err
    # a malformed folder is a suite-level error (exit 2), not a missing resource
    (roots["imagefolder"] / "empty").mkdir()
    assert main(["validate", str(path), *only]) == 2


def test_runs_score_against_metrics_reference_split(plugins, tmp_path):
    """[metrics] reference_split = "test": trained on train/, scored against test/'s images; a
    split folder that does not exist is a resource problem that validate reports."""
    from ganbench.runner import check_suite
    from ganbench.suite import load_suite
    from ganbench.testing import run_suite_text

    root = tmp_path / "imgs"
    write_folder(root / "train", {"a": 8, "b": 8}, size=(16, 16))
    write_folder(root / "test", {"a": 3, "b": 2}, size=(16, 16))
    text = f"""
        [suite]
        name = "refsplit"
        [matrix]
        model = ["dcgan"]
        dataset = ["imagefolder"]
        [train]
        steps = 2
        batch_size = 8
        latent_dim = 8
        [models.dcgan]
        width = 4
        [datasets.imagefolder]
        root = "{root}"
        [metrics]
        names = ["classifier"]
        num_samples = 20
        reference_split = "test"
        [metrics.classifier]
        width = 8
        epochs = 1
        """
    out = run_suite_text(text, tmp_path / "work", plugins)
    (run,) = out.runs.values()
    assert run.state == "done", run.error
    final = [e for e in run.evals if e["final"]][-1]
    assert final["protocol"]["classifier"]["num_real"] == 5  # test/ holds 5 images, train/ 16
    assert final["protocol"]["reference_split"] == "test"
    # `ganbench eval RUN --reference-split train`: the same generator against the 16 training images
    proc = subprocess.run([sys.executable, "-m", "ganbench.cli", "eval", str(run.dir), "--reference-split", "train"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    again = [e for e in run.evals if e.get("rescored")][-1]
    assert again["protocol"]["reference_split"] == "train" and again["protocol"]["classifier"]["num_real"] == 16
    bad = subprocess.run([sys.executable, "-m", "ganbench.cli", "eval", str(run.dir), "--reference-split", "val"],
                         capture_output=True, text=True)
    assert bad.returncode == 3 and "val" in bad.stderr
    import shutil
    shutil.rmtree(root / "test")
    suite = load_suite(plugins, tmp_path / "work" / "suite.toml")
    problems = check_suite(plugins, suite)
    assert [p.what for p in problems] == ["metrics.reference_split"] and problems[0].missing_resource
