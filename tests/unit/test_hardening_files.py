"""Cache files are written atomically, 0600 in 0700 directories, and never through links.

Both caches hold network configurations and results (which may carry
secrets and name sandboxes): the delegate cache (pymultus.state, Multus'
``cniDir``) and the CNI result cache (pymultus.cni.resultcache, CNI SPEC.md
Section 3: the runtime stores ADD results for DEL and CHECK). A crash
mid-write must leave the old file or the new one, never half a file.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from pymultus.cni.errors import INVALID_CONFIG, INVALID_ENV, IO_FAILURE, CNIError
from pymultus.cni.resultcache import ResultCache
from pymultus.state import DelegateCache, write_atomic

ENTRY = {"containerID": "c1", "delegates": [{"name": "n", "conf": {"type": "x"}}]}


@pytest.fixture
def wide_umask() -> Iterator[None]:
    """The permissions must not depend on the umask the runtime happens to have."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_delegate_cache_is_0600_in_a_0700_directory(tmp_path: Path, wide_umask: None) -> None:
    cache = DelegateCache(str(tmp_path / "multus"))
    cache.save("c1", ENTRY)
    assert mode_of(tmp_path / "multus") == 0o700
    assert mode_of(tmp_path / "multus" / "c1") == 0o600
    cache.save("c1", {**ENTRY, "ifname": "eth0"})  # an update keeps the mode
    assert mode_of(tmp_path / "multus" / "c1") == 0o600
    assert sorted(os.listdir(tmp_path / "multus")) == ["c1"]  # no temporary file left


def test_result_cache_is_0600_in_a_0700_directory(tmp_path: Path, wide_umask: None) -> None:
    cache = ResultCache(str(tmp_path / "results"))
    cache.save("net", "c1", "eth0", {"type": "x"}, {"cniVersion": "1.0.0"})
    assert mode_of(tmp_path / "results") == 0o700
    (only,) = os.listdir(tmp_path / "results")
    assert mode_of(tmp_path / "results" / only) == 0o600


@pytest.mark.parametrize(
    "save",
    [
        lambda d: DelegateCache(d).save("c1", ENTRY),
        lambda d: ResultCache(d).save("net", "c1", "eth0", {"type": "x"}, {"cniVersion": "1.0.0"}),
    ],
    ids=["delegate-cache", "result-cache"],
)
def test_a_crash_before_the_rename_leaves_the_old_file(tmp_path: Path, save: Any) -> None:
    directory = str(tmp_path / "cache")
    save(directory)
    (name,) = os.listdir(directory)
    before = (tmp_path / "cache" / name).read_bytes()
    with (
        mock.patch("os.replace", side_effect=OSError(28, "No space left on device")),
        pytest.raises((CNIError, OSError)),
    ):
        save(directory)
    assert os.listdir(directory) == [name]  # no temporary file either
    assert (tmp_path / "cache" / name).read_bytes() == before


def test_full_disk_is_a_clear_io_error(tmp_path: Path) -> None:
    cache = DelegateCache(str(tmp_path / "cache"))
    with (
        mock.patch("os.replace", side_effect=OSError(28, "No space left on device")),
        pytest.raises(CNIError) as exc,
    ):
        cache.save("c1", ENTRY)
    assert exc.value.code == IO_FAILURE
    assert "cniDir" in exc.value.details


def test_write_atomic_never_writes_through_a_planted_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    target = tmp_path / "cache" / "c1"
    target.parent.mkdir()
    # Plant symlinks at every temporary name the old scheme (pid-only) would use,
    # and at the target itself: the write must replace the link, not follow it.
    (target.parent / f".c1.{os.getpid()}.tmp").symlink_to(victim)
    target.symlink_to(victim)
    write_atomic(str(target), b'{"new": true}')
    assert victim.read_text() == "precious"
    assert not target.is_symlink()
    assert json.loads(target.read_text()) == {"new": True}


@pytest.mark.parametrize(
    "container_id", ["../c1", "..", ".", "a/b", "/etc/passwd", "c1/../../x", "", "-x", "a\0b"]
)
def test_container_ids_cannot_leave_the_cache_directory(tmp_path: Path, container_id: str) -> None:
    cache = DelegateCache(str(tmp_path / "cache"))
    with pytest.raises(CNIError) as exc:
        cache.save(container_id, ENTRY)
    assert exc.value.code == INVALID_ENV
    assert sorted(p.name for p in tmp_path.rglob("*")) in ([], ["cache"])


@pytest.mark.parametrize(
    ("network", "container_id", "ifname", "code"),
    [
        ("..x", "c1", "eth0", None),  # a fine name: it stays inside the directory
        ("../x", "c1", "eth0", INVALID_CONFIG),
        ("..", "c1", "eth0", INVALID_CONFIG),
        ("net/x", "c1", "eth0", INVALID_CONFIG),
        ("net", "../c1", "eth0", INVALID_ENV),
        ("net", "c1", "../eth0", INVALID_ENV),
        ("net", "c1", "a\0b", INVALID_ENV),
    ],
)
def test_result_cache_names_cannot_leave_the_directory(
    tmp_path: Path, network: str, container_id: str, ifname: str, code: int | None
) -> None:
    cache = ResultCache(str(tmp_path / "results"))
    if code is None:
        path = cache.path_for(network, container_id, ifname)
        assert os.path.dirname(path) == str(tmp_path / "results")
        return
    with pytest.raises(CNIError) as exc:
        cache.path_for(network, container_id, ifname)
    assert exc.value.code == code
