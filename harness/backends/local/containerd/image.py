"""The one image containerd nodes run: busybox-static as an OCI image layout, no registry.

There is no registry on this machine (docs/reference: machine.md), so the
image is built here from Debian's statically linked busybox: one layer with
``/bin/busybox`` and a symlink per applet, entrypoint a long ``sleep`` (it
serves as the sandbox's pause container and as every pod container), packed
as an OCI image-layout tar (image-spec ``image-layout.md``: ``oci-layout``,
``index.json``, ``blobs/sha256/``) whose index names the image through the
``io.containerd.image.name`` annotation, so ``ctr images import`` registers
it under that name and the CRI plugin, given it as ``sandbox_image``, never
pulls. Built once per busybox binary (the tag is derived from its digest)
and cached.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass

BUSYBOX = "/bin/busybox"
CACHE_DIR = "/var/cache/harness/images"
IMAGE_REPOSITORY = "harness.local/busybox"
SLEEP_SECONDS = "2147483647"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"


@dataclass(frozen=True)
class Image:
    name: str  # what sandbox_image and CreateContainer name
    archive: str  # the OCI-layout tar for `ctr images import`


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def applets(busybox: str = BUSYBOX) -> list[str]:
    out = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout
    return sorted({line.strip() for line in out.splitlines() if line.strip()} - {"busybox"})


def layer_tar(busybox_bytes: bytes, names: list[str]) -> bytes:
    """A reproducible layer: fixed mtimes and owners, sorted entries."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def add_dir(path: str) -> None:
            info = tarfile.TarInfo(path)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)

        for directory in ("bin", "dev", "etc", "proc", "sys", "tmp", "var", "var/log"):
            add_dir(directory)
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(busybox_bytes), 0o755
        tar.addfile(info, io.BytesIO(busybox_bytes))
        for name in names:
            link = tarfile.TarInfo(f"bin/{name}")
            link.type, link.linkname, link.mode = tarfile.SYMTYPE, "busybox", 0o777
            tar.addfile(link)
        passwd = b"root:x:0:0:root:/:/bin/sh\n"
        info = tarfile.TarInfo("etc/passwd")
        info.size, info.mode = len(passwd), 0o644
        tar.addfile(info, io.BytesIO(passwd))
    return buf.getvalue()


def layout_tar(busybox_bytes: bytes, names: list[str], tag: str) -> tuple[str, bytes]:
    """(image name, the OCI-layout tar) for this busybox."""
    layer = layer_tar(busybox_bytes, names)
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    config = json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "config": {
                "Entrypoint": ["/bin/sleep", SLEEP_SECONDS],
                "Env": ["PATH=/bin"],
                "WorkingDir": "/",
            },
            "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]},
        },
        sort_keys=True,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": MEDIA_LAYER, "digest": sha256(layer), "size": len(layer)}],
        },
        sort_keys=True,
    ).encode()
    name = f"{IMAGE_REPOSITORY}:{tag}"
    index = json.dumps(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": MEDIA_MANIFEST,
                    "digest": sha256(manifest),
                    "size": len(manifest),
                    "annotations": {
                        "io.containerd.image.name": name,
                        "org.opencontainers.image.ref.name": tag,
                    },
                }
            ],
        },
        sort_keys=True,
    ).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        files = [("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())]
        files += [(f"blobs/sha256/{sha256(b)[7:]}", b) for b in (layer, config, manifest)]
        files.append(("index.json", index))
        for directory in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path, data in files:
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return name, buf.getvalue()


def busybox_image(busybox: str = BUSYBOX, cache_dir: str = CACHE_DIR) -> Image:
    """The image for this machine's busybox, built on first use and then cached."""
    if not os.access(busybox, os.X_OK):
        raise FileNotFoundError(
            f"{busybox} is missing: containerd nodes need busybox-static "
            "(apt-get install busybox-static)"
        )
    with open(busybox, "rb") as f:
        data = f.read()
    tag = hashlib.sha256(data).hexdigest()[:12]
    archive = os.path.join(cache_dir, f"busybox-{tag}.oci.tar")
    name = f"{IMAGE_REPOSITORY}:{tag}"
    if os.path.exists(archive):
        return Image(name, archive)
    name, tar = layout_tar(data, applets(busybox), tag)
    os.makedirs(cache_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(tar)
    os.replace(tmp, archive)
    return Image(name, archive)
