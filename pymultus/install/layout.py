"""What the installer copies into the host's CNI bin dir.

The node must not need a Python of its own. The layout is:

- ``pymultus.pyz``: the ``pymultus`` package (and PyYAML, see
  :func:`shipped_packages`) as a zip archive (stored, not
  compressed, so ``zipimport`` needs no ``zlib``), with bytecode compiled
  as unchecked-hash ``.pyc`` next to each module, so nothing is compiled
  at run time;
- ``pymultus-runtime/`` (``--copy-runtime``): the image's interpreter and
  its standard library (without tests, idle, tkinter, ensurepip,
  site-packages) and its ``libpython`` if it is a shared build;
- ``pymultus-lib/``: grpcio and protobuf (with typing_extensions, which
  grpcio needs), copied from this environment as installed, for the one CNI
  call that needs them: a thin ADD/DEL of a network naming a device resource
  asks the kubelet's pod-resources API (:mod:`pymultus.podresources`), as
  Multus thin does. They are C extensions, which cannot load from a zip, so
  they sit beside the archive, last on ``sys.path``: nothing else looks
  there, and nothing imports them unless a network names a resource. They
  match this interpreter's ABI (the copied runtime's, or this one's); a
  ``--python`` of another version makes device lookups fail with a CNI
  error that names the import error;
- ``pymultus`` (thin) and ``pymultus-shim`` (thick): launchers whose
  shebang is that interpreter with ``-IS`` (no site import, no PYTHON*
  variables) and which put the archive (and ``pymultus-lib/``) on
  ``sys.path``. A shared
  ``libpython`` makes the launcher a two-line ``/bin/sh`` script that sets
  ``LD_LIBRARY_PATH`` first (one extra exec, ~1 ms).

What is honestly still needed on the host: a glibc compatible with the
image's (every node that runs kubelet has one), and ``/bin/sh`` only for a
shared-libpython build.
"""

from __future__ import annotations

import contextlib
import glob
import os
import py_compile
import shutil
import sys
import tempfile
import zipfile

PYZ_NAME = "pymultus.pyz"
RUNTIME_DIR = "pymultus-runtime"
LIB_DIR = "pymultus-lib"
ENTRY_POINTS = {"pymultus": "pymultus.thin", "pymultus-shim": "pymultus.shim"}
RUNTIME_IGNORE = shutil.ignore_patterns(
    "test", "tests", "idlelib", "tkinter", "turtledemo", "ensurepip", "site-packages",
    "__pycache__", "lib2to3", "pydoc_data", "config-*",
)  # fmt: skip


def package_dir() -> str:
    import pymultus

    return os.path.dirname(os.path.abspath(pymultus.__file__ or "."))


def shipped_packages() -> list[str]:
    """The pure-Python libraries the CNI path may import, shipped inside the archive.

    PyYAML, for a YAML kubeconfig a user names (the installer's own is JSON;
    issue 16): its Python modules only (``yaml._yaml``, the libyaml binding,
    cannot load from a zip; PyYAML then uses its pure-Python loader).
    """
    try:
        import yaml
    except ImportError:
        return []
    return [os.path.dirname(os.path.abspath(yaml.__file__ or "."))]


def device_libraries() -> list[tuple[str, str]]:
    """(installed path, path under pymultus-lib/) of what the pod-resources client imports.

    Empty when grpcio or protobuf is not installed here: the thin plugin then
    answers a device network with a CNI error saying what is missing.
    """
    try:
        import google.protobuf
        import grpc
        import typing_extensions
        from google._upb import _message
    except ImportError:
        return []
    found = [
        (os.path.dirname(os.path.abspath(grpc.__file__ or ".")), "grpc"),
        (os.path.dirname(os.path.abspath(google.protobuf.__file__ or ".")), "google/protobuf"),
        (os.path.dirname(os.path.abspath(_message.__file__ or ".")), "google/_upb"),
        (os.path.abspath(typing_extensions.__file__ or "."), "typing_extensions.py"),
    ]
    return [(path, rel) for path, rel in found if os.path.exists(path)]


