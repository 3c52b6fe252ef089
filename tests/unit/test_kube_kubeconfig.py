"""Reading kubeconfigs (JSON directly, YAML with PyYAML) and kubeconfig semantics."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pymultus.cni.errors import INVALID_CONFIG, CNIError
from pymultus.kube.kubeconfig import (
    ClusterAccess,
    in_cluster,
    load_kubeconfig,
    parse_document,
)
from pymultus.kube.kubeconfig import _b64 as kubeconfig_b64

CA_PEM = b"-----BEGIN CERTIFICATE-----\nMIIBdummy\n-----END CERTIFICATE-----\n"
CA_B64 = base64.b64encode(CA_PEM).decode()
CERT_B64 = base64.b64encode(b"client-cert").decode()
KEY_B64 = base64.b64encode(b"client-key").decode()

# Realistic kubeconfigs, written the way their tools write them.
KUBECTL_MULTI = f"""apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {CA_B64}
    server: https://192.168.1.10:6443
  name: kubernetes
- cluster:
    insecure-skip-tls-verify: true
    server: https://dev.example.com:443
  name: dev
- cluster:
    certificate-authority-data: {CA_B64}
    server: https://34.1.2.3
  name: gke_proj_europe-west1_c1
contexts:
- context:
    cluster: kubernetes
    user: kubernetes-admin
  name: kubernetes-admin@kubernetes
- context:
    cluster: dev
    namespace: team-a
    user: dev-user
  name: dev
- context:
    cluster: gke_proj_europe-west1_c1
    user: gke_proj_europe-west1_c1
  name: gke_proj_europe-west1_c1
current-context: dev
kind: Config
preferences: {{}}
users:
- name: dev-user
  user:
    token: abc.def-ghi
- name: gke_proj_europe-west1_c1
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args: null
      command: gke-gcloud-auth-plugin
      env: null
      installHint: Install gke-gcloud-auth-plugin for use with kubectl by following
        https://cloud.google.com/blog/products/containers-kubernetes/kubectl-auth-changes-in-gke
      interactiveMode: IfAvailable
      provideClusterInfo: true
- name: kubernetes-admin
  user:
    client-certificate-data: {CERT_B64}
    client-key-data: {KEY_B64}
"""

KIND = f"""apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {CA_B64}
    server: https://127.0.0.1:38421
  name: kind-kind
contexts:
- context:
    cluster: kind-kind
    user: kind-kind
  name: kind-kind
current-context: kind-kind
kind: Config
preferences: {{}}
users:
- name: kind-kind
  user:
    client-certificate-data: {CERT_B64}
    client-key-data: {KEY_B64}
"""

# The shape Multus' DaemonSet entrypoint writes into /etc/cni/net.d/multus.d/.
MULTUS_GENERATED = f"""# Kubeconfig file for Multus CNI plugin.
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://[10.96.0.1]:443
    certificate-authority-data: {CA_B64}
users:
- name: multus
  user:
    token: "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJzeXN0ZW0ifQ.c2ln"
contexts:
- name: multus-context
  context:
    cluster: local
    user: multus
current-context: multus-context
"""

IN_CLUSTER_STYLE = """---
apiVersion: v1
kind: Config
clusters:
  - name: in-cluster
    cluster:
      certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
      server: 'https://kubernetes.default.svc:443'
users:
  - name: sa   # the pod's service account
    user:
      tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
contexts:
  - name: default
    context: {cluster: in-cluster, user: sa}
"""

HAND_WRITTEN = """# hand-written, with comments and odd spacing
apiVersion: v1
kind: Config

clusters:
-   name: c       # four-space item
    cluster:
        server:   "http://10.0.0.1:8080"   # plain http
        insecure-skip-tls-verify: false
users:
- name: u
  user:
    client-certificate: certs/client.crt
    client-key: ./certs/client.key
contexts:
- name: ctx
  context:
    cluster: c
    user: u
    namespace: 'kube-system'
