"""Input sizes are bounded, with code 7 and a message that names the input.

Limits (pymultus/cni/limits.py): 1 MiB for the stdin configuration, a NAD's
spec.config, a conf file and a kubeconfig; 256 KiB for one pod annotation
(Kubernetes caps all of an object's annotations at 256 KiB together). JSON
nesting too deep for the decoder is a decode error (6), not a crash.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from unittest import mock

import pytest

from pymultus.cni.errors import DECODE_FAILURE, INVALID_CONFIG, CNIError
from pymultus.cni.limits import (
    MAX_ANNOTATION_BYTES,
    MAX_CONFIG_BYTES,
    MAX_FILE_BYTES,
    read_bounded,
)
from pymultus.cni.request import parse_config_bytes
from pymultus.kube.kubeconfig import load_kubeconfig
from pymultus.model.nad import find_conf_by_name, resolve_nad_config
from pymultus.model.selection import parse_default_network_annotation, parse_networks
from pymultus.thin import run


def entry(stdin: bytes) -> dict[str, object]:
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c", "CNI_NETNS": "/n", "CNI_IFNAME": "e"}
    out, err = io.StringIO(), io.StringIO()
    with mock.patch("sys.stderr", err):
        assert run(env, io.BytesIO(stdin), out, err) == 1
    assert "Traceback" not in err.getvalue()
    answer: dict[str, object] = json.loads(out.getvalue())
    return answer


def padded_config(size: int) -> bytes:
    base = {"cniVersion": "1.0.0", "delegates": [{"type": "x"}], "pad": ""}
    overhead = len(json.dumps(base))
    return json.dumps({**base, "pad": "x" * (size - overhead)}).encode()


def test_config_at_the_limit_is_parsed() -> None:
    data = padded_config(MAX_CONFIG_BYTES)
    assert len(data) == MAX_CONFIG_BYTES
    assert parse_config_bytes(data)["pad"]


def test_config_over_the_limit_is_refused_before_decoding() -> None:
    data = padded_config(MAX_CONFIG_BYTES + 1)
    with (
        mock.patch("pymultus.cni.jsonlite.loads", side_effect=AssertionError("decoded anyway")),
        pytest.raises(CNIError) as exc,
    ):
        parse_config_bytes(data)
    assert exc.value.code == INVALID_CONFIG
    assert str(MAX_CONFIG_BYTES) in exc.value.msg
    assert "stdin" in exc.value.msg


def test_oversized_stdin_through_the_entry_is_code_7() -> None:
    answer = entry(padded_config(MAX_CONFIG_BYTES + 10))
    assert answer["code"] == INVALID_CONFIG


@pytest.mark.parametrize("depth", [2_000, 100_000])
def test_deeply_nested_stdin_is_a_decode_error(depth: int) -> None:
    answer = entry(b'{"a":' + b"[" * depth + b"]" * depth + b"}")
    assert answer["code"] == DECODE_FAILURE
    assert "nested too deeply" in str(answer["msg"])


def test_annotation_over_the_limit_is_refused() -> None:
    text = "a" * (MAX_ANNOTATION_BYTES + 1)
    for parse in (
        lambda: parse_networks(text, "ns"),
        lambda: parse_default_network_annotation(text, "ns"),
    ):
        with pytest.raises(CNIError) as exc:
            parse()
        assert exc.value.code == INVALID_CONFIG
        assert "annotation" in exc.value.msg and str(MAX_ANNOTATION_BYTES) in exc.value.msg


def test_annotation_at_the_limit_is_parsed() -> None:
    item = "net-a,"
    text = (item * (MAX_ANNOTATION_BYTES // len(item)))[:-1]
    assert len(text) <= MAX_ANNOTATION_BYTES
    assert len(parse_networks(text, "ns")) == MAX_ANNOTATION_BYTES // len(item)


def test_annotation_size_counts_bytes_not_characters() -> None:
    text = "é" * (MAX_ANNOTATION_BYTES // 2 + 1)  # two bytes each in UTF-8
    with pytest.raises(CNIError):
        parse_networks(text, "ns")


def test_nad_spec_config_over_the_limit_is_refused(tmp_path: Path) -> None:
    conf = json.dumps({"type": "x", "pad": "x" * MAX_FILE_BYTES})
    nad = {"metadata": {"name": "n", "namespace": "ns"}, "spec": {"config": conf}}
    with pytest.raises(CNIError) as exc:
        resolve_nad_config(nad, str(tmp_path))
    assert exc.value.code == INVALID_CONFIG
    assert "ns/n" in exc.value.msg and "spec.config" in exc.value.msg


def test_an_oversized_conf_file_is_reported_not_read_whole(tmp_path: Path) -> None:
    big = tmp_path / "00-big.conf"
    big.write_text(json.dumps({"name": "net", "type": "x", "pad": "x" * MAX_FILE_BYTES}))
    with pytest.raises(CNIError) as exc:
        find_conf_by_name(str(tmp_path), "net")
    assert exc.value.code == INVALID_CONFIG
    assert "00-big.conf" in exc.value.msg
    # A good file of the same name after it is still found.
    (tmp_path / "01-good.conf").write_text(json.dumps({"name": "net", "type": "ok"}))
    found = find_conf_by_name(str(tmp_path), "net")
    assert found is not None and found["type"] == "ok"


def test_an_endless_kubeconfig_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CNIError) as exc:
        load_kubeconfig("/dev/zero")
    assert exc.value.code == INVALID_CONFIG
    assert "/dev/zero" in exc.value.msg


def test_read_bounded_reads_at_most_limit_plus_one(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    assert read_bounded(str(path), 10, "f") == b"x" * 10
    with pytest.raises(CNIError):
        read_bounded(str(path), 9, "f")