def copy_device_libraries(dest: str) -> bool:
    """Copy :func:`device_libraries` to ``dest`` (replaced whole); False if there are none.

    Bytecode is copied with its sources (mtimes kept, so it stays valid): a
    CNI call never compiles, and the directory may be read-only on the host.
    """
    libraries = device_libraries()
    if not libraries:
        return False
    tmp = f"{dest}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    for source, rel in libraries:
        target = os.path.join(tmp, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.isdir(source):
            shutil.copytree(source, target, symlinks=True)
        else:
            shutil.copy2(source, target)
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    return True


def build_zipapp(dest: str, source: str | None = None) -> None:
    """Write the pymultus package and :func:`shipped_packages` (sources + unchecked-hash
    bytecode) to ``dest``."""
    source = source or package_dir()
    tmp = f"{dest}.tmp"
    with tempfile.TemporaryDirectory() as work, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as z:
        for package in [source, *shipped_packages()]:
            _add_package(z, work, package)
    os.replace(tmp, dest)


def _add_package(z: zipfile.ZipFile, work: str, source: str) -> None:
    root = os.path.dirname(source)
    for dirpath, dirnames, files in os.walk(source):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            path = os.path.join(dirpath, name)
            arc = os.path.relpath(path, root)
            z.write(path, arc)
            pyc = os.path.join(work, arc + "c")
            os.makedirs(os.path.dirname(pyc), exist_ok=True)
            py_compile.compile(
                path,
                cfile=pyc,
                dfile=arc,
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
            z.write(pyc, arc + "c")


def launcher(python: str, pyz: str, module: str, lib_dir: str = "", libs: str = "") -> str:
    """The executable for ``module``: ``lib_dir`` a shared libpython's directory,
    ``libs`` the :data:`LIB_DIR` to append to ``sys.path`` (after the stdlib)."""
    extra = f"sys.path.append({libs!r}); " if libs else ""
    body = (
        f"import sys; sys.path.insert(0, {pyz!r}); {extra}"
        f"from {module} import main; sys.exit(main())"
    )
    if lib_dir:
        return (
            "#!/bin/sh\n"
            f'LD_LIBRARY_PATH="{lib_dir}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}" '
            f'exec "{python}" -IS -c "{body}" "$@"\n'
        )
    return f"#!{python} -IS\n{body.replace('; ', chr(10))}\n"


def copy_runtime(dest: str) -> tuple[str, str]:
    """Copy this interpreter + stdlib under ``dest``; (python path, shared lib dir or "")."""
    prefix = sys.base_prefix
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    tmp = f"{dest}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "bin"))
    real = os.path.realpath(sys.executable)
    shutil.copy2(real, os.path.join(tmp, "bin", version))
    os.symlink(version, os.path.join(tmp, "bin", "python3"))
    shutil.copytree(
        os.path.join(prefix, "lib", version),
        os.path.join(tmp, "lib", version),
        ignore=RUNTIME_IGNORE,
        symlinks=True,
    )
    shared = sorted(glob.glob(os.path.join(prefix, "lib", "libpython3*.so*")))
    for lib in shared:
        shutil.copy2(lib, os.path.join(tmp, "lib", os.path.basename(lib)), follow_symlinks=True)
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    return os.path.join(dest, "bin", "python3"), os.path.join(dest, "lib") if shared else ""


def write_executable(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o755)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def install_binaries(
    bin_dir: str, host_bin_dir: str, python: str = "", copy: bool = False
) -> list[str]:
    """Populate ``bin_dir`` (as this container sees it); paths inside refer to ``host_bin_dir``.

    Returns the names written. Each file is replaced atomically, so a
    runtime executing the plugin meanwhile sees the old or the new one.
    """
    written: list[str] = []
    build_zipapp(os.path.join(bin_dir, PYZ_NAME))
    written.append(PYZ_NAME)
    lib_dir_host = ""
    if copy:
        _, lib_dir = copy_runtime(os.path.join(bin_dir, RUNTIME_DIR))
        python = os.path.join(host_bin_dir, RUNTIME_DIR, "bin", "python3")
        lib_dir_host = os.path.join(host_bin_dir, RUNTIME_DIR, "lib") if lib_dir else ""
        written.append(RUNTIME_DIR)
    libs_host = ""
    if copy_device_libraries(os.path.join(bin_dir, LIB_DIR)):
        libs_host = os.path.join(host_bin_dir, LIB_DIR)
        written.append(LIB_DIR)
    python = python or sys.executable
    pyz_host = os.path.join(host_bin_dir, PYZ_NAME)
    for name, module in ENTRY_POINTS.items():
        write_executable(
            os.path.join(bin_dir, name),
            launcher(python, pyz_host, module, lib_dir_host, libs_host),
        )
        written.append(name)
    return written
