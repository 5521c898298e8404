"""Fetching dataset files: urllib with mirrors, MD5 checks, atomic writes. Nothing else downloads.

``fetch_url`` is the single function that touches the network; tests monkeypatch it to serve
local files, so the download path is exercised without a connection.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from lightning_gen.errors import DataError

log = logging.getLogger(__name__)

USER_AGENT = "lightning-gen dataset downloader (+https://github.com)"


def md5_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex MD5 of a file, read in 1 MiB chunks."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def fetch_url(url: str, dest: Path, timeout: float = 60.0) -> None:
    """Stream ``url`` to ``dest`` (the only network access in lightning_gen.data)."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(dest, "wb") as out:
        shutil.copyfileobj(response, out, length=1 << 20)


def check_md5(path: Path, md5: str | None) -> None:
    """Raise ``DataError`` if ``path``'s MD5 differs from ``md5`` (``None`` skips the check)."""
    if md5 is None:
        return
    actual = md5_file(path)
    if actual != md5:
        raise DataError(
            f"checksum mismatch for {path}: MD5 {actual}, expected {md5}. The file is corrupt, "
            "truncated or a different version; delete it and download again (data.source.download=true)"
        )


def download(urls: Sequence[str], dest: str | Path, md5: str | None = None) -> Path:
    """Download the first working mirror in ``urls`` to ``dest`` and verify ``md5``.

    Writes to ``dest.part`` and renames only after the checksum matches, so an interrupted or
    corrupt download never leaves a file that looks complete. Raises ``DataError`` naming every
    URL tried when none works.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    errors = []
    for url in urls:
        log.info("downloading %s -> %s", url, dest)
        try:
            fetch_url(url, part)
            check_md5(part, md5)
        except Exception as exc:  # noqa: BLE001 - try the next mirror on any failure
            errors.append(f"{url}: {exc}")
            part.unlink(missing_ok=True)
            continue
        part.replace(dest)
        return dest
    raise DataError(
        f"could not download {dest.name} into {dest.parent}; tried: "
        + "; ".join(errors)
        + f". Download it by hand from one of these URLs and place it at {dest}"
    )


def ensure_file(
    path: Path,
    urls: Sequence[str],
    md5: str | None,
    allow_download: bool,
    dataset: str,
    verify: bool = True,
) -> Path:
    """Return ``path`` if it exists (MD5-checked when ``verify``); download it if allowed, else explain."""
    if path.is_file():
        if verify:
            check_md5(path, md5)
        return path
    if allow_download:
        return download(urls, path, md5)
    raise DataError(
        f"{dataset}: missing {path}. Set data.source.download=true to fetch it from {urls[0]}, "
        f"or download it by hand and place it at {path} (data root: data.source.root / paths.data_dir)"
    )