current-context: "ctx"
extensions: []
"""

JSON_KUBECONFIG = json.dumps(
    {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://h:6443"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    },
    indent=2,
)

KUBECONFIGS = {
    "kubectl-multi": KUBECTL_MULTI,
    "kind": KIND,
    "multus-generated": MULTUS_GENERATED,
    "in-cluster-style": IN_CLUSTER_STYLE,
    "hand-written": HAND_WRITTEN,
    "json": JSON_KUBECONFIG,
}


@pytest.mark.parametrize("name", sorted(KUBECONFIGS))
def test_kubeconfigs_read_as_pyyaml_reads_them(name: str) -> None:
    text = KUBECONFIGS[name]
    assert parse_document(text, name) == yaml.safe_load(text)


def test_the_installers_json_is_read_without_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    """A JSON kubeconfig (what pymultus-install writes) never reaches PyYAML."""
    import builtins

    real_import = builtins.__import__

    def no_yaml(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "yaml":
            raise AssertionError("PyYAML imported for a JSON kubeconfig")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_yaml)
    assert parse_document(JSON_KUBECONFIG, "k") == json.loads(JSON_KUBECONFIG)


def test_yaml_without_pyyaml_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml -> ImportError
    with pytest.raises(CNIError) as info:
        parse_document(KIND, "/etc/kube.conf")
    assert info.value.code == INVALID_CONFIG
    assert "/etc/kube.conf" in info.value.msg and "PyYAML" in info.value.msg
    assert "JSON" in info.value.details


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a: [1,\n", "not valid YAML"),
        ("a: 'open\n", "not valid YAML"),
        ('{"a": }', "not valid JSON"),
        ('{"a": 1} x', "not valid JSON"),
    ],
)
def test_broken_documents_name_file_and_line(text: str, words: str) -> None:
    with pytest.raises(CNIError) as info:
        parse_document(text, "/etc/kube.conf")
    assert info.value.code == INVALID_CONFIG
    assert "/etc/kube.conf" in info.value.msg and words in info.value.msg
    assert "line" in info.value.msg


def test_deep_nesting_is_invalid_config() -> None:
    for text in ("{" + '"a": {' * 100_000 + "}" * 100_001, "a: " + "[" * 100_000):
        with pytest.raises(CNIError) as info:
            parse_document(text, "f")
        assert info.value.code == INVALID_CONFIG


def test_installer_kubeconfig_is_json_and_loads(tmp_path: Path) -> None:
    from pymultus.install.generate import kubeconfig_text

    text = kubeconfig_text("https://10.0.0.1:443", CA_B64, "tok")
    json.loads(text)  # JSON, so the CNI path needs no YAML parser
    access = load_kubeconfig(write(tmp_path, text))
    assert access.server == "https://10.0.0.1:443" and access.token == "tok"
    assert access.ca_data == CA_PEM


# ---- kubeconfig semantics ------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "kubeconfig") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_load_current_context(tmp_path: Path) -> None:
    access = load_kubeconfig(write(tmp_path, KUBECTL_MULTI))
    assert access == ClusterAccess(
        server="https://dev.example.com:443", insecure=True, token="abc.def-ghi", namespace="team-a"
    )


def test_load_client_certificate_data(tmp_path: Path) -> None:
    access = load_kubeconfig(write(tmp_path, KIND))
    assert access.server == "https://127.0.0.1:38421"
    assert access.ca_data == CA_PEM
    assert access.client_cert_data == b"client-cert" and access.client_key_data == b"client-key"
    assert access.token is None and access.insecure is False


def test_load_multus_generated(tmp_path: Path) -> None:
    access = load_kubeconfig(write(tmp_path, MULTUS_GENERATED))
    assert access.server == "https://[10.96.0.1]:443"
    assert access.token is not None and access.token.startswith("eyJ")
    assert access.ca_data == CA_PEM


def test_only_context_without_current_context(tmp_path: Path) -> None:
    access = load_kubeconfig(write(tmp_path, IN_CLUSTER_STYLE))
    assert access.server == "https://kubernetes.default.svc:443"
    assert access.ca_file == "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
    assert access.token_file == "/var/run/secrets/kubernetes.io/serviceaccount/token"


def test_relative_paths_resolve_against_the_kubeconfig_dir(tmp_path: Path) -> None:
    access = load_kubeconfig(write(tmp_path, HAND_WRITTEN))
    assert access.server == "http://10.0.0.1:8080"
    assert access.client_cert_file == str(tmp_path / "certs/client.crt")
    assert access.client_key_file == str(tmp_path / "./certs/client.key")
    assert access.namespace == "kube-system" and access.insecure is False


def test_json_kubeconfig(tmp_path: Path) -> None:
    access = load_kubeconfig(write(tmp_path, JSON_KUBECONFIG))
    assert access.server == "https://h:6443" and access.token == "t"


def _replace(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (_replace(MULTUS_GENERATED, "current-context: multus-context", "current-context: nope"),
         "current-context 'nope' is not in contexts"),
        (_replace(MULTUS_GENERATED, "    cluster: local\n", "    cluster: other\n"),
         "names cluster 'other', which is not in clusters"),
        (_replace(MULTUS_GENERATED, "    user: multus\n", "    user: ghost\n"),
         "names user 'ghost'"),
        (_replace(MULTUS_GENERATED, "    server: https://[10.96.0.1]:443\n", ""),
         "cluster 'local' has no 'server'"),
        (_replace(MULTUS_GENERATED, f"certificate-authority-data: {CA_B64}",
                  "certificate-authority-data: not-base64!"), "not valid base64"),
        (_replace(KUBECTL_MULTI, "current-context: dev\n", ""),
         "no current-context and 3 contexts"),
        (_replace(KUBECTL_MULTI, "current-context: dev",
                  "current-context: gke_proj_europe-west1_c1"), "authenticates with 'exec'"),
        (_replace(KIND, f"    client-key-data: {KEY_B64}\n", ""), "no client-key"),
        ("- just\n- a list\n", "must be a mapping"),
        ("clusters: nope\ncontexts:\n- name: c\n  context: {cluster: k}\n",
         "'clusters' must be a list"),
        ("contexts:\n- context: {}\n", "contexts[0] needs a 'name'"),
    ],
)  # fmt: skip
def test_kubeconfig_errors_name_file_and_key(tmp_path: Path, text: str, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CNIError) as info:
        load_kubeconfig(path)
    assert info.value.code == INVALID_CONFIG
    assert path in info.value.msg and words in info.value.msg, info.value.msg


def test_missing_kubeconfig_file(tmp_path: Path) -> None:
    with pytest.raises(CNIError) as info:
        load_kubeconfig(str(tmp_path / "absent"))
    assert info.value.code == INVALID_CONFIG and "absent" in info.value.msg


# ---- in-cluster -----------------------------------------------------------------------------


def test_in_cluster(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("t")
    (tmp_path / "ca.crt").write_bytes(CA_PEM)
    (tmp_path / "namespace").write_text("kube-system\n")
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    access = in_cluster(env, sa_dir=str(tmp_path))
    assert access == ClusterAccess(
        server="https://10.96.0.1:443",
        ca_file=str(tmp_path / "ca.crt"),
        token_file=str(tmp_path / "token"),
        namespace="kube-system",
    )
    v6 = in_cluster({**env, "KUBERNETES_SERVICE_HOST": "fd00::1"}, sa_dir=str(tmp_path))
    assert v6 is not None and v6.server == "https://[fd00::1]:443"


@pytest.mark.parametrize(
    "env",
    [{}, {"KUBERNETES_SERVICE_HOST": "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT": "443"},
     {"KUBERNETES_SERVICE_HOST": "", "KUBERNETES_SERVICE_PORT": "443"}],
)  # fmt: skip
def test_not_in_cluster(env: dict[str, str], tmp_path: Path) -> None:
    assert in_cluster(env, sa_dir=str(tmp_path)) is None


def test_in_cluster_without_token_is_an_error(tmp_path: Path) -> None:
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    with pytest.raises(CNIError) as info:
        in_cluster(env, sa_dir=str(tmp_path))
    assert info.value.code == INVALID_CONFIG and "token" in info.value.msg


def test_in_cluster_without_ca_leaves_ca_unset(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("t")
    env = {"KUBERNETES_SERVICE_HOST": "h", "KUBERNETES_SERVICE_PORT": "6443"}
    access = in_cluster(env, sa_dir=str(tmp_path))
    assert access is not None and access.ca_file is None and access.namespace is None


@pytest.mark.parametrize(
    "value",
    ["aGVsbG8=", "aGVsbG8", "aGVs bG8=", "aGVsbG8==", "a", "", "é", "aGVs\nbG8=", "YQ==YQ=="],
)
def test_base64_fields_decode_as_b64decode_validate(value: str) -> None:
    """_b64 runs binascii (base64 costs ~9 ms of imports): same bytes, same refusals."""
    try:
        expected: bytes | None = base64.b64decode(value, validate=True) if value else None
    except ValueError:
        expected = None
        with pytest.raises(CNIError, match="not valid base64"):
            kubeconfig_b64(value, "field", "/k")
        return
    assert kubeconfig_b64(value, "field", "/k") == expected
