"""Hostile text files for the text data source, property-tested: any bytes load as exactly their
UTF-8 text or are refused with a ``DataError`` naming the file; nothing else escapes."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightning_gen.errors import DataError
from lightning_gen.text.datamodule import TextDataModule
from lightning_gen.text.sources import TextFolder

contents = st.one_of(
    st.binary(max_size=2048),  # random bytes: binary, invalid UTF-8, sometimes valid
    st.text(max_size=512).map(lambda s: s.encode("utf-8")),  # any valid text, NULs included
    st.text(max_size=64).map(lambda s: s.encode("utf-16")),  # another encoding (BOM, NULs)
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=contents, name=st.sampled_from(["a.txt", "notes.TXT.txt", "dir/b.txt"]))
def test_any_bytes_load_as_their_text_or_are_refused_naming_the_file(data, name):
    with tempfile.TemporaryDirectory() as root:
        path = Path(root) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        try:
            docs = TextFolder(root).load()
        except DataError as e:
            assert str(path) in str(e) and "on_bad_file=skip" in str(e)
            assert b"\x00" in data or not _is_utf8(data)
            assert TextFolder(root, on_bad_file="skip").load() == []  # the documented policy
            return
        assert docs == [data.decode("utf-8")] and b"\x00" not in data
        try:  # a corpus that loads either trains or is refused as too small / empty
            TextDataModule(TextFolder(root), block_size=8).setup()
        except DataError as e:
            assert "empty" in str(e) or "block" in str(e) or "short" in str(e), str(e)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.parametrize("data", [b"\xff\xfe\x00", b"caf\xe9 au lait", b"ok\x00binary"])
def test_known_bad_files_name_the_file_and_the_fix(tmp_path, data):
    (tmp_path / "x.txt").write_bytes(data)
    with pytest.raises(DataError, match=r"x\.txt.*(binary|not valid utf-8)"):
        TextFolder(str(tmp_path)).load()
