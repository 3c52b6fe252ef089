"""Property: the whole thin entry answers any env/stdin in protocol, never a traceback.

``pymultus.thin.run(env, stdin, stdout, stderr)`` is what the runtime sees.
CNI SPEC.md Section 5 ("Error"): a failure is exit status 1 with an error
object ``{cniVersion, code, msg[, details]}`` on stdout, the code one the spec
defines; a success is exit status 0 with a result (ADD, VERSION) or nothing.

Configs are delegates-only with a binDir and CNI_PATH that do not exist, so
no plugin can run (and Popen is patched to fail the test if one were
started); cniDir and the conf dir live in a temporary directory.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pymultus.cni.result import validate_result
from pymultus.thin import run

#: CNI SPEC.md Section 5 "Error" codes (999 is the reference libraries' "internal").
SPEC_CODES = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 50, 51})
VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0", "2.0.0", "", "x"]
COMMANDS = ["ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC", "add", "", "BOGUS"]
NOWHERE = "/nonexistent/pymultus-props-bin"
#: Keys the generator must not let random junk override (Go-style case folding).
_GUARDED = {
    "cnidir",
    "bindir",
    "confdir",
    "logfile",
    "kubeconfig",
    "readinessindicatorfile",
    "clusternetwork",
    "defaultnetworks",
}

_text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12)
_env_text = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\0"), max_size=20
)
_json_leaf = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | _text
_json = st.recursive(
    _json_leaf,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(_text, c, max_size=3),
    max_leaves=8,
)
_plugin_type = (
    st.sampled_from(["bridge", "macvlan", "../../bin/sh", "/bin/true", "", ".", "a b"]) | _text
)
_version = st.sampled_from(["1.0.0"] * 6 + VERSIONS)
_delegate = st.fixed_dictionaries(
    {"type": _plugin_type, "cniVersion": _version, "name": st.sampled_from(["net", "a-b"])},
    optional={
        "plugins": st.lists(st.fixed_dictionaries({"type": _plugin_type}), max_size=2) | _json,
        "capabilities": st.dictionaries(st.sampled_from(["ips", "mac", "portMappings"]), _json),
        "ipam": _json,
    },
)
_any_delegate = _delegate | st.dictionaries(
    st.sampled_from(["type", "cniVersion", "name", "plugins"]), _json, max_size=4
)
_junk_key = _text.filter(lambda k: k.lower() not in _GUARDED)
_config = st.fixed_dictionaries(
    {
        "cniVersion": _version,
        "delegates": st.lists(_delegate, min_size=1, max_size=3)
        | st.lists(_any_delegate, max_size=3)
        | _json,
    },
    optional={
        "name": _json,
        "type": st.just("pymultus"),
        "logLevel": st.sampled_from(["debug", "verbose", "error", "panic", "loud", ""]) | _json,
        "logToStderr": st.booleans() | _json,
        "namespaceIsolation": st.booleans() | _json,
        "globalNamespaces": st.sampled_from(["default", "a,b"]) | _json,
        "systemNamespaces": st.lists(st.sampled_from(["kube-system", "ns"])) | _json,
        "multusNamespace": st.sampled_from(["kube-system", ""]) | _json,
        "capabilities": _json,
        "runtimeConfig": _json,
        "retryDeleteOnError": st.booleans() | _json,
        "logOptions": _json,
        "auxiliaryCNIChainName": _json,
    },
).flatmap(lambda conf: st.dictionaries(_junk_key, _json, max_size=3).map(lambda j: {**j, **conf}))

_cni_args = (
    st.sampled_from(
        ["", "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p", "IgnoreUnknown=1;K8S_POD_UID=x", "bad", "=v;"]
    )
    | _env_text
)
_good_env = {"CNI_CONTAINERID": "c1", "CNI_NETNS": "/var/run/netns/x", "CNI_IFNAME": "eth0"}
# Mostly a valid environment, so that most examples get past the env checks.
_env_overrides = st.fixed_dictionaries(
    {},
    optional={
        "CNI_CONTAINERID": st.sampled_from(["abc.def-1_2", "../x", ""]) | _env_text,
        "CNI_NETNS": st.sampled_from([""]) | _env_text,
        "CNI_IFNAME": st.sampled_from(["net1", "a/b", "x" * 16, ""]) | _env_text,
        "CNI_ARGS": _cni_args,
    },
)
_env = st.tuples(
    st.sampled_from(["ADD"] * 5 + ["DEL"] * 3 + COMMANDS),
    st.one_of(st.just({}), st.just({}), st.just({}), _env_overrides),
).map(lambda pair: {**_good_env, "CNI_COMMAND": pair[0], **pair[1]})


def _stdin_for(config: Any, raw: bytes, which: int) -> bytes:
    if which == 0:
        return raw
    return json.dumps(config).encode()


def _forbid_exec(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError(f"a process was started: {args!r}")


def check_answer(rc: int, stdout: str, stderr: str, env: dict[str, str], stdin: bytes) -> None:
    assert rc in (0, 1)
    assert "Traceback" not in stderr, stderr
    lines = stdout.splitlines()
    assert len(lines) <= 1, stdout
    if rc == 1:
        assert len(lines) == 1
        error = json.loads(lines[0])
        assert error["code"] in SPEC_CODES, error
        event(f"{env['CNI_COMMAND']} -> code {error['code']}: {error['msg'][:40]}")
        assert isinstance(error["msg"], str) and error["msg"]
        assert isinstance(error["cniVersion"], str) and error["cniVersion"]
        return
    if not lines:
        assert env["CNI_COMMAND"] in ("DEL", "CHECK", "STATUS", "GC")
        return
    answer = json.loads(lines[0])
    if env["CNI_COMMAND"] == "VERSION":
        assert isinstance(answer["supportedVersions"], list)
    else:  # nothing can run, so ADD cannot succeed; anything else printed must be a result
        assert validate_result(answer) == [], answer


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    env=_env,
    config=_config,
    raw=st.binary(max_size=80),
    which=st.integers(0, 5),
    path_env=st.booleans(),
)
def test_entry_answers_in_protocol(
    env: dict[str, str], config: dict[str, Any], raw: bytes, which: int, path_env: bool
) -> None:
    with tempfile.TemporaryDirectory(prefix="pymultus-props-") as tmp:
        config = {
            **config,
            "binDir": NOWHERE,
            "cniDir": os.path.join(tmp, "cache"),
            "confDir": os.path.join(tmp, "confd"),
        }
        env = dict(env)
        if path_env:
            env["CNI_PATH"] = NOWHERE + "-2:" + NOWHERE + "-3"
        stdin = _stdin_for(config, raw, which)
        out, err = io.StringIO(), io.StringIO()
        with (
            mock.patch("subprocess.Popen", _forbid_exec),
            mock.patch("os.execve", _forbid_exec),
            mock.patch("sys.stderr", err),
        ):
            rc = run(env, io.BytesIO(stdin), out, err)
        check_answer(rc, out.getvalue(), err.getvalue(), env, stdin)
        cache = os.path.join(tmp, "cache")
        if env["CNI_COMMAND"] == "ADD" and os.path.isdir(cache):
            # A failed ADD leaves no delegate cache behind (NPWG v1.3 7.2).
            assert [n for n in os.listdir(cache) if not n.startswith(".")] == []


def test_the_generator_reaches_deep_paths() -> None:
    """A hand-picked input from the same space gets past parsing to plugin lookup."""
    with tempfile.TemporaryDirectory() as tmp:
        conf = {
            "cniVersion": "1.0.0",
            "name": "m",
            "binDir": NOWHERE,
            "cniDir": tmp,
            "delegates": [{"cniVersion": "1.0.0", "name": "d", "type": "bridge"}],
        }
        env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/x", "CNI_IFNAME": "e"}
        out, err = io.StringIO(), io.StringIO()
        with mock.patch("sys.stderr", err):
            rc = run(env, io.BytesIO(json.dumps(conf).encode()), out, err)
        assert rc == 1
        error = json.loads(out.getvalue())
        assert error["code"] == 7
        assert 'failed to find plugin "bridge"' in error["msg"]
        assert os.listdir(tmp) == []
