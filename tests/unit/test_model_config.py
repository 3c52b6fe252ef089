"""Unit tests for pymultus.model.config: the meta-plugin's own configuration."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymultus.cni.errors import INVALID_CONFIG, CNIError
from pymultus.model.config import (
    MultusConfig,
    cni_config_shape_problem,
    go_json_get,
    json_type_name,
    parse_config,
)

SPEC_CODES = {1, 2, 3, 4, 5, 6, 7, 8, 11, 50, 51, 999}

BRIDGE = {"type": "bridge", "name": "br", "ipam": {"type": "host-local"}}


def base(**extra: Any) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "cniVersion": "1.0.0",
        "name": "multus-cni-network",
        "type": "multus",
        "delegates": [BRIDGE],
    }
    conf.update(extra)
    return conf


def test_defaults_are_multus_defaults() -> None:
    config = parse_config(base())
    assert config == MultusConfig(
        name="multus-cni-network",
        cni_version="1.0.0",
        cluster_network=None,
        default_networks=(),
        delegates=(BRIDGE,),
        kubeconfig="",
        conf_dir="/etc/cni/multus/net.d",
        cni_dir="/var/lib/cni/multus",
        bin_dir="/opt/cni/bin",
        namespace_isolation=False,
        global_namespaces=("default",),
        system_namespaces=("kube-system",),
        multus_namespace="kube-system",
        readiness_indicator_file="",
        log_file="",
        log_level="",
        log_to_stderr=True,
        log_options={},
        capabilities={},
        runtime_config={},
        retry_delete_on_error=False,
        auxiliary_cni_chain_name="",
        raw=base(),
    )
    assert config.uses_delegates


def test_every_key_is_read() -> None:
    conf = {
        "cniVersion": "0.3.1",
        "name": "node-cni-network",
        "type": "multus",
        "kubeconfig": "/etc/kubernetes/node-kubeconfig.yaml",
        "confDir": "/etc/cni/other",
        "cniDir": "/var/lib/cni/other",
        "binDir": "/usr/lib/cni",
        "logFile": "/var/log/multus.log",
        "logLevel": "DEBUG",
        "logToStderr": False,
        "logOptions": {"maxAge": 5, "maxSize": 100, "maxBackups": 5, "compress": True},
        "capabilities": {"portMappings": True, "bandwidth": False},
        "runtimeConfig": {"portMappings": [{"hostPort": 80, "containerPort": 8080}]},
        "readinessindicatorfile": "/run/flannel/subnet.env",
        "namespaceIsolation": True,
        "globalNamespaces": "default, shared ,,infra",
        "clusterNetwork": "flannel",
        "defaultNetworks": ["sidecar", " other "],
        "systemNamespaces": ["kube-system", "admin"],
        "multusNamespace": "multus",
        "retryDeleteOnError": True,
        "auxiliaryCNIChainName": "vendor-cni-chain",
        "delegates": ["ignored because clusterNetwork is set", 1],
        "daemonSocketDir": "/run/multus/socket",
    }
    # delegates is ignored with clusterNetwork, but must still be a list of objects.
    with pytest.raises(CNIError) as excinfo:
        parse_config(conf)
    assert excinfo.value.code == INVALID_CONFIG
    assert '"delegates" [0] must be a CNI configuration' in excinfo.value.msg
    conf["delegates"] = [{"no": "type needed when clusterNetwork is set"}]

    config = parse_config(conf)
    assert config.cni_version == "0.3.1"
    assert config.kubeconfig == "/etc/kubernetes/node-kubeconfig.yaml"
    assert (config.conf_dir, config.cni_dir, config.bin_dir) == (
        "/etc/cni/other",
        "/var/lib/cni/other",
        "/usr/lib/cni",
    )
    assert config.log_file == "/var/log/multus.log"
    assert config.log_level == "debug"
    assert config.log_to_stderr is False
    assert config.log_options["maxSize"] == 100
    assert config.capabilities == {"portMappings": True, "bandwidth": False}
    assert config.runtime_config["portMappings"][0]["hostPort"] == 80
    assert config.readiness_indicator_file == "/run/flannel/subnet.env"
    assert config.namespace_isolation is True
    assert config.global_namespaces == ("default", "shared", "infra")
    assert config.cluster_network == "flannel"
    assert config.default_networks == ("sidecar", "other")
    assert config.system_namespaces == ("kube-system", "admin")
    assert config.multus_namespace == "multus"
    assert config.retry_delete_on_error is True
    assert config.auxiliary_cni_chain_name == "vendor-cni-chain"
    assert config.raw["daemonSocketDir"] == "/run/multus/socket"
    assert not config.uses_delegates


@pytest.mark.parametrize(
    ("extra", "field", "expected"),
    [
        # Go's encoding/json matches field names in any letter case.
        ({"readinessIndicatorFile": "/a"}, "readiness_indicator_file", "/a"),
        ({"ReadinessIndicatorFile": "/b"}, "readiness_indicator_file", "/b"),
        ({"LogFile": "/var/log/m.log"}, "log_file", "/var/log/m.log"),
        ({"LogLevel": "Verbose"}, "log_level", "verbose"),
        ({"confdir": "/x"}, "conf_dir", "/x"),
        ({"ClusterNetwork": "calico"}, "cluster_network", "calico"),
        # globalNamespaces also accepted as a list
        ({"globalNamespaces": ["a", " b "]}, "global_namespaces", ("a", "b")),
        ({"globalNamespaces": ""}, "global_namespaces", ("default",)),
        ({"globalNamespaces": " , "}, "global_namespaces", ("default",)),
        # null and "" mean "not set"
        ({"confDir": ""}, "conf_dir", "/etc/cni/multus/net.d"),
        ({"cniDir": None}, "cni_dir", "/var/lib/cni/multus"),
        ({"multusNamespace": ""}, "multus_namespace", "kube-system"),
        ({"systemNamespaces": None}, "system_namespaces", ("kube-system",)),
        ({"systemNamespaces": []}, "system_namespaces", ()),
        ({"clusterNetwork": "  "}, "cluster_network", None),
        ({"logToStderr": None}, "log_to_stderr", True),
        ({"logLevel": ""}, "log_level", ""),
        ({"defaultNetworks": None}, "default_networks", ()),
        ({"runtimeConfig": None}, "runtime_config", {}),
    ],
)
def test_key_spellings_and_defaults(extra: dict[str, Any], field: str, expected: object) -> None:
    assert getattr(parse_config(base(**extra)), field) == expected


def test_last_spelling_wins_like_go() -> None:
    config = parse_config(base(logFile="/first", LOGFILE="/second"))
    assert config.log_file == "/second"


@pytest.mark.parametrize(
    ("conf", "fragment"),
    [
        ({"name": "x", "delegates": [BRIDGE]}, '"cniVersion" is missing'),
        (base(cniVersion=""), '"cniVersion" is missing'),
        (base(cniVersion=1), '"cniVersion" must be a string, got number'),
        ({"cniVersion": "1.0.0", "name": "x"}, 'set "clusterNetwork"'),
        (base(delegates=[]), 'non-empty "delegates"'),
        (base(delegates={}), '"delegates" must be an array of CNI configurations'),
        (base(delegates=[[]]), '"delegates" [0] must be a CNI configuration'),
        (base(delegates=[{"name": "x"}]), 'neither "type"'),
        (base(delegates=[{"plugins": []}]), '"plugins" must be a non-empty array'),
        (base(delegates=[{"plugins": [{"type": "a"}, {}]}]), 'plugins[1] has no "type"'),
        (base(delegates=[{"type": 3}]), '"type" must be a string, got number'),
        (base(name=["x"]), '"name" must be a string, got array'),
        (base(kubeconfig=True), '"kubeconfig" must be a string, got boolean'),
        (base(namespaceIsolation="true"), '"namespaceIsolation" must be a boolean'),
        (base(logToStderr=1), '"logToStderr" must be a boolean'),
        (base(retryDeleteOnError="yes"), '"retryDeleteOnError" must be a boolean'),
        (base(globalNamespaces=5), '"globalNamespaces" must be a comma-separated string'),
        (base(globalNamespaces=["a", 1]), '"globalNamespaces" [1] must be a string'),
        (base(systemNamespaces="kube-system"), '"systemNamespaces" must be an array of strings'),
        (base(defaultNetworks=["a", 2]), '"defaultNetworks" [1] must be a string'),
        (base(defaultNetworks=["a", " "]), '"defaultNetworks" [1] is empty'),
        (base(clusterNetwork=["a"]), '"clusterNetwork" must be a string'),
        (base(logLevel="info"), '"logLevel" must be one of panic, error, verbose, debug'),
        (base(logOptions=[]), '"logOptions" must be an object'),
        (base(logOptions={"maxAge": -1}), '"logOptions.maxAge" must be a non-negative integer'),
        (base(logOptions={"maxSize": 1.5}), '"logOptions.maxSize" must be a non-negative'),
        (base(logOptions={"compress": "no"}), '"logOptions.compress" must be a boolean'),
        (base(capabilities={"portMappings": "yes"}), '"capabilities.portMappings" must be a'),
        (base(capabilities=["portMappings"]), '"capabilities" must be an object'),
        (base(runtimeConfig="x"), '"runtimeConfig" must be an object'),
        (base(auxiliaryCNIChainName=0), '"auxiliaryCNIChainName" must be a string'),
        (base(readinessindicatorfile=0), '"readinessindicatorfile" must be a string'),
    ],
)
def test_invalid_configs_name_the_key(conf: dict[str, Any], fragment: str) -> None:
    with pytest.raises(CNIError) as excinfo:
        parse_config(conf)
    assert excinfo.value.code == INVALID_CONFIG
    assert fragment in excinfo.value.msg


@pytest.mark.parametrize("value", [None, [], "text", 3])
def test_non_object_config(value: Any) -> None:
    with pytest.raises(CNIError) as excinfo:
        parse_config(value)
    assert excinfo.value.code == INVALID_CONFIG
    assert "must be a JSON object" in excinfo.value.msg


def test_conflist_delegate_is_accepted() -> None:
    conflist = {"cniVersion": "1.0.0", "name": "l", "plugins": [{"type": "ptp"}, {"type": "x"}]}
    assert parse_config(base(delegates=[conflist, BRIDGE])).delegates == (conflist, BRIDGE)


@pytest.mark.parametrize(
    ("obj", "key", "expected"),
    [
        ({"a": 1}, "a", 1),
        ({"A": 1}, "a", 1),
        ({"a": 1, "A": 2}, "a", 2),
        ({"A": 2, "a": 1}, "a", 1),
        ({"b": 1}, "a", None),
        ({"\u212a": 1}, "k", None),  # Kelvin sign: non-ASCII keys never fold here
    ],
)
def test_go_json_get(obj: dict[str, Any], key: str, expected: object) -> None:
    assert go_json_get(obj, key) == expected


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (None, "null"),
        (True, "boolean"),
        (1, "number"),
        (1.5, "number"),
        ("s", "string"),
        ([], "array"),
        ({}, "object"),
        (b"x", "bytes"),
    ],
)
def test_json_type_name(value: object, name: str) -> None:
    assert json_type_name(value) == name


@pytest.mark.parametrize(
    ("conf", "ok"),
    [
        ({"type": "bridge"}, True),
        ({"plugins": [{"type": "a"}]}, True),
        ({"type": ""}, False),
        ({}, False),
        ({"plugins": "a"}, False),
        ({"plugins": ["a"]}, False),
    ],
)
def test_cni_config_shape_problem(conf: dict[str, Any], ok: bool) -> None:
    assert (cni_config_shape_problem(conf) is None) is ok


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "cniVersion",
        "name",
        "clusterNetwork",
        "defaultNetworks",
        "delegates",
        "confDir",
        "globalNamespaces",
        "systemNamespaces",
        "logLevel",
        "logOptions",
        "capabilities",
        "namespaceIsolation",
        "logToStderr",
        "runtimeConfig",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS | st.text(max_size=6), JSON, max_size=8) | JSON)
def test_parse_config_never_crashes(conf: Any) -> None:
    try:
        config = parse_config(conf)
    except CNIError as exc:
        assert exc.code in SPEC_CODES
        assert exc.msg
    else:
        assert config.cni_version
        assert config.cluster_network is not None or config.delegates
        json.dumps(config.raw)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, 60.0), (2, 2.0), (0.5, 0.5), (3600, 3600.0)],
)
def test_delegate_timeout_is_seconds_with_a_default(value: object, expected: float) -> None:
    conf = {"cniVersion": "1.0.0", "name": "m", "delegates": [{"type": "x"}]}
    if value is not None:
        conf["delegateTimeout"] = value
    assert parse_config(conf).delegate_timeout == expected


@pytest.mark.parametrize("value", [0, -1, 3601, "2", True, [1]])
def test_delegate_timeout_out_of_range_or_wrong_type_names_the_key(value: object) -> None:
    conf = {
        "cniVersion": "1.0.0",
        "name": "m",
        "delegates": [{"type": "x"}],
        "delegateTimeout": value,
    }
    with pytest.raises(CNIError) as err:
        parse_config(conf)
    assert err.value.code == 7
    assert "delegateTimeout" in err.value.msg
