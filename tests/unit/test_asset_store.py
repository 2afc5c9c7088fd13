"""The local asset store: only keys genhook makes, atomic puts, nothing left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from receiver.assets.store import LocalAssetStore, asset_key, media_type_of, validate_key

TASK = "tsk_01M80B3VWMSJFRXG1YSFCF48M0"


@pytest.mark.parametrize(
    "key",
    [
        "../secret/0.png",
        f"{TASK}/../0.png",
        f"/{TASK}/0.png",
        f"{TASK}/0.svg",
        f"{TASK}/0.png/x",
        f"{TASK}/01.png",
        f"{TASK}/-1.png",
        "tsk_x/0.html",
        ".staging/x.part",
        f"{TASK}\\0.png",
    ],
)
def test_keys_genhook_would_not_make_are_refused(key: str) -> None:
    with pytest.raises(ValueError):
        validate_key(key)


def test_keys_name_task_position_and_type() -> None:
    assert asset_key(TASK, 0, "png") == f"{TASK}/1.png"  # image 1 of the task (issue 14)
    assert media_type_of(asset_key(TASK, 3, "jpg")) == "image/jpeg"
    assert media_type_of(asset_key(TASK, 3, "webp")) == "image/webp"


async def test_put_moves_the_staged_file_into_place(tmp_path: Path) -> None:
    store = LocalAssetStore(tmp_path / "assets")
    staged = store.staging_file()
    staged.write_bytes(b"first")
    key = asset_key(TASK, 0, "png")
    assert not await store.exists(key) and store.local_file(key) is None
    await store.put(key, staged)
    assert not staged.exists()
    assert store.local_file(key) == tmp_path / "assets" / TASK / "1.png"
    assert b"".join([c async for c in store.read(key)]) == b"first"

    again = store.staging_file()  # a second download of the same image replaces it whole
    again.write_bytes(b"second")
    await store.put(key, again)
    assert (tmp_path / "assets" / TASK / "1.png").read_bytes() == b"second"
    assert list((tmp_path / "assets" / ".staging").iterdir()) == []
