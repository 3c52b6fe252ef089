"""Coverage-guided fuzz target of the whole thin CNI entry (``pymultus.thin.run``).

Run it directly for a long session (``make fuzz``)::

    PYMULTUS_FUZZ_SANDBOX=/tmp/fz .venv/bin/python tests/fuzz/fuzz_entry.py \\
        NEW_CORPUS_DIR tests/fuzz/corpus -max_total_time=600 -artifact_prefix=/tmp/

tests/fuzz/test_fuzz_entry.py runs it for a few seconds inside ``make test``
and replays every file in tests/fuzz/regressions/ through :func:`check_one`.

Input format (readable, so seeds can be written by hand): the bytes are
split on NUL into at most four parts::

    STDIN \\0 NETWORKS-ANNOTATION \\0 DEFAULT-NETWORK-ANNOTATION \\0 C CNI_ARGS

``C`` (one byte) picks CNI_COMMAND from :data:`COMMANDS` (modulo); the rest
of the last part is CNI_ARGS. Absent parts: no annotations, ADD for pod
``ns1/pod1``.

Nothing leaves the sandbox: plugins are not executed (a fake executor still
runs the real plugin lookup, then answers from a template), the Kubernetes
API is an in-memory fake (the kubeconfig is still loaded and parsed for
real), and the delegate cache and log file are forced into a private
temporary directory whatever the input says, since the input controls
``cniDir`` and ``logFile`` and this may run as root.

The invariants (the CNI entry's contract, CNI SPEC.md Section 5): exit status
0 or 1; stdout empty or one JSON object; an error has an integer spec code
other than 999 ("internal": only our bugs produce it here) and a message; an
ADD success is a valid result in the config's version; no traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
from collections.abc import Mapping
from typing import Any
from unittest import mock

COMMANDS = ("ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC", "BOGUS", "")
#: Codes a CNI error may carry (CNI SPEC.md Section 5 "Error"), 999 excluded.
SPEC_CODES = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 50, 51})
POD_NAMESPACE = "ns1"
POD_NAME = "pod1"
DEFAULT_ARGS = f"K8S_POD_NAMESPACE={POD_NAMESPACE};K8S_POD_NAME={POD_NAME};K8S_POD_UID=u1"
#: Plugin names the fake bin dir holds; "fail" and "garbage" misbehave.
FAKE_PLUGINS = ("ok", "bridge", "macvlan", "fail", "garbage")

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: fuzz
  cluster:
    server: https://127.0.0.1:1
contexts:
- name: fuzz
  context:
    cluster: fuzz
    user: fuzz
current-context: fuzz
users:
- name: fuzz
  user:
    token: fuzz-secret-token
"""


class Sandbox:
    """The private working directory every run happens in (cwd while running)."""

    def __init__(self, root: str | None = None) -> None:
        if root:
            os.makedirs(root, exist_ok=True)
            self.root = tempfile.mkdtemp(prefix="sandbox-", dir=os.path.abspath(root))
        else:
            self.root = tempfile.mkdtemp(prefix="pymultus-fuzz-")
        self.bin = os.path.join(self.root, "bin")
        self.cache = os.path.join(self.root, "cache")
        self.log = os.path.join(self.root, "log")
        os.makedirs(self.bin)
        os.makedirs(os.path.join(self.root, "confd"))
        for name in FAKE_PLUGINS:
            path = os.path.join(self.bin, name)
            with open(path, "w", encoding="utf-8"):
                pass
            os.chmod(path, 0o700)  # found by find_plugin, never executed
        with open(os.path.join(self.root, "kubeconfig.yaml"), "w", encoding="utf-8") as f:
            f.write(KUBECONFIG)
        with open(os.path.join(self.root, "confd", "10-file.conf"), "w", encoding="utf-8") as f:
            f.write('{"cniVersion": "1.0.0", "name": "file-net", "type": "ok"}')

    def reset(self) -> None:
        """Empty the cache and the log between runs (they must not grow)."""
        for directory in (self.cache,):
            if os.path.isdir(directory):
                for name in os.listdir(directory):
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(directory, name))
        with contextlib.suppress(OSError):
            os.unlink(self.log)


