"""Properties of every parser on the CNI path: a value or a CNIError, never anything else.

Each parser takes text or JSON that someone else wrote (a pod author, a NAD
author, the runtime, an administrator). For arbitrary input it must return a
value or raise :class:`CNIError` with the code the spec gives that kind of
input (CNI SPEC.md Section 5: 4 for the environment, 6 for undecodable
content, 7 for invalid configuration); for generated valid input it must
return exactly what was meant. Nothing a parser returns may carry a path
separator or ``..`` into a name that later becomes a path or a URL.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pymultus.cni.errors import (
    DECODE_FAILURE,
    INCOMPATIBLE_VERSION,
    INVALID_CONFIG,
    INVALID_ENV,
    IO_FAILURE,
    CNIError,
)
from pymultus.cni.request import CNIRequest, format_cni_args, parse_cni_args
from pymultus.cni.result import convert_result, validate_result
from pymultus.cni.version import SUPPORTED_VERSIONS
from pymultus.kube.kubeconfig import load_kubeconfig
from pymultus.model.config import cni_config_shape_problem, go_json_get, parse_config
from pymultus.model.nad import is_dns1123_label, is_nad_name, resolve_nad_config
from pymultus.model.selection import (
    is_valid_ifname,
    parse_default_network_annotation,
    parse_networks,
)

_text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=16)
_leaf = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | _text
_json = st.recursive(
    _leaf,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(_text, c, max_size=4),
    max_leaves=12,
)
_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_ifname = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_-]{0,10}", fullmatch=True)
# Fragments that break naive parsers and path joins.
_nasty = st.sampled_from(
    ["..", "../etc", "/", "a/b/c", "@", "@@", ",", "[", "{", '"', "ns/", "/x", "\0", " ", "\n"]
)
_annotation_text = st.lists(_label | _nasty | _text, max_size=6).map("".join)


def _checked_selections(selections: list[Any]) -> None:
    for sel in selections:
        assert is_nad_name(sel.name), sel
        assert is_dns1123_label(sel.namespace), sel
        assert sel.interface is None or is_valid_ifname(sel.interface), sel
        for part in (sel.name, sel.namespace, sel.interface or "x"):
            # Cannot leave a directory when joined to a path ("..0" is a fine name).
            assert "/" not in part and part not in (".", "..") and "\0" not in part


# ---- the networks annotation (NPWG v1.3 4.1) ------------------------------------------


@given(_annotation_text | _text)
@example("0@\0")  # a NUL in an interface name once passed
def test_networks_annotation_any_text_gives_selections_or_code_7(text: str) -> None:
    try:
        selections = parse_networks(text, "pod-ns")
    except CNIError as exc:
        assert exc.code == INVALID_CONFIG
        assert "k8s.v1.cni.cncf.io/networks" in exc.msg
    else:
        _checked_selections(selections)


@given(st.lists(_json, max_size=4) | _json)
def test_networks_annotation_any_json_gives_selections_or_code_7(value: Any) -> None:
    try:
        selections = parse_networks(json.dumps(value), "pod-ns")
    except CNIError as exc:
        assert exc.code == INVALID_CONFIG
    else:
        _checked_selections(selections)


_element = st.tuples(st.none() | _label, _label, st.none() | _ifname)


@given(st.lists(_element, min_size=1, max_size=5), st.booleans())
def test_networks_annotation_valid_input_in_both_formats(
    elements: list[tuple[str | None, str, str | None]], as_json: bool
) -> None:
    if as_json:
        text = json.dumps(
            [
                {k: v for k, v in (("namespace", ns), ("name", n), ("interface", i)) if v}
                for ns, n, i in elements
            ]
        )
    else:
        text = ", ".join(
            (f"{ns}/" if ns else "") + n + (f"@{i}" if i else "") for ns, n, i in elements
        )
    selections = parse_networks(text, "pod-ns")
    assert [(s.namespace, s.name, s.interface) for s in selections] == [
        (ns or "pod-ns", n, i) for ns, n, i in elements
    ]


@given(_annotation_text | _text)
def test_default_network_annotation_is_one_network_or_code_7(text: str) -> None:
    try:
        sel = parse_default_network_annotation(text, "pod-ns", multus_namespace="kube-system")
    except CNIError as exc:
        assert exc.code == INVALID_CONFIG
        return
    if sel is None:
        assert not text.strip()
        return
    _checked_selections([sel])
    if "/" not in text and '"namespace"' not in text.lower():
        # Without an explicit namespace the admin's namespace is used, never the pod's.
        assert sel.namespace == "kube-system"


def test_oversized_annotation_is_refused_with_code_7() -> None:
    text = ",".join(["net-a"] * 60_000)  # 360 KB
    with pytest.raises(CNIError) as exc:
        parse_networks(text, "pod-ns")
    assert exc.value.code == INVALID_CONFIG
    assert "limit" in exc.value.msg


# ---- the meta-plugin's config ------------------------------------------------------------

_KEYS = [
    "cniVersion",
    "name",
    "clusterNetwork",
    "defaultNetworks",
    "delegates",
    "kubeconfig",
    "confDir",
    "cniDir",
    "binDir",
    "namespaceIsolation",
    "globalNamespaces",
    "systemNamespaces",
    "multusNamespace",
    "readinessindicatorfile",
    "logFile",
    "logLevel",
    "logToStderr",
    "logOptions",
    "capabilities",
    "runtimeConfig",
    "retryDeleteOnError",
    "auxiliaryCNIChainName",
    "CNIDIR",
    "LogLevel",
]
_config = st.dictionaries(st.sampled_from(_KEYS) | _text, _json, max_size=8)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(_config, st.sampled_from([*SUPPORTED_VERSIONS, "9.9.9"]))
def test_config_any_object_gives_config_or_code_1_or_7(conf: dict[str, Any], version: str) -> None:
    conf = {"cniVersion": version, **conf}
    try:
        cfg = parse_config(conf)
    except CNIError as exc:
        assert exc.code in (INCOMPATIBLE_VERSION, INVALID_CONFIG), exc
        return
    assert cfg.cni_version in SUPPORTED_VERSIONS
    for path in (cfg.conf_dir, cfg.cni_dir, cfg.bin_dir, cfg.kubeconfig, cfg.log_file):
        assert isinstance(path, str) and "\0" not in path
    assert cfg.cluster_network is not None or cfg.delegates
    assert cfg.cni_version == go_json_get(conf, "cniVersion")


# ---- NAD resolution (NPWG v1.3 3.4) --------------------------------------------------------

_nad = st.fixed_dictionaries(
    {},
    optional={
        "metadata": st.fixed_dictionaries(
            {}, optional={"name": _label | _json, "namespace": _label | _json}
        )
        | _json,
        "spec": st.fixed_dictionaries(
            {},
            optional={
                "config": st.builds(
                    json.dumps,
                    st.fixed_dictionaries(
                        {}, optional={"type": _text | _json, "name": _label, "plugins": _json}
                    ),
                )
                | _text
                | _json
            },
        )
        | _json,
    },
)
_conf_file = st.tuples(
    st.sampled_from(["a.conf", "b.conflist", "c.json", "d.txt", "e.conf"]),
    st.builds(json.dumps, st.fixed_dictionaries({"name": _label, "type": _label | _json}))
    | st.builds(json.dumps, _json)
    | _text,
)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_nad, st.lists(_conf_file, max_size=4))
def test_nad_resolution_gives_a_usable_config_or_a_cni_error(
    nad: dict[str, Any], files: list[tuple[str, str]]
) -> None:
    with tempfile.TemporaryDirectory() as conf_dir:
        for name, content in files:
            with open(os.path.join(conf_dir, name), "w", encoding="utf-8") as f:
                f.write(content)
        try:
            conf = resolve_nad_config(nad, conf_dir)
        except CNIError as exc:
            assert exc.code in (INVALID_CONFIG, IO_FAILURE), exc
            return
    assert cni_config_shape_problem(conf) is None
    assert go_json_get(conf, "name")


# ---- results: every version pair ----------------------------------------------------------


@given(_json, st.sampled_from(SUPPORTED_VERSIONS), st.sampled_from(SUPPORTED_VERSIONS))
def test_result_conversion_of_anything_is_a_result_or_code_6(junk: Any, src: str, dst: str) -> None:
    result = junk if isinstance(junk, dict) else {"ips": junk}
    result = {**result, "cniVersion": src}
    try:
        out = convert_result(result, dst)
    except CNIError as exc:
        assert exc.code == DECODE_FAILURE, exc
        return
    assert out["cniVersion"] == dst
    if validate_result(result) == [] and src != dst:
        assert validate_result(out) == [], (result, out)


# ---- kubeconfig: whatever PyYAML or json writes loads the same access ---------------------

_access = st.fixed_dictionaries(
    {
        "server": st.sampled_from(["https://10.0.0.1:6443", "http://127.0.0.1:8080"]),
        "token": st.text(alphabet="abcdefXYZ0123456789.-_", min_size=1, max_size=40),
        "namespace": _label,
    }
)


@given(_access, st.booleans())
@example({"server": "https://10.0.0.1:6443", "token": "._", "namespace": "0"}, False)
@example({"server": "https://10.0.0.1:6443", "token": "0x_", "namespace": "0"}, False)
def test_kubeconfig_written_by_pyyaml_loads_the_same_access(
    access: dict[str, str], flow: bool
) -> None:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": access["server"]}}],
        "contexts": [
            {
                "name": "x",
                "context": {"cluster": "c", "user": "u", "namespace": access["namespace"]},
            }
        ],
        "current-context": "x",
        "users": [{"name": "u", "user": {"token": access["token"]}}],
    }
    text = yaml.safe_dump(doc, default_flow_style=False if not flow else None)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(text)
        f.flush()
        loaded = load_kubeconfig(f.name)
    assert loaded.server == access["server"]
    assert loaded.token == yaml.safe_load(text)["users"][0]["user"]["token"]
    assert loaded.namespace == access["namespace"]


# ---- CNI_ARGS and the environment -----------------------------------------------------------


@given(st.text(max_size=60))
def test_cni_args_parse_format_parse_is_stable(text: str) -> None:
    try:
        pairs = parse_cni_args(text)
    except CNIError as exc:
        assert exc.code == INVALID_ENV
        return
    assert parse_cni_args(format_cni_args(pairs)) == pairs


_env_value = st.text(alphabet=st.characters(blacklist_characters="\0"), max_size=20)


@given(
    st.dictionaries(
        st.sampled_from(
            ["CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH"]
        ),
        st.sampled_from(["ADD", "DEL", "VERSION", "c1", "eth0", "a=b"]) | _env_value,
    )
)
def test_environment_gives_a_request_or_code_4(env: dict[str, str]) -> None:
    try:
        req = CNIRequest.from_env(env)
    except CNIError as exc:
        assert exc.code == INVALID_ENV
        return
    if req.command in ("ADD", "DEL", "CHECK"):
        assert "/" not in req.container_id and not req.container_id.startswith(".")
        assert is_valid_ifname(req.ifname)
