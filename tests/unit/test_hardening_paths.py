"""Names are validated before they touch a path: no traversal into cniDir, confDir or URLs.

Every name that ends up in a file path or an API URL is checked where it
enters: CNI_CONTAINERID and CNI_IFNAME (CNI SPEC.md Section 2, "Parameters"),
NAD names and namespaces (NPWG v1.3 3.3: DNS-1123), interface names from the
annotation (NPWG v1.3 4.1.2.1 "interface"), and the config references that
resolve to files. Each case here tries ``..`` and ``/`` and checks that
nothing outside the intended directory is read, written or requested.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pymultus.cni.errors import INVALID_CONFIG, INVALID_ENV, CNIError
from pymultus.cni.request import CNIRequest
from pymultus.kube.client import _quote
from pymultus.model.nad import (
    find_conf_by_name,
    nad_path,
    resolve_conf_reference,
    resolve_nad_config,
)
from pymultus.model.selection import parse_networks
from pymultus.state import DelegateCache

OUTSIDE = {"cniVersion": "1.0.0", "name": "../outside", "type": "bridge"}


@pytest.fixture
def conf_dir(tmp_path: Path) -> Path:
    """A confDir with a sibling directory holding a config that must stay unreachable."""
    (tmp_path / "confd").mkdir()
    (tmp_path / "outside.conf").write_text(json.dumps(OUTSIDE))
    (tmp_path / "confd" / "10-ok.conf").write_text(
        json.dumps({"cniVersion": "1.0.0", "name": "ok", "type": "bridge"})
    )
    return tmp_path / "confd"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CNI_CONTAINERID", "../../etc/passwd"),
        ("CNI_CONTAINERID", ".."),
        ("CNI_CONTAINERID", "a/b"),
        ("CNI_IFNAME", "../eth0"),
        ("CNI_IFNAME", ".."),
        ("CNI_IFNAME", "a/b"),
    ],
)
def test_environment_names_with_paths_are_refused(variable: str, value: str) -> None:
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/n", "CNI_IFNAME": "eth0"}
    env[variable] = value
    with pytest.raises(CNIError) as exc:
        CNIRequest.from_env(env)
    assert exc.value.code == INVALID_ENV
    assert variable in exc.value.msg


def test_the_delegate_cache_checks_the_id_itself(tmp_path: Path) -> None:
    """Defence in depth: callers that bypass CNIRequest (the daemon, GC) are checked too."""
    cache = DelegateCache(str(tmp_path / "cache"))
    for bad in ("../x", "..", "x/../../y"):
        with pytest.raises(CNIError):
            cache.path(bad)
    with pytest.raises(CNIError) as exc:
        cache.load("../outside")
    assert exc.value.code == INVALID_ENV


@pytest.mark.parametrize(
    ("namespace", "name"),
    [
        ("..", "n"),
        ("ns", ".."),
        ("../kube-system", "n"),
        ("ns", "../../api/v1/secrets"),
        ("NS", "n"),
    ],
)
def test_nad_api_paths_take_kubernetes_names_only(namespace: str, name: str) -> None:
    with pytest.raises(CNIError) as exc:
        nad_path(namespace, name)
    assert exc.value.code == INVALID_CONFIG


@pytest.mark.parametrize(
    ("segment", "quoted"),
    [("..", "%2E%2E"), (".", "%2E"), ("a/b", "a%2Fb"), ("..a", "..a"), ("ns-1", "ns-1")],
)
def test_url_segments_cannot_walk_the_api_path(segment: str, quoted: str) -> None:
    assert _quote(segment) == quoted


@pytest.mark.parametrize(
    "annotation",
    [
        "../outside",
        "ns/../outside",
        "net@../../eth0",
        '[{"name": "../outside"}]',
        '[{"name": "ok", "namespace": ".."}]',
        '[{"name": "ok", "interface": "../x"}]',
        '[{"name": "ok", "interface": ".."}]',
    ],
)
def test_annotation_names_with_paths_are_refused(annotation: str) -> None:
    with pytest.raises(CNIError) as exc:
        parse_networks(annotation, "ns")
    assert exc.value.code == INVALID_CONFIG


def test_a_nad_name_never_reaches_outside_conf_dir(conf_dir: Path) -> None:
    """NPWG v1.3 3.4.1: an empty spec.config means the file in confDir with that *name*."""
    nad = {"metadata": {"name": "../outside", "namespace": "ns"}, "spec": {}}
    with pytest.raises(CNIError) as exc:
        resolve_nad_config(nad, str(conf_dir))
    assert exc.value.code == INVALID_CONFIG
    # Lookups go by the "name" inside files in conf_dir, never by a path built from it.
    assert find_conf_by_name(str(conf_dir), "../outside") is None
    assert find_conf_by_name(str(conf_dir), "ok") is not None


@pytest.mark.parametrize("reference", ["../outside.conf", "confd/../../outside.conf", "./x"])
def test_relative_references_are_not_resolved_against_the_working_directory(
    conf_dir: Path, reference: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(conf_dir)
    assert resolve_conf_reference(reference, str(conf_dir)) is None
