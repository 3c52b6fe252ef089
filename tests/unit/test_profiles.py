"""Meta-plugin profiles (harness/profiles.py) and scenario placeholders: pure data,
validation, and the refusals a run makes before anything starts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness import cli
from harness.profiles import (
    BUILTIN,
    ProfileError,
    builtin,
    choose,
    expand,
    from_document,
    load_file,
    resolve_binaries,
    to_document,
    validate,
)
from harness.scenario.loader import ScenarioError, load_scenario
from harness.scenario.placeholders import PlaceholderError, names, substitute

FOREIGN = Path(__file__).resolve().parents[1] / "plugins" / "foreign-meta"


def executable(tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtin_profiles_are_valid_and_round_trip(name: str) -> None:
    profile = BUILTIN[name]
    assert validate(profile) == []
    assert from_document(to_document(profile)) == profile


def test_multus_thick_is_laid_out_as_the_reference_daemonset() -> None:
    # deployments/multus-daemonset-thick.yml (v4.1.4): config in multus.d, auto
    # config generation, the shim named multus-shim, socket multus.sock.
    p = builtin("multus-thick")
    assert p.daemon_config == "/etc/cni/net.d/multus.d/daemon-config.json"
    assert p.daemon_config_extra["multusConfigFile"] == "auto"
    assert p.daemon_writes_conf and p.binary_name == "multus-shim"
    assert p.conf_file == "00-multus.conf" and p.socket_name == "multus.sock"
    assert p.daemon_env["MULTUS_NODE_NAME"] == "{nodeName}"
    assert p.cache_dir == "/var/lib/cni/multus"


def test_foreign_profile_files_load() -> None:
    thin = load_file(str(FOREIGN / "foreign-thin.yaml"))
    thick = load_file(str(FOREIGN / "foreign-thick.yaml"))
    assert (thin.form, thin.cni_type, thin.cache_dir) == (
        "thin",
        "foreign-meta",
        "/var/lib/cni/foreign-meta",
    )
    assert thick.form == "thick" and thick.binary_name == "foreign-meta-shim"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "a mapping"),
        ({"name": "x"}, "missing required key"),
        ({"name": "x", "form": "thin", "implementation": "foreign", "cniType": "x",
          "confFile": "00-x.conf", "cacheDir": "/c", "colour": 1}, "unknown key 'colour'"),
        ({"name": "x", "form": "fat", "implementation": "foreign", "cniType": "x",
          "confFile": "00-x.conf", "cacheDir": "/c"}, "form must be one of"),
        ({"name": "x", "form": "thin", "implementation": "foreign", "cniType": "../x",
          "confFile": "00-x.conf", "cacheDir": "/c"}, "plain file name"),
        ({"name": "x", "form": "thick", "implementation": "foreign", "cniType": "x",
          "confFile": "00-x.conf", "cacheDir": "/c"}, "a thick profile needs daemonConfig"),
        ({"name": "x", "form": "thick", "implementation": "foreign", "cniType": "x",
          "confFile": "00-x.conf", "cacheDir": "/c", "daemonConfig": "/d.json",
          "socketDir": "{nowhere}", "socketName": "s.sock"}, "unknown template {nowhere}"),
    ],
)  # fmt: skip
def test_bad_profile_documents_are_refused(doc: object, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        from_document(doc, where="f.yaml")


def test_bad_profile_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ProfileError, match=str(bad)):
        load_file(str(bad))
    with pytest.raises(ProfileError, match="No such file"):
        load_file(str(tmp_path / "missing.yaml"))


def test_choose_mode_alias_and_contradiction() -> None:
    assert choose(mode="thick").name == "pymultus-thick"
    assert choose().name == "pymultus-thin"
    assert choose("multus-thin").name == "multus-thin"
    with pytest.raises(ProfileError, match="contradicts"):
        choose("multus-thin", mode="thick")
    with pytest.raises(ProfileError, match="unknown profile"):
        choose("calico")


def test_foreign_thick_never_falls_back_to_pymultus(tmp_path: Path) -> None:
    daemon, shim = executable(tmp_path, "d"), executable(tmp_path, "s")
    with pytest.raises(ProfileError, match="--daemon and --shim"):
        resolve_binaries(builtin("multus-thick"))
    with pytest.raises(ProfileError, match="--shim"):
        resolve_binaries(builtin("multus-thick"), daemon=daemon)
    got = resolve_binaries(builtin("multus-thick"), daemon=daemon, shim=shim)
    assert got.daemon == (daemon,) and got.shim == shim


def test_pymultus_profiles_refuse_another_binary(tmp_path: Path) -> None:
    multus = executable(tmp_path, "multus")
    with pytest.raises(ProfileError, match="not be run"):
        resolve_binaries(builtin("pymultus-thick"), meta_plugin=multus)
    with pytest.raises(ProfileError, match="not named pymultus"):
        resolve_binaries(builtin("pymultus-thin"), meta_plugin=multus)
    with pytest.raises(ProfileError, match="thin"):
        resolve_binaries(builtin("multus-thin"), meta_plugin=multus, daemon=multus)
    with pytest.raises(ProfileError, match="not an executable"):
        resolve_binaries(builtin("multus-thin"), meta_plugin=str(tmp_path / "none"))
    assert resolve_binaries(builtin("pymultus-thick"), python="/py").daemon == (
        "/py",
        "-m",
        "pymultus.daemon",
    )


def test_expand_fills_templates_recursively() -> None:
    values = {"nodeName": "node-1", "socketDir": "/s"}
    assert expand({"a": ["{nodeName}", 3], "b": "{socketDir}/x"}, values) == {
        "a": ["node-1", 3],
        "b": "/s/x",
    }


def test_cli_refuses_what_it_cannot_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    multus = executable(tmp_path, "multus")
    scenario = str(Path(__file__).resolve().parents[2] / "scenarios" / "quickstart.yaml")
    assert cli.main(["run", scenario, "--profile", "multus-thick", "--meta-plugin", multus]) == 2
    assert "--daemon and --shim" in capsys.readouterr().err
    assert cli.main(["run", scenario, "--mode", "thick", "--meta-plugin", multus]) == 2
    assert "pymultus's daemon" in capsys.readouterr().err
    assert cli.main(["run", scenario, "--profile", "multus-thin", "--mode", "thick"]) == 2
    assert "contradicts" in capsys.readouterr().err


# ------------------------------------------------------------- placeholders
def test_placeholders_substitute_and_name_unknown_line() -> None:
    assert substitute(
        "a: {{ cacheDir }}/x\nb: {{cniType}}", {"cacheDir": "/c", "cniType": "t"}
    ) == ("a: /c/x\nb: t")
    assert names("{{ a }} {{b}} {{ a }}") == ["a", "b"]
    with pytest.raises(PlaceholderError) as info:
        substitute("x\ny: {{ nope }}\n", {"cacheDir": "/c"})
    assert info.value.line == 2 and "nope" in info.value.message


def test_scenario_placeholders_come_from_the_profile(tmp_path: Path) -> None:
    text = (
        "name: p\nclass: spec\ncovers: [cni-del]\ncluster: {nodes: 1}\n"
        'steps:\n  - removeFile: {path: "{{ cacheDir }}/x"}\n'
    )
    path = tmp_path / "s.yaml"
    path.write_text(text)
    scenario = load_scenario(str(path), builtin("multus-thin").placeholders())
    assert scenario.data["steps"][0]["removeFile"]["path"] == "/var/lib/cni/multus/x"
    default = load_scenario(str(path))
    assert default.data["steps"][0]["removeFile"]["path"] == "/var/lib/cni/pymultus/x"
    path.write_text(text.replace("cacheDir", "cacheDirectory"))
    with pytest.raises(ScenarioError, match=r"s\.yaml:6: unknown placeholder"):
        load_scenario(str(path))


def test_no_scenario_hard_codes_a_plugin_cache_dir() -> None:
    root = Path(__file__).resolve().parents[2] / "scenarios"
    offenders = [
        p.name
        for p in sorted(root.glob("*.yaml"))
        if "/var/lib/cni/pymultus" in p.read_text() or "/var/lib/cni/multus" in p.read_text()
    ]
    assert offenders == []
    assert os.path.isdir(root)
