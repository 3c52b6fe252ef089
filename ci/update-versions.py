#!/usr/bin/env python3
"""Update the Kubernetes version table (harness/backends/versions.py) from kind.

Reads the "Images pre-built for this release" list of kind's latest release
(or of the release notes in --notes FILE) and rewrites the generated block of
the table: the kind release and one digest-pinned kindest/node image per
Kubernetes minor. The CI matrix follows the table, so this is the one step to
move the matrix forward. Standard library only: it runs before anything is
installed.

    ci/update-versions.py                    # latest kind release (GitHub API)
    ci/update-versions.py --release v0.29.0  # a given release
    ci/update-versions.py --notes notes.md --kind-version v0.29.0   # offline
    ci/update-versions.py --check            # exit 1 if the table is not current
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import urllib.request
from types import ModuleType

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE = os.path.join(ROOT, "harness", "backends", "versions.py")
API = "https://api.github.com/repos/kubernetes-sigs/kind/releases"
MINIMUM_VERSIONS = 4  # the CI matrix covers at least four minors


def load_versions(path: str = TABLE) -> ModuleType:
    """The table module, loaded by path (no need for the project to be installed)."""
    spec = importlib.util.spec_from_file_location("versions_table", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fetch_release(release: str | None) -> tuple[str, str]:
    url = f"{API}/tags/{release}" if release else f"{API}/latest"
    request = urllib.request.Request(url, headers={"Accept": "application/vnd.github+json"})
    token = os.environ.get("GITHUB_TOKEN")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        data = json.load(response)
    return str(data["tag_name"]), str(data.get("body") or "")


def updated_source(source: str, kind_version: str, notes: str, versions: ModuleType) -> str:
    images = versions.parse_release_notes(notes)
    if len(images) < MINIMUM_VERSIONS:
        raise SystemExit(
            f"kind {kind_version}: found {len(images)} digest-pinned node images in the release "
            f"notes, need at least {MINIMUM_VERSIONS}; table left as it is"
        )
    block = versions.render_generated_block(kind_version, images)
    return str(versions.replace_generated_block(source, block))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--release", help="kind release tag (default: the latest)")
    parser.add_argument("--notes", help="read release notes from this file instead")
    parser.add_argument("--kind-version", help="the release the --notes belong to")
    parser.add_argument("--table", default=TABLE, help=argparse.SUPPRESS)
    parser.add_argument("--check", action="store_true", help="only report whether it is current")
    args = parser.parse_args(argv)
    versions = load_versions(args.table)
    if args.notes:
        if not args.kind_version:
            parser.error("--notes needs --kind-version")
        with open(args.notes, encoding="utf-8") as f:
            kind_version, notes = args.kind_version, f.read()
    else:
        kind_version, notes = fetch_release(args.release)
    with open(args.table, encoding="utf-8") as f:
        source = f.read()
    new = updated_source(source, kind_version, notes, versions)
    if new == source:
        print(f"the table is current (kind {kind_version})")
        return 0
    if args.check:
        print(f"the table is behind kind {kind_version}: run ci/update-versions.py")
        return 1
    with open(args.table, "w", encoding="utf-8") as f:
        f.write(new)
    print(f"updated {os.path.relpath(args.table, ROOT)} to kind {kind_version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
