"""Which Kubernetes versions the real-cluster backends run, and with what images.

One table, one file: the kind backend, the GitHub Actions matrix
(``python -m harness.backends.versions --matrix``) and the docs all read it,
so adding a Kubernetes version is one line here (or one run of
``ci/update-versions.py``, which rewrites the block between the markers).

kind only guarantees that a node image works with the kind release it was
built for, and only by digest ("You must use the @sha256 digest", kind
release notes), so the table pins ``kindest/node:vX.Y.Z@sha256:...`` and
names the kind release it came from.
"""

# ruff: noqa: E501  (the pinned image references in the table are long by nature)
from __future__ import annotations

import argparse
import json
import re
import sys

# BEGIN GENERATED: ci/update-versions.py rewrites this block from kind's release notes.
KIND_VERSION = "v0.28.0"
KIND_IMAGES: dict[str, str] = {
    "1.33": "kindest/node:v1.33.1@sha256:8d866994839cd096b3590681c55a6fa4a071fdaf33be7b9660e5697d2ed13002",
    "1.32": "kindest/node:v1.32.5@sha256:36187f6c542fa9b78d2d499de4c857249c5a0ac8cc2241bef2ccd92729a7a259",
    "1.31": "kindest/node:v1.31.9@sha256:156da58ab617d0cb4f56bbdb4b493f4dc89725505347a4babde9e9544888bb92",
    "1.30": "kindest/node:v1.30.13@sha256:8673291894dc400e0fb4f57243f5fdc6e355ceaa765505e0e73941aa1b6e0b80",
}
# END GENERATED

# The reference CNI plugins installed into every node (macvlan, ipvlan, bridge ...).
CNI_PLUGINS_VERSION = "v1.6.2"
# k3s images for the k3s backend (testcontainers); k3s tags carry a "+k3sN"
# build suffix, spelled "-k3sN" in image tags.
K3S_IMAGES: dict[str, str] = {
    "1.33": "rancher/k3s:v1.33.1-k3s1",
    "1.32": "rancher/k3s:v1.32.5-k3s1",
    "1.31": "rancher/k3s:v1.31.9-k3s1",
    "1.30": "rancher/k3s:v1.30.13-k3s1",
}
# The reference meta-plugin, run as a peer in CI (reported, not gating).
REFERENCE_MULTUS_VERSION = "v4.1.4"

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.\d+)?$")


def minor(version: str) -> str:
    """``"v1.31.2"``, ``"1.31"`` -> ``"1.31"``; anything else is a ValueError."""
    match = _VERSION.match(version.strip())
    if not match:
        raise ValueError(f"--k8s-version {version!r}: expected a version like 1.31 or v1.31.2")
    return f"{match.group(1)}.{match.group(2)}"


def default_version() -> str:
    return max(KIND_IMAGES, key=_sort_key)


def _sort_key(version: str) -> tuple[int, int]:
    major, minor_ = version.split(".")
    return int(major), int(minor_)


def image_for(table: dict[str, str], version: str | None, what: str) -> str:
    key = minor(version) if version else default_version()
    if key not in table:
        known = ", ".join(sorted(table, key=_sort_key))
        raise ValueError(
            f"no {what} image for Kubernetes {key} (known: {known}); "
            "run ci/update-versions.py or pick a known version"
        )
    return table[key]


def kind_image(version: str | None) -> str:
    """The pinned kindest/node image for a Kubernetes version (default: newest)."""
    return image_for(KIND_IMAGES, version, "kindest/node")


def k3s_image(version: str | None) -> str:
    return image_for(K3S_IMAGES, version, "k3s")


def matrix_versions() -> list[str]:
    """The CI matrix's Kubernetes minors, newest first."""
    return sorted(KIND_IMAGES, key=_sort_key, reverse=True)


# ---------------------------------------------------- table maintenance (ci/)
_IMAGE_LINE = re.compile(
    r"^\s*[-*]\s*v(\d+\.\d+)\.\d+:\s*`?(kindest/node:v[0-9.]+@sha256:[0-9a-f]{64})`?\s*$"
)


def parse_release_notes(body: str) -> dict[str, str]:
    """The "Images pre-built for this release" list of a kind release: minor -> image.

    Only digest-pinned images are taken (see the module docstring)."""
    images: dict[str, str] = {}
    for line in body.splitlines():
        match = _IMAGE_LINE.match(line)
        if match:
            images.setdefault(match.group(1), match.group(2))
    return images


def render_generated_block(kind_version: str, images: dict[str, str]) -> str:
    lines = [
        "# BEGIN GENERATED: ci/update-versions.py rewrites this block from kind's release notes.",
        f'KIND_VERSION = "{kind_version}"',
        "KIND_IMAGES: dict[str, str] = {",
    ]
    for version in sorted(images, key=_sort_key, reverse=True):
        lines.append(f'    "{version}": "{images[version]}",')
    lines += ["}", "# END GENERATED"]
    return "\n".join(lines)


def replace_generated_block(source: str, block: str) -> str:
    pattern = re.compile(r"^# BEGIN GENERATED:.*?^# END GENERATED$", re.DOTALL | re.MULTILINE)
    if not pattern.search(source):
        raise ValueError("no '# BEGIN GENERATED' ... '# END GENERATED' block to replace")
    return pattern.sub(lambda _m: block, source, count=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.backends.versions")
    parser.add_argument("--matrix", action="store_true", help="print the CI matrix as JSON")
    parser.add_argument("--image", metavar="VERSION", help="print the kind image of a version")
    parser.add_argument("--kind-version", action="store_true", help="print the kind release")
    parser.add_argument(
        "--multus-version", action="store_true", help="print the reference Multus release"
    )
    parser.add_argument(
        "--node-version", metavar="VERSION", help="print the full Kubernetes version (v1.31.9)"
    )
    args = parser.parse_args(argv)
    if args.kind_version:
        print(KIND_VERSION)
        return 0
    if args.multus_version:
        print(REFERENCE_MULTUS_VERSION)
        return 0
    if args.node_version:
        try:
            image = kind_image(args.node_version)
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
        print(image.split(":", 1)[1].split("@", 1)[0])
        return 0
    if args.image:
        try:
            print(kind_image(args.image))
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
        return 0
    if args.matrix:
        print(json.dumps(matrix_versions()))
        return 0
    for version in matrix_versions():
        print(f"{version}  {KIND_IMAGES[version]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
