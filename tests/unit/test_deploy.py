"""deploy/: the manifests are valid, least-privileged and consistent with the code.

No cluster here (see /work/shared/reference/machine.md): the CRD's schema is
checked as JSON Schema and against the NAD fixtures, RBAC against the exact
rule set the code needs, and the DaemonSets' arguments are parsed by the
real argument parsers of the programs they start.
"""

from __future__ import annotations

import importlib.util
import json
import os
from typing import Any

import jsonschema
import pytest
import yaml

from pymultus.daemon.main import parser as daemon_parser
from pymultus.daemon.overlay import split_daemon_config
from pymultus.install.main import parser as install_parser

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")


def load(rel: str) -> list[dict[str, Any]]:
    with open(os.path.join(DEPLOY, rel)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def kustomize(directory: str) -> list[dict[str, Any]]:
    """A minimal kustomize: resources (files and directories), recursively."""
    (k,) = load(os.path.join(directory, "kustomization.yaml"))
    docs: list[dict[str, Any]] = []
    for resource in k.get("resources", []):
        rel = os.path.normpath(os.path.join(directory, resource))
        assert os.path.exists(os.path.join(DEPLOY, rel)), f"{directory}: missing {resource}"
        docs += kustomize(rel) if os.path.isdir(os.path.join(DEPLOY, rel)) else load(rel)
    for generator in k.get("configMapGenerator", []):
        for name in generator["files"]:
            assert os.path.exists(os.path.join(DEPLOY, directory, name))
    return docs


def crd_schema() -> dict[str, Any]:
    (crd,) = load("base/crd.yaml")
    (version,) = crd["spec"]["versions"]
    assert version["name"] == "v1" and version["served"] and version["storage"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def test_crd_names_follow_the_npwg_spec() -> None:
    (crd,) = load("base/crd.yaml")
    assert crd["metadata"]["name"] == "network-attachment-definitions.k8s.cni.cncf.io"
    assert crd["spec"]["group"] == "k8s.cni.cncf.io"
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["names"]["kind"] == "NetworkAttachmentDefinition"
    assert "net-attach-def" in crd["spec"]["names"]["shortNames"]


def test_crd_schema_is_a_valid_structural_schema() -> None:
    schema = crd_schema()
    jsonschema.Draft7Validator.check_schema(schema)

    def structural(node: dict[str, Any], where: str) -> None:
        assert "type" in node, f"{where}: every node of a structural schema has a type"
        for name, child in (node.get("properties") or {}).items():
            structural(child, f"{where}.{name}")

    structural(schema, "openAPIV3Schema")


def fixture_nads() -> list[dict[str, Any]]:
    out = []
    for name in sorted(os.listdir(os.path.join(ROOT, "fixtures", "nads"))):
        with open(os.path.join(ROOT, "fixtures", "nads", name)) as f:
            fixture = yaml.safe_load(f)
        out.append(
            {
                "apiVersion": "k8s.cni.cncf.io/v1",
                "kind": "NetworkAttachmentDefinition",
                "metadata": {"name": fixture["name"]},
                "spec": {"config": json.dumps(fixture["config"])},
            }
        )
    return out


@pytest.mark.parametrize("nad", fixture_nads(), ids=lambda n: n["metadata"]["name"])
def test_fixture_nads_validate_against_the_crd(nad: dict[str, Any]) -> None:
    jsonschema.validate(nad, crd_schema())


def test_crd_rejects_a_config_that_is_not_a_string() -> None:
    bad = {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
           "metadata": {"name": "x"}, "spec": {"config": {"type": "macvlan"}}}  # fmt: skip
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, crd_schema())


def test_rbac_is_exactly_what_the_code_needs() -> None:
    docs = {d["kind"]: d for d in load("base/rbac.yaml")}
    rules = {
        (tuple(r["apiGroups"]), tuple(r["resources"]), tuple(sorted(r["verbs"])))
        for r in docs["ClusterRole"]["rules"]
    }
    assert rules == {
        (("",), ("pods",), ("get", "list", "watch")),
        (("",), ("pods/status",), ("patch",)),
        (("k8s.cni.cncf.io",), ("network-attachment-definitions",), ("get", "list", "watch")),
        (("", "events.k8s.io"), ("events",), ("create",)),
    }
    binding = docs["ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == docs["ClusterRole"]["metadata"]["name"]
    (subject,) = binding["subjects"]
    assert subject["name"] == docs["ServiceAccount"]["metadata"]["name"]
    assert subject["namespace"] == docs["ServiceAccount"]["metadata"]["namespace"]


def daemonset(mode: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    docs = kustomize(mode)
    (ds,) = [d for d in docs if d["kind"] == "DaemonSet"]
    return ds, docs


@pytest.mark.parametrize("mode", ["thin", "thick"])
def test_daemonset_is_consistent(mode: str) -> None:
    ds, docs = daemonset(mode)
    spec = ds["spec"]["template"]["spec"]
    (sa,) = [d for d in docs if d["kind"] == "ServiceAccount"]
    assert spec["serviceAccountName"] == sa["metadata"]["name"]
    assert ds["metadata"]["namespace"] == sa["metadata"]["namespace"]
    selector = ds["spec"]["selector"]["matchLabels"]
    labels = ds["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items()
    volumes = {v["name"] for v in spec["volumes"]}
    for container in spec["containers"]:
        resources = container["resources"]
        assert {"cpu", "memory"} <= resources["requests"].keys(), container["name"]
        assert "memory" in resources["limits"], container["name"]
        for mount in container["volumeMounts"]:
            assert mount["name"] in volumes, f"{container['name']}: {mount['name']}"
    install = next(c for c in spec["containers"] if c["name"] == "install")
    args = install_parser().parse_args(install["args"])
    assert args.mode == mode


def test_thick_daemon_arguments_config_and_socket_agree() -> None:
    ds, _ = daemonset("thick")
    spec = ds["spec"]["template"]["spec"]
    install = next(c for c in spec["containers"] if c["name"] == "install")
    daemon = next(c for c in spec["containers"] if c["name"] == "daemon")
    install_args = install_parser().parse_args(install["args"])
    daemon_args = daemon_parser().parse_args(daemon["args"])
    # The daemon reads the config the installer writes (host conf dir, same path in both).
    assert daemon_args.config == f"{install_args.host_conf_dir}/pymultus.d/daemon-config.json"
    with open(os.path.join(DEPLOY, "thick", "daemon-config.json")) as f:
        options, multus = split_daemon_config(json.load(f))
    assert options.socket_dir == install_args.socket_dir
    mounts = {m["mountPath"]: m["name"] for m in daemon["volumeMounts"]}
    hostpaths = {v["name"]: v.get("hostPath", {}).get("path") for v in spec["volumes"]}
    # Paths in the config must be the host's paths, mounted at the same place.
    for path in (options.socket_dir, multus["binDir"], "/etc/cni/net.d", "/var/lib/cni"):
        assert hostpaths[mounts[path]] == path
    limit = daemon["resources"]["limits"]["memory"]
    assert limit.endswith("Mi") and int(limit[:-2]) >= 80  # the burst target is 80 MiB
    assert daemon["readinessProbe"]


def test_dockerfile_copies_the_package_and_starts_the_installer() -> None:
    with open(os.path.join(DEPLOY, "Dockerfile")) as f:
        text = f.read()
    assert "COPY pymultus /opt/pymultus/pymultus" in text
    (entry,) = [line for line in text.splitlines() if line.startswith("ENTRYPOINT")]
    argv = json.loads(entry.split(" ", 1)[1])
    assert argv[1:] == ["-m", "pymultus.install.main"]
    assert importlib.util.find_spec(argv[2]) is not None


def test_dockerfile_installs_the_daemons_libraries_with_pyprojects_floors() -> None:
    """The image's pip install names the libraries the daemon and the pod-resources
    client import, each with the [project] dependency's own version floor."""
    import tomllib

    with open(os.path.join(DEPLOY, "Dockerfile")) as f:
        (line,) = [x for x in f.read().splitlines() if x.startswith("RUN pip install")]
    wanted = {req.strip('"') for req in line.split()[3:] if not req.startswith("-")}
    with open(os.path.join(os.path.dirname(DEPLOY), "pyproject.toml"), "rb") as f:
        declared = set(tomllib.load(f)["project"]["dependencies"])
    assert wanted <= declared, sorted(wanted - declared)
    names = {req.split(">=")[0].lower() for req in wanted}
    assert {"prometheus_client", "grpcio", "protobuf", "pyyaml"} <= names


def test_top_level_kustomization_is_thin() -> None:
    docs = kustomize(".")
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(
        ["CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
         "DaemonSet"]
    )  # fmt: skip
