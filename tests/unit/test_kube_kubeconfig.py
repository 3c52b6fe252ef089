"""The kubeconfig YAML-subset reader (checked against PyYAML) and kubeconfig semantics."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pymultus.cni.errors import INVALID_CONFIG, CNIError
from pymultus.kube.kubeconfig import (
    ClusterAccess,
    in_cluster,
    load_kubeconfig,
    parse_yaml,
    resolve_plain,
)

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
def test_kubeconfigs_parse_like_pyyaml(name: str) -> None:
    text = KUBECONFIGS[name]
    assert parse_yaml(text, name) == yaml.safe_load(text)


YAML_CASES = [
    "a: 1\nb: -2\nc: 0x1f\nd: 017\ne: 1_000\nf: 0b101\ng: 1:30\n",
    "a: 1.5\nb: -.5e+3\nc: .inf\nd: -.Inf\ne: 1.\n",
    "a: yes\nb: No\nc: on\nd: OFF\ne: true\nf: False\ng: y\nh: n\n",
    "a: ~\nb: null\nc:\nd: Null\n",
    "a: 'it''s'\nb: \"tab\\there \\u00e9 \\x41 \\\\ \\\"\"\nc: '#x'\nd: a#b\ne: x # c\n",
    "a: https://h:6443/path?q=1\nb: a:b\nc: -x\nd: 1e3\ne: 2024-01-01\n",
    "l:\n- 1\n- - 2\n  - 3\n-\n  k: v\n- k2: v2\n  k3: [1, 2]\n- {}\n- []\n- \n",
    "a:\n  b:\n    c:\n    - d: 1\n      e: 2\n",
    "lit: |\n  one\n   two\n\n  three\n\nfold: >\n  a\n  b\n\n  c\n    d\n  e\nk: v\n",
    "s: |-\n  strip\n\nk: |+\n  keep\n\n\nz: >-\n  x\n  y\n",
    "'quoted key': 1\n\"dq key\": 2\nplain key: 3\n",
    "a: 1\na: 2\n",
    "---\na: 1\n...\n",
    "# only a comment\n",
    "",
    "top\n",
    "- a\n- b\n",
    "k:\n  value on the next line\n",
    "k: first\n  second\n\n  third\n",
    'k: "a\n  b \\\n  c\n\n  d"\n',
    "k: 'a\n\n  b'\n",
    "\ufeffa: 1\n",
    "a: 1\r\nb:\r\n- x\r\n",
    "a: {b: 1, c: [x, 'y', \"z\"], d: {}, e: , f}\nb: [ ]\nc: {k: v} # comment\n",
    'a: {"json": [1, 2.5, true, null, "s\\u00e9"]}\n',
]


@pytest.mark.parametrize("text", YAML_CASES)
def test_yaml_subset_matches_pyyaml(text: str) -> None:
    expected = yaml.safe_load(text)
    got = parse_yaml(text)
    if isinstance(expected, dict) and "2024" in text:
        expected["e"] = "2024-01-01"  # timestamps stay strings here (PyYAML makes dates)
    assert got == expected


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("a: &anchor 1\n", 1, "anchors"),
        ("a: *ref\n", 1, "anchors"),
        ("a: !!str 1\n", 1, "tags"),
        ("a: 1\n---\nb: 2\n", 2, "several YAML documents"),
        ("a:\n\tb: 1\n", 2, "tab"),
        ("? complex\n: x\n", 1, "complex mapping keys"),
        ("a: 1\n  b: 2\n", 2, "': '"),
        ("a:\n  b: 1\n c: 2\n", 3, "unexpected"),
        ("a: [1,\n  2]\n", 1, "closed on the same line"),
        ("a: {b: 1} x\n", 1, "after a flow collection"),
        ("a: [b: 1]\n", 1, "single-pair mappings"),
        ("a: 'open\n", 1, "never closed"),
        ("a: x: y\n", 1, "': '"),
        ("a: - b\n", 1, "list cannot start"),
        ("%YAML 1.1\n---\na: 1\n", 1, "directives"),
        ("- a\nb: 1\n", 2, "unexpected"),
        ("a: |x\n  t\n", 1, "block scalar header"),
        ("<<: {}\n", 1, "merge keys"),
        ('{"a": }', 1, "looks like JSON"),
    ],
)
def test_unsupported_or_broken_yaml_names_file_and_line(text: str, line: int, words: str) -> None:
    with pytest.raises(CNIError) as info:
        parse_yaml(text, "/etc/kube.conf")
    assert info.value.code == INVALID_CONFIG
    assert info.value.msg.startswith(f"/etc/kube.conf:{line}:"), info.value.msg
    assert words in info.value.msg


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("-0", 0), ("+12", 12), ("0o7", "0o7"), ("1_0", 10), ("0x_1", 1), ("1:0", 60),
     ("1e3", "1e3"), ("1.0e3", "1.0e3"), ("1.0e+3", 1000.0), ("~", None), ("yes", True),
     ("Yes", True), ("yEs", "yEs"), ("2024-01-01", "2024-01-01"), ("0.", 0.0)],
)  # fmt: skip
def test_resolve_plain(text: str, value: Any) -> None:
    got = resolve_plain(text)
    assert got == value and type(got) is type(value)


def test_resolve_plain_nan() -> None:
    assert math.isnan(resolve_plain(".nan"))


# Property: whatever PyYAML writes in block style (one-line strings), we read back the same.
_text = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc"), blacklist_characters="\x85\u2028\u2029"
    ),
    max_size=12,
)
_key = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=10)
_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), _text,
    st.floats(allow_nan=False, allow_infinity=True, width=32),
)  # fmt: skip
_doc = st.recursive(
    _scalar,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_key, children, max_size=4),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_key, _doc, max_size=5))
def test_roundtrip_of_pyyaml_block_output(doc: dict[str, Any]) -> None:
    text = yaml.safe_dump(doc, default_flow_style=False, width=10**6, allow_unicode=True)
    assert parse_yaml(text) == yaml.safe_load(text)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(_key, _doc, max_size=5))
def test_roundtrip_of_pyyaml_wrapped_output(doc: dict[str, Any]) -> None:
    """Narrow widths make PyYAML fold long strings over several lines."""
    text = yaml.safe_dump(doc, default_flow_style=False, width=20, allow_unicode=False)
    assert parse_yaml(text) == yaml.safe_load(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_text_gives_a_value_or_invalid_config(text: str) -> None:
    try:
        parse_yaml(text, "f")
    except CNIError as err:
        assert err.code == INVALID_CONFIG and err.msg.startswith("f:")


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