class FakeKube:
    """The Kubernetes API: one pod with the input's annotations, NADs by name."""

    def __init__(self, networks: str | None, default_network: str | None) -> None:
        annotations: dict[str, str] = {}
        if networks is not None:
            annotations["k8s.v1.cni.cncf.io/networks"] = networks
        if default_network is not None:
            annotations["v1.multus-cni.io/default-network"] = default_network
        self.pod = {
            "metadata": {
                "name": POD_NAME,
                "namespace": POD_NAMESPACE,
                "uid": "u1",
                "annotations": annotations,
            }
        }

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        if (namespace, name) == (POD_NAMESPACE, POD_NAME):
            copy: dict[str, Any] = json.loads(json.dumps(self.pod))
            return copy  # a fresh copy, as the API gives
        return None

    def get_nad(self, namespace: str, name: str) -> dict[str, Any] | None:
        if name.startswith("missing"):
            return None
        meta = {"name": name, "namespace": namespace}
        if name.endswith("-file"):
            return {"metadata": meta, "spec": {}}  # config from a file in confDir
        plugin = name.split("-")[0] if name.split("-")[0] in FAKE_PLUGINS else "ok"
        conf: dict[str, Any] = {"cniVersion": "1.0.0", "name": name, "type": plugin}
        if name.startswith("caps"):
            conf["capabilities"] = {"ips": True, "mac": True}
        return {"metadata": meta, "spec": {"config": json.dumps(conf)}}

    def patch_pod_status_annotations(
        self, namespace: str, name: str, annotations: dict[str, str | None]
    ) -> dict[str, Any] | None:
        return self.get_pod(namespace, name)

    def create_event(self, *args: Any, **kwargs: Any) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        # Any other API call the engine grows: answer "nothing there".
        return lambda *args, **kwargs: None


def _template_result(ifname: str, version: str) -> dict[str, Any]:
    from pymultus.cni.errors import CNIError
    from pymultus.cni.result import convert_result

    result = {
        "cniVersion": "1.0.0",
        "interfaces": [{"name": ifname, "mac": "0a:58:0a:00:00:02", "sandbox": "/x"}],
        "ips": [{"address": "10.0.0.2/24", "gateway": "10.0.0.1", "interface": 0}],
        "routes": [{"dst": "0.0.0.0/0", "gw": "10.0.0.1"}],
        "dns": {},
    }
    try:
        return convert_result(result, version)
    except CNIError:
        return result


class FakeExecutor:
    """Real plugin lookup (find_plugin on the fake bin dir), canned answers."""

    def __init__(self, bin_dir: str) -> None:
        self.bin_dir = bin_dir

    def __call__(
        self, plugin_type: str, command: str, conf: dict[str, Any], request: Any
    ) -> dict[str, Any]:
        from pymultus.cni.errors import CNIError
        from pymultus.cni.invoke import find_plugin

        path = find_plugin(plugin_type, [self.bin_dir])
        name = os.path.basename(path)
        if name == "fail":
            raise CNIError(11, f"{name}: {command} failed on purpose")
        if name == "garbage" and command == "ADD":
            return {"cniVersion": conf.get("cniVersion"), "ips": "not-a-list"}
        if command == "ADD":
            return _template_result(request.ifname, str(conf.get("cniVersion") or "0.1.0"))
        if command == "VERSION":
            return {"cniVersion": "1.0.0", "supportedVersions": ["0.4.0", "1.0.0", "1.1.0"]}
        return {}


def split_input(data: bytes) -> tuple[bytes, str | None, str | None, str, str]:
    """(stdin, networks annotation, default-network annotation, command, CNI_ARGS)."""
    parts = data.split(b"\0", 3)
    stdin = parts[0]
    networks = parts[1].decode("utf-8", "replace") if len(parts) > 1 else None
    default = parts[2].decode("utf-8", "replace") if len(parts) > 2 else None
    command, args = "ADD", DEFAULT_ARGS
    if len(parts) > 3 and parts[3]:
        command = COMMANDS[parts[3][0] % len(COMMANDS)]
        args = parts[3][1:].decode("utf-8", "replace").replace("\0", "")
    return stdin, networks, default, command, args


