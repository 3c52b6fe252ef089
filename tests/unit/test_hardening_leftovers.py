"""Two hardening leftovers of the CNI entry path.

1. A plugin's stdout is bounded (pymultus.cni.invoke.MAX_STDOUT_BYTES): a
   delegate that prints without end is killed and reported with code 6 and
   evidence, instead of growing the meta-plugin until the timeout; stderr is
   drained and only its start kept.
2. K8S_POD_NAMESPACE / K8S_POD_NAME in CNI_ARGS must be Kubernetes names
   (DNS-1123 label / subdomain): anything else is code 4 naming CNI_ARGS,
   before the names reach an API path or the cache.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from pymultus.cni import invoke
from pymultus.cni.errors import DECODE_FAILURE, INVALID_ENV, TRY_AGAIN_LATER, CNIError
from pymultus.cni.invoke import MAX_STDOUT_BYTES, exec_plugin
from pymultus.cni.request import CNIRequest
from pymultus.engine import Engine, PodIdentity
from pymultus.log import Logger
from pymultus.model.config import parse_config
from pymultus.state import DelegateCache

ADD_ENV = {
    "CNI_COMMAND": "ADD",
    "CNI_CONTAINERID": "c1",
    "CNI_NETNS": "/run/netns/x",
    "CNI_IFNAME": "eth0",
    "CNI_ARGS": "",
    "CNI_PATH": "/nowhere",
}
CONF = {"cniVersion": "1.0.0", "name": "net", "type": "fake"}


def plugin(tmp_path: Path, body: str) -> str:
    path = tmp_path / "fake"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


# ------------------------------------------------------------- stdout bound
def test_endless_stdout_is_killed_with_code_6_and_evidence(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(CNIError) as exc:
        exec_plugin(plugin(tmp_path, "echo oops >&2\nyes flood"), "ADD", CONF, ADD_ENV, timeout=30)
    assert time.monotonic() - started < 10  # the bound, not the 30 s timeout, ended it
    assert exc.value.code == DECODE_FAILURE
    assert exc.value.msg == (
        f"fake: ADD wrote more than {MAX_STDOUT_BYTES} bytes to stdout and was killed; "
        "a CNI result is a few KiB, so the plugin is broken"
    )
    assert exc.value.details.startswith("stdout: flood\nflood")
    assert exc.value.details.endswith("stderr: oops")
    assert "[...]" in exc.value.details  # the excerpt is bounded too


@pytest.mark.parametrize(("extra", "ok"), [(0, True), (1, False)])
def test_the_bound_is_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: int, ok: bool
) -> None:
    result = json.dumps({"cniVersion": "1.0.0", "dns": {"domain": "x"}})
    limit = 2000
    padded = result[:-2] + " " * (limit - len(result) + extra) + "}}"
    assert len(padded) == limit + extra
    (tmp_path / "out").write_text(padded)
    monkeypatch.setattr(invoke, "MAX_STDOUT_BYTES", limit)
    path = plugin(tmp_path, f"cat > /dev/null\ncat {tmp_path / 'out'}")
    if ok:
        assert exec_plugin(path, "ADD", CONF, ADD_ENV)["dns"] == {"domain": "x"}
    else:
        with pytest.raises(CNIError) as exc:
            exec_plugin(path, "ADD", CONF, ADD_ENV)
        assert exc.value.code == DECODE_FAILURE
        assert f"more than {limit} bytes" in exc.value.msg


def test_the_bound_applies_to_commands_without_a_result(tmp_path: Path) -> None:
    env = {**ADD_ENV, "CNI_COMMAND": "DEL"}
    with pytest.raises(CNIError) as exc:
        exec_plugin(plugin(tmp_path, "yes"), "DEL", CONF, env, timeout=30)
    assert exc.value.code == DECODE_FAILURE
    assert exc.value.msg.startswith("fake: DEL wrote more than")


def test_huge_stderr_is_drained_and_only_its_start_kept(tmp_path: Path) -> None:
    body = "head -c 8000000 /dev/zero | tr '\\0' e >&2\necho '{\"cniVersion\":\"1.0.0\"}'"
    assert exec_plugin(plugin(tmp_path, body), "ADD", CONF, ADD_ENV) == {"cniVersion": "1.0.0"}
    failing = "head -c 8000000 /dev/zero | tr '\\0' e >&2\nexit 3"
    with pytest.raises(CNIError) as exc:
        exec_plugin(plugin(tmp_path, failing), "ADD", CONF, ADD_ENV)
    assert exc.value.details == "stderr: " + "e" * invoke.EXCERPT_BYTES + " [...]"


def test_a_plugin_that_never_reads_stdin_still_answers(tmp_path: Path) -> None:
    conf = {**CONF, "pad": "z" * 900_000}  # far more than a pipe holds
    out = exec_plugin(plugin(tmp_path, 'echo \'{"cniVersion":"1.0.0"}\''), "ADD", conf, ADD_ENV)
    assert out == {"cniVersion": "1.0.0"}


def test_timeout_still_reports_partial_output(tmp_path: Path) -> None:
    with pytest.raises(CNIError) as exc:
        exec_plugin(plugin(tmp_path, "echo half\nsleep 30"), "ADD", CONF, ADD_ENV, timeout=0.5)
    assert exc.value.code == TRY_AGAIN_LATER
    assert exc.value.details == "stdout: half"


# ------------------------------------------------------ pod names in CNI_ARGS
def request(namespace: str, name: str) -> CNIRequest:
    args = (("K8S_POD_NAMESPACE", namespace), ("K8S_POD_NAME", name), ("K8S_POD_UID", "u"))
    return CNIRequest("ADD", "c1", "/var/run/netns/x", "eth0", args)


@pytest.mark.parametrize(
    ("namespace", "name"),
    [
        ("default", "p"),
        ("kube-system", "kube-apiserver-node-1.example.com"),
        ("a" * 63, ".".join(["b" * 63] * 3 + ["c" * 61])),  # 253: the longest name
        ("0ns", "0"),
    ],
)
def test_kubernetes_names_are_accepted(namespace: str, name: str) -> None:
    assert PodIdentity.from_request(request(namespace, name)) == PodIdentity(namespace, name, "u")


@pytest.mark.parametrize(
    ("namespace", "name", "field"),
    [
        ("Default", "p", "K8S_POD_NAMESPACE"),
        ("a" * 64, "p", "K8S_POD_NAMESPACE"),
        ("../kube-system", "p", "K8S_POD_NAMESPACE"),
        ("a.b", "p", "K8S_POD_NAMESPACE"),  # a subdomain, not a label
        ("-x", "p", "K8S_POD_NAMESPACE"),
        ("default", "../../secrets/x", "K8S_POD_NAME"),
        ("default", "p/status", "K8S_POD_NAME"),
        ("default", "P", "K8S_POD_NAME"),
        ("default", ".".join(["b" * 63] * 3 + ["c" * 62]), "K8S_POD_NAME"),  # 254
        ("default", "a..b", "K8S_POD_NAME"),
        ("default", "p?watch=1", "K8S_POD_NAME"),
        ("default", "p\n", "K8S_POD_NAME"),
    ],
)
def test_other_names_are_code_4_naming_cni_args(namespace: str, name: str, field: str) -> None:
    with pytest.raises(CNIError) as exc:
        PodIdentity.from_request(request(namespace, name))
    assert exc.value.code == INVALID_ENV
    value = namespace if field == "K8S_POD_NAMESPACE" else name
    assert exc.value.msg.startswith(f"CNI_ARGS {field} {value!r} is not a Kubernetes")


def test_absent_names_still_mean_no_pod() -> None:
    assert PodIdentity.from_request(CNIRequest("ADD", "c1", "/x", "eth0")) is None


class NoCalls:
    """Executor and API that fail the test when anything reaches them."""

    def __call__(
        self, plugin_type: str, command: str, conf: dict[str, Any], request: CNIRequest
    ) -> dict[str, Any]:
        raise AssertionError(f"plugin {plugin_type} was run for {command}")

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        raise AssertionError(f"the API was asked for {namespace}/{name}")

    def get_nad(self, namespace: str, name: str) -> dict[str, Any] | None:
        raise AssertionError("the API was asked for a NAD")

    def patch_pod_status_annotations(
        self, namespace: str, name: str, annotations: dict[str, str | None]
    ) -> dict[str, Any] | None:
        raise AssertionError("the API was patched")


def engine(tmp_path: Path) -> Engine:
    cfg = parse_config(
        {
            "cniVersion": "1.0.0",
            "name": "multus",
            "type": "pymultus",
            "cniDir": str(tmp_path / "cache"),
            "delegates": [{"cniVersion": "1.0.0", "name": "kindnet", "type": "ptp"}],
        }
    )
    fake = NoCalls()
    return Engine(cfg, fake, DelegateCache(cfg.cni_dir), fake, Logger("panic", "", False, {}))


def test_add_with_a_bad_name_touches_nothing(tmp_path: Path) -> None:
    with pytest.raises(CNIError) as exc:
        engine(tmp_path).add(request("default", "../x"))
    assert exc.value.code == INVALID_ENV
    assert "CNI_ARGS K8S_POD_NAME" in exc.value.msg
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_del_with_a_bad_name_and_no_cache_still_succeeds(tmp_path: Path) -> None:
    # A sandbox must never get stuck: DEL logs and succeeds with nothing to clean.
    engine(tmp_path).delete(request("default", "../x").with_(command="DEL"))
