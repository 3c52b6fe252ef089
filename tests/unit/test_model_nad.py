"""Unit tests for pymultus.model.nad: NAD paths, NAD config and conf-file resolution."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pymultus.cni.errors import INVALID_CONFIG, IO_FAILURE, CNIError
from pymultus.model.nad import (
    NAD_GROUP,
    NAD_PLURAL,
    NAD_VERSION,
    RESOURCE_NAME_ANNOTATION,
    find_conf_by_name,
    is_dns1123_label,
    is_nad_name,
    load_conf_file,
    nad_collection_path,
    nad_identity,
    nad_path,
    nad_resource_name,
    resolve_conf_reference,
    resolve_nad_config,
)


def nad(
    name: str = "macvlan-conf", namespace: str = "default", config: Any = None
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": f"{NAD_GROUP}/{NAD_VERSION}",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": name, "namespace": namespace},
    }
    if config is not None:
        obj["spec"] = {"config": config}
    return obj


def write(directory: Path, filename: str, content: Any) -> Path:
    path = directory / filename
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_constants() -> None:
    assert (NAD_GROUP, NAD_VERSION, NAD_PLURAL) == (
        "k8s.cni.cncf.io",
        "v1",
        "network-attachment-definitions",
    )
    assert RESOURCE_NAME_ANNOTATION == "k8s.v1.cni.cncf.io/resourceName"


@pytest.mark.parametrize(
    ("text", "label", "nad_name"),
    [
        ("a", True, True),
        ("macvlan-conf", True, True),
        ("a1-b2", True, True),
        ("x" * 63, True, True),
        ("x" * 64, False, False),
        ("my.net", False, True),
        ("a.", False, False),
        ("a.b-c.d", False, True),
        ("-a", False, False),
        ("a-", False, False),
        ("A", False, False),
        ("a_b", False, False),
        ("a..b", False, False),
        ("", False, False),
        ("na me", False, False),
    ],
)
def test_name_rules(text: str, label: bool, nad_name: bool) -> None:
    assert is_dns1123_label(text) is label
    assert is_nad_name(text) is nad_name


def test_long_subdomain_limit() -> None:
    name = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    assert len(name) == 253
    assert is_nad_name(name)
    assert not is_nad_name(name + "d")


def test_paths() -> None:
    assert nad_path("default", "macvlan-conf") == (
        "/apis/k8s.cni.cncf.io/v1/namespaces/default/network-attachment-definitions/macvlan-conf"
    )
    assert nad_collection_path() == "/apis/k8s.cni.cncf.io/v1/network-attachment-definitions"
    assert nad_collection_path("ns") == (
        "/apis/k8s.cni.cncf.io/v1/namespaces/ns/network-attachment-definitions"
    )


@pytest.mark.parametrize(
    ("namespace", "name", "fragment"),
    [
        ("Default", "a", 'namespace "Default" is not a valid DNS-1123 label'),
        ("default", "../pods/x", 'name "../pods/x" is not valid'),
        ("default", "a?b=c", 'name "a?b=c" is not valid'),
    ],
)
def test_nad_path_rejects_bad_names(namespace: str, name: str, fragment: str) -> None:
    with pytest.raises(CNIError) as excinfo:
        nad_path(namespace, name)
    assert excinfo.value.code == INVALID_CONFIG
    assert fragment in excinfo.value.msg


def test_identity_and_resource_name() -> None:
    obj = nad("sriov", "tenant")
    assert nad_identity(obj) == ("tenant", "sriov")
    assert nad_resource_name(obj) is None
    obj["metadata"]["annotations"] = {RESOURCE_NAME_ANNOTATION: "intel.com/sriov"}
    assert nad_resource_name(obj) == "intel.com/sriov"
    obj["metadata"]["annotations"] = {RESOURCE_NAME_ANNOTATION: ""}
    assert nad_resource_name(obj) is None
    with pytest.raises(CNIError) as excinfo:
        nad_identity({"metadata": {}})
    assert "no metadata.name" in excinfo.value.msg


def test_spec_config_wins_and_name_is_injected(tmp_path: Path) -> None:
    write(tmp_path, "a.conf", {"cniVersion": "1.0.0", "name": "macvlan-conf", "type": "file"})
    conf = resolve_nad_config(
        nad(config='{"cniVersion": "1.0.0", "type": "macvlan"}'), str(tmp_path)
    )
    # NPWG 3.4.2: the NAD name is injected when the config has none.
    assert conf == {"cniVersion": "1.0.0", "type": "macvlan", "name": "macvlan-conf"}


def test_spec_config_keeps_its_own_name() -> None:
    text = json.dumps({"cniVersion": "0.4.0", "name": "other", "plugins": [{"type": "bridge"}]})
    conf = resolve_nad_config(nad(config=text), "/nonexistent")
    assert conf["name"] == "other"
    assert conf["plugins"] == [{"type": "bridge"}]


def test_empty_name_is_replaced() -> None:
    conf = resolve_nad_config(nad(config='{"name": "", "type": "x"}'), "/nonexistent")
    assert conf["name"] == "macvlan-conf"


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ("{not json", "spec.config is not valid JSON"),
        ("[1]", "spec.config must be a JSON object, got array"),
        (
            '{"cniVersion": "1.0.0"}',
            'spec.config is not a CNI configuration: it has neither "type"',
        ),
        ('{"plugins": [{"type": "a"}, {"type": ""}]}', 'plugins[1] has no "type"'),
        (5, "spec.config must be a string holding CNI JSON, got number"),
        ("[" * 100000, "spec.config is not valid JSON"),
    ],
)
def test_bad_spec_config(config: Any, fragment: str) -> None:
    with pytest.raises(CNIError) as excinfo:
        resolve_nad_config(nad(config=config), "/nonexistent")
    assert excinfo.value.code == INVALID_CONFIG
    assert "NetworkAttachmentDefinition default/macvlan-conf" in excinfo.value.msg
    assert fragment in excinfo.value.msg


def test_spec_must_be_object() -> None:
    obj = nad()
    obj["spec"] = "config"
    with pytest.raises(CNIError) as excinfo:
        resolve_nad_config(obj, "/nonexistent")
    assert "spec must be an object" in excinfo.value.msg


def test_file_lookup_conflist_first(tmp_path: Path) -> None:
    write(tmp_path, "00-a.conf", {"cniVersion": "1.0.0", "name": "net", "type": "conf"})
    write(tmp_path, "99-z.conflist", {"name": "net", "plugins": [{"type": "list"}]})
    write(tmp_path, "10-b.json", {"name": "net", "type": "json"})
    conf = resolve_nad_config(nad("net", config="  "), str(tmp_path))
    assert conf["plugins"] == [{"type": "list"}]


def test_file_lookup_conf_and_json_sorted(tmp_path: Path) -> None:
    write(tmp_path, "20-b.conf", {"name": "net", "type": "second"})
    write(tmp_path, "10-a.json", {"name": "net", "type": "first"})
    write(tmp_path, "05-other.conflist", {"name": "other", "plugins": [{"type": "x"}]})
    write(tmp_path, "01-ignored.txt", {"name": "net", "type": "txt"})
    (tmp_path / "00-dir.conf").mkdir()
    assert find_conf_by_name(str(tmp_path), "net") == {"name": "net", "type": "first"}
    assert find_conf_by_name(str(tmp_path), "absent") is None


def test_missing_file_names_nad_and_dir(tmp_path: Path) -> None:
    with pytest.raises(CNIError) as excinfo:
        resolve_nad_config(nad("net"), str(tmp_path))
    assert excinfo.value.code == INVALID_CONFIG
    message = excinfo.value.msg
    assert "NetworkAttachmentDefinition default/net has an empty spec.config" in message
    assert str(tmp_path) in message
    assert "set spec.config or install such a file" in message


def test_nonexistent_dir_is_not_found(tmp_path: Path) -> None:
    assert find_conf_by_name(str(tmp_path / "missing"), "net") is None
    with pytest.raises(CNIError) as excinfo:
        resolve_nad_config(nad("net"), str(tmp_path / "missing"))
    assert excinfo.value.code == INVALID_CONFIG


def test_broken_files_are_skipped_but_reported(tmp_path: Path) -> None:
    write(tmp_path, "00-broken.conf", "{")
    write(tmp_path, "10-good.conf", {"name": "net", "type": "ok"})
    assert find_conf_by_name(str(tmp_path), "net") == {"name": "net", "type": "ok"}
    with pytest.raises(CNIError) as excinfo:
        find_conf_by_name(str(tmp_path), "wanted")
    assert excinfo.value.code == INVALID_CONFIG
    assert "00-broken.conf" in excinfo.value.msg


def test_matching_file_without_type_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "a.conf", {"name": "net", "cniVersion": "1.0.0"})
    with pytest.raises(CNIError) as excinfo:
        find_conf_by_name(str(tmp_path), "net")
    assert str(path) in excinfo.value.msg
    assert 'neither "type"' in excinfo.value.msg


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every directory")
def test_unreadable_dir_is_io_failure(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        with pytest.raises(CNIError) as excinfo:
            find_conf_by_name(str(locked), "net")
        assert excinfo.value.code == IO_FAILURE
    finally:
        locked.chmod(0o755)


def test_unreadable_dir_is_io_failure_as_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def deny(path: str) -> list[str]:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(os, "listdir", deny)
    with pytest.raises(CNIError) as excinfo:
        resolve_nad_config(nad("net"), str(tmp_path))
    assert excinfo.value.code == IO_FAILURE
    assert "Permission denied" in excinfo.value.msg


def test_load_conf_file(tmp_path: Path) -> None:
    path = write(tmp_path, "x.conflist", {"name": "l", "plugins": [{"type": "a"}]})
    assert load_conf_file(str(path))["name"] == "l"


@pytest.mark.parametrize(
    ("content", "code", "fragment"),
    [
        (None, INVALID_CONFIG, "does not exist"),
        ("{", INVALID_CONFIG, "is not valid JSON"),
        ("[]", INVALID_CONFIG, "must be a JSON object"),
        ('{"name": "x"}', INVALID_CONFIG, "is not a CNI configuration"),
        (b"\xff\xfe", INVALID_CONFIG, "is not UTF-8"),
    ],
)
def test_load_conf_file_errors(tmp_path: Path, content: Any, code: int, fragment: str) -> None:
    path = tmp_path / "x.conf"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(CNIError) as excinfo:
        load_conf_file(str(path))
    assert excinfo.value.code == code
    assert str(path) in excinfo.value.msg
    assert fragment in excinfo.value.msg


def test_load_conf_file_directory(tmp_path: Path) -> None:
    with pytest.raises(CNIError) as excinfo:
        load_conf_file(str(tmp_path))
    assert excinfo.value.code == INVALID_CONFIG


def test_resolve_conf_reference(tmp_path: Path) -> None:
    confdir = tmp_path / "conf"
    confdir.mkdir()
    write(confdir, "10-flannel.conflist", {"name": "flannel", "plugins": [{"type": "flannel"}]})
    other = tmp_path / "other"
    other.mkdir()
    write(other, "20-b.conf", {"name": "b", "type": "b"})
    write(other, "10-a.conflist", {"name": "a", "plugins": [{"type": "a"}]})
    write(other, "05-readme.txt", "not a config")
    single = write(tmp_path, "single.conf", {"name": "s", "type": "s"})
    empty = tmp_path / "empty"
    empty.mkdir()

    cases: list[tuple[str, str | None]] = [
        ("flannel", "flannel"),  # a conf name in conf_dir
        (" flannel ", "flannel"),
        ("calico", None),
        (str(other), "a"),  # directory: alphabetically first config
        (str(other) + "/", "a"),
        (str(single), "s"),  # absolute file path
        (str(empty), None),
        (str(tmp_path / "missing.conf"), None),
        ("relative/path.conf", None),
        ("", None),
    ]
    for ref, expected in cases:
        found = resolve_conf_reference(ref, str(confdir))
        assert (found or {}).get("name") == expected, ref