def run_one(sandbox: Sandbox, data: bytes) -> tuple[int, str, str, str]:
    """Run the entry on one input: (exit status, stdout, stderr, command)."""
    import pymultus.engine.resolve
    import pymultus.thin
    import pymultus.thincall
    from pymultus.kube.kubeconfig import in_cluster, load_kubeconfig
    from pymultus.log import Logger
    from pymultus.state import DelegateCache

    stdin, networks, default, command, args = split_input(data)
    kube = FakeKube(networks, default)

    def build_kube(cfg: Any, env: Mapping[str, str]) -> Any:
        # Parse the kubeconfig (or in-cluster settings) for real, talk to a fake.
        if cfg.kubeconfig:
            load_kubeconfig(cfg.kubeconfig)
            return kube
        return kube if in_cluster(env) is not None else None

    def logger(level: str = "", file: str = "", *args: Any, **kwargs: Any) -> Logger:
        # Whatever else Logger takes passes through; only the file is redirected.
        return Logger(level, sandbox.log if file else "", *args, **kwargs)

    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": "fuzzc1",
        "CNI_NETNS": "/var/run/netns/fuzz",
        "CNI_IFNAME": "eth0",
        "CNI_ARGS": args,
        "CNI_PATH": sandbox.bin,
    }
    out, err = io.StringIO(), io.StringIO()
    with contextlib.ExitStack() as stack:
        stack.enter_context(
            mock.patch.object(
                pymultus.thincall, "ProcessExecutor", lambda *a, **k: FakeExecutor(sandbox.bin)
            )
        )
        stack.enter_context(
            mock.patch.object(
                pymultus.thincall, "DelegateCache", lambda d: DelegateCache(sandbox.cache)
            )
        )
        stack.enter_context(mock.patch.object(pymultus.thincall, "Logger", logger))
        stack.enter_context(mock.patch.object(pymultus.thincall, "build_kube", build_kube))
        stack.enter_context(mock.patch.object(pymultus.engine.resolve, "READINESS_TIMEOUT", 0.0))
        stack.enter_context(contextlib.redirect_stderr(err))
        rc = pymultus.thin.run(env, io.BytesIO(stdin), out, err)
    return rc, out.getvalue(), err.getvalue(), command


def check_contract(rc: int, stdout: str, stderr: str, command: str, stdin: bytes) -> None:
    """Assert the CNI entry's contract; AssertionError says what broke."""
    from pymultus.cni.result import validate_result

    assert rc in (0, 1), f"exit status {rc}"
    assert "Traceback" not in stderr, f"traceback on stderr:\n{stderr[-2000:]}"
    lines = stdout.splitlines()
    assert len(lines) <= 1, f"more than one line on stdout: {stdout[:500]!r}"
    if rc == 1:
        assert lines, "failure without an error object on stdout"
    if not lines:
        return
    answer = json.loads(lines[0])
    assert isinstance(answer, dict), f"stdout is not an object: {lines[0][:200]}"
    if rc == 1:
        code = answer.get("code")
        assert isinstance(code, int) and code in SPEC_CODES, f"bad error code: {answer}"
        assert isinstance(answer.get("msg"), str) and answer["msg"], f"no msg: {answer}"
        return
    if command == "ADD":
        problems = validate_result(answer)
        assert not problems, f"invalid ADD result {answer}: {problems}"
        conf = json.loads(stdin)
        assert answer.get("cniVersion") == conf.get("cniVersion"), "result in another version"


def check_one(sandbox: Sandbox, data: bytes) -> None:
    sandbox.reset()
    cwd = os.getcwd()
    os.chdir(sandbox.root)  # relative paths in inputs resolve inside the sandbox
    try:
        rc, stdout, stderr, command = run_one(sandbox, data)
    finally:
        os.chdir(cwd)
    check_contract(rc, stdout, stderr, command, split_input(data)[0])
    leaked = os.listdir(sandbox.cache) if os.path.isdir(sandbox.cache) else []
    if command == "ADD" and rc == 1:
        # A failed ADD leaves nothing behind (NPWG v1.3 7.2 fail fast + rollback).
        assert not [n for n in leaked if not n.startswith(".")], f"cache leaked: {leaked}"


def main() -> None:
    import atheris

    with atheris.instrument_imports():
        import pymultus.cni.result
        import pymultus.engine
        import pymultus.kube.kubeconfig
        import pymultus.model.selection
        import pymultus.thin  # noqa: F401

    # libFuzzer ends the process without Python's atexit handlers: the caller
    # names a directory it cleans up (PYMULTUS_FUZZ_SANDBOX), else /tmp is used.
    sandbox = Sandbox(os.environ.get("PYMULTUS_FUZZ_SANDBOX"))

    def target(data: bytes) -> None:
        check_one(sandbox, data)

    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
