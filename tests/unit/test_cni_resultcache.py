"""The result cache: atomic, private, collision-free, validated names."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymultus.cni.errors import DECODE_FAILURE, INVALID_CONFIG, INVALID_ENV, IO_FAILURE, CNIError
from pymultus.cni.resultcache import ResultCache

CONF = {"cniVersion": "1.0.0", "name": "net", "plugins": [{"type": "bridge"}]}
RESULT = {"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24"}]}


def test_save_load_remove(tmp_path: Path) -> None:
    cache = ResultCache(str(tmp_path / "results"))
    assert cache.load("net", "c1", "eth0") is None
    cache.save("net", "c1", "eth0", CONF, RESULT)
    assert cache.load("net", "c1", "eth0") == (CONF, RESULT)
    assert cache.list_attachments() == [("net", "c1", "eth0")]
    cache.remove("net", "c1", "eth0")
    assert cache.load("net", "c1", "eth0") is None
    cache.remove("net", "c1", "eth0")  # removing twice is fine (DEL twice succeeds)
    assert cache.list_attachments() == []


def test_overwrite_replaces(tmp_path: Path) -> None:
    cache = ResultCache(str(tmp_path))
    cache.save("net", "c1", "eth0", CONF, RESULT)
    cache.save("net", "c1", "eth0", CONF, {"cniVersion": "1.0.0"})
    assert cache.load("net", "c1", "eth0") == (CONF, {"cniVersion": "1.0.0"})
    assert len(os.listdir(tmp_path)) == 1  # no temporary files left behind


def test_permissions(tmp_path: Path) -> None:
    directory = tmp_path / "var" / "results"
    cache = ResultCache(str(directory))
    cache.save("net", "c1", "eth0", CONF, RESULT)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    (only,) = directory.iterdir()
    assert stat.S_IMODE(only.stat().st_mode) == 0o600


def test_file_name_like_libcni_when_no_dashes(tmp_path: Path) -> None:
    cache = ResultCache(str(tmp_path))
    assert cache.path_for("mynet", "abc123", "eth0") == str(tmp_path / "mynet-abc123-eth0")


def test_dashes_cannot_collide(tmp_path: Path) -> None:
    cache = ResultCache(str(tmp_path))
    cache.save("a-b", "c", "eth0", CONF, {"cniVersion": "1.0.0", "n": 1})
    cache.save("a", "b-c", "eth0", CONF, {"cniVersion": "1.0.0", "n": 2})
    assert cache.load("a-b", "c", "eth0") == (CONF, {"cniVersion": "1.0.0", "n": 1})
    assert cache.load("a", "b-c", "eth0") == (CONF, {"cniVersion": "1.0.0", "n": 2})
    assert cache.list_attachments() == [("a", "b-c", "eth0"), ("a-b", "c", "eth0")]


@pytest.mark.parametrize(
    ("network", "container", "ifname", "code"),
    [
        ("", "c", "eth0", INVALID_CONFIG),
        ("a/b", "c", "eth0", INVALID_CONFIG),
        ("..", "c", "eth0", INVALID_CONFIG),
        ("net", "../../etc", "eth0", INVALID_ENV),
        ("net", ".", "eth0", INVALID_ENV),
        ("net", "c", "a\0b", INVALID_ENV),
        ("net", "c", "", INVALID_ENV),
    ],
)
def test_unsafe_names_rejected(
    tmp_path: Path, network: str, container: str, ifname: str, code: int
) -> None:
    cache = ResultCache(str(tmp_path))
    with pytest.raises(CNIError) as exc:
        cache.save(network, container, ifname, CONF, RESULT)
    assert exc.value.code == code
    with pytest.raises(CNIError) as exc:
        cache.load(network, container, ifname)
    assert exc.value.code == code
    with pytest.raises(CNIError) as exc:
        cache.remove(network, container, ifname)
    assert exc.value.code == code
    assert list(tmp_path.iterdir()) == []


def test_corrupt_record_names_file(tmp_path: Path) -> None:
    cache = ResultCache(str(tmp_path))
    path = cache.path_for("net", "c1", "eth0")
    Path(path).write_text("{not json")
    with pytest.raises(CNIError) as exc:
        cache.load("net", "c1", "eth0")
    assert exc.value.code == DECODE_FAILURE
    assert path in exc.value.msg and "remove" in exc.value.msg


def test_list_ignores_foreign_and_temporary_files(tmp_path: Path) -> None:
    cache = ResultCache(str(tmp_path))
    cache.save("net", "c1", "eth0", CONF, RESULT)
    (tmp_path / "README").write_text("x")
    (tmp_path / "~net-c1-eth1.123.abcd").write_text("{}")
    (tmp_path / "a-b-c-d").write_text("{}")
    (tmp_path / "net-c%ZZ-eth0").write_text("{}")
    (tmp_path / "dir-x-y").mkdir()
    assert cache.list_attachments() == [("net", "c1", "eth0")]


def test_name_too_long_for_a_file_is_io_failure(tmp_path: Path) -> None:
    with pytest.raises(CNIError) as exc:
        ResultCache(str(tmp_path)).save("n" * 300, "c1", "eth0", CONF, RESULT)
    assert exc.value.code == IO_FAILURE
    assert "cannot write" in exc.value.msg
    assert list(tmp_path.iterdir()) == []


def test_missing_directory_is_empty(tmp_path: Path) -> None:
    assert ResultCache(str(tmp_path / "nope")).list_attachments() == []


_name = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/\0"),
    min_size=1,
    max_size=6,  # escaped, 3 names of 6 four-byte characters still fit in 255 bytes
).filter(lambda s: s not in (".", ".."))


@settings(max_examples=60)
@given(st.lists(st.tuples(_name, _name, _name), max_size=4, unique=True))
def test_any_safe_names_round_trip(
    tmp_path_factory: pytest.TempPathFactory, keys: list[tuple[str, str, str]]
) -> None:
    cache = ResultCache(str(tmp_path_factory.mktemp("cache")))
    for i, (network, container, ifname) in enumerate(keys):
        cache.save(network, container, ifname, CONF, {"cniVersion": "1.0.0", "i": i})
    assert cache.list_attachments() == sorted(keys)
    for i, key in enumerate(keys):
        assert cache.load(*key) == (CONF, {"cniVersion": "1.0.0", "i": i})
