"""Python packages: resolving requirement specifiers to a lock, installing one package.

Resolution and installs are done by uv where it is installed, by pip otherwise,
for the runtime's own interpreter; both read the machine's configuration (an
index, a mirror, ``find-links``) from their usual files and variables. Only
wheels are taken: building a source distribution would run its code in the
runner's account. Requirements reach the installer through a file, never on its
command line, and every package is installed alone (``--no-deps``) into a
directory of its own, checked against the lock's hashes.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import orjson
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .declared import PythonRequirement
from .installer import InstallerFailed, run_installer
from .lock import Lock, LockedPackage

__all__ = ["PythonInstaller", "install_python_package", "lock_python", "python_installer"]

#: ``auto``: uv if it is on ``PATH``, else pip.
PythonInstaller = Literal["auto", "uv", "pip"]

#: A project name (PEP 508), and a hash as requirements files give it.
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_HASH = re.compile(r"(?:sha256|sha384|sha512):[0-9a-f]{64,128}")
_PIP_QUIET = ("--disable-pip-version-check", "--no-input", "--progress-bar", "off")


def python_installer(choice: PythonInstaller) -> Literal["uv", "pip"]:
    """The installer ``choice`` names (``auto``: uv where it is installed)."""
    if choice == "auto":
        return "uv" if shutil.which("uv") else "pip"
    return choice


def _pip(interpreter: str) -> list[str]:
    """pip, run for ``interpreter`` (which need not have pip itself)."""
    command = [sys.executable, "-m", "pip"]
    if os.path.realpath(interpreter) != os.path.realpath(sys.executable):
        command += ["--python", interpreter]
    return command


def _uv() -> str:
    found = shutil.which("uv")
    if found is None:
        raise InstallerFailed("uv is not installed (install it, or choose pip)")
    return found


async def lock_python(
    requires: Sequence[PythonRequirement],
    *,
    interpreter: str,
    installer: Literal["uv", "pip"],
    work: Path,
    env: Mapping[str, str],
    on_line: Callable[[str], None] | None = None,
) -> Lock:
    """Resolve ``requires`` for ``interpreter`` to exact versions and hashes.

    ``work`` is an empty directory for the installer's files. Raises
    :class:`~.installer.InstallerFailed` with the installer's error.
    """
    wanted = work / "requirements.in"
    wanted.write_text("".join(f"{r.spec}\n" for r in requires))
    out = work / ("report.json" if installer == "pip" else "requirements.txt")
    if installer == "pip":
        command = [*_pip(interpreter), "install", *_PIP_QUIET, "--dry-run", "--ignore-installed"]
        command += ["--only-binary", ":all:", "--report", str(out), "-r", str(wanted)]
    else:
        command = [_uv(), "pip", "compile", "--python", interpreter, "--generate-hashes"]
        command += ["--only-binary", ":all:", "--no-header", "--no-annotate", "--quiet"]
        command += ["-o", str(out), str(wanted)]
    await run_installer(command, env=env, cwd=work, on_line=on_line)
    text = out.read_text()
    packages = _from_pip_report(text) if installer == "pip" else _from_requirements(text)
    return Lock("python", tuple(r.spec for r in requires), tuple(sorted(packages, key=_by_name)))


async def install_python_package(
    package: LockedPackage,
    target: Path,
    *,
    interpreter: str,
    installer: Literal["uv", "pip"],
    env: Mapping[str, str],
    on_line: Callable[[str], None] | None = None,
) -> None:
    """Install ``package`` alone into the empty directory ``target``, checking its hashes."""
    pinned = target.parent / f"{target.name}.txt"
    hashes = "".join(f" --hash={digest}" for digest in package.hashes)
    pinned.write_text(f"{package.pin}{hashes}\n")
    try:
        if installer == "pip":
            command = [*_pip(interpreter), "install", *_PIP_QUIET, "--no-deps"]
            command += ["--only-binary", ":all:", "--target", str(target), "-r", str(pinned)]
        else:
            command = [_uv(), "pip", "install", "--python", interpreter, "--no-deps", "--quiet"]
            command += ["--only-binary", ":all:", "--compile-bytecode"]
            command += ["--target", str(target), "-r", str(pinned)]
        await run_installer(command, env=env, on_line=on_line)
    finally:
        pinned.unlink(missing_ok=True)


def _by_name(package: LockedPackage) -> str:
    return package.name


def _from_pip_report(text: str) -> list[LockedPackage]:
    """The packages of pip's installation report (``--report``)."""
    report: dict[str, Any] = orjson.loads(text)
    packages = []
    for item in report.get("install", []):
        metadata = item["metadata"]
        archive = item.get("download_info", {}).get("archive_info", {})
        hashes = archive.get("hashes") or {}
        if not hashes and "hash" in archive:
            algorithm, _, value = archive["hash"].partition("=")
            hashes = {algorithm: value}
        hashed = tuple(f"{algorithm}:{value}" for algorithm, value in sorted(hashes.items()))
        packages.append(_checked(metadata["name"], metadata["version"], hashed))
    return packages


def _checked(name: str, version: str, hashes: tuple[str, ...]) -> LockedPackage:
    """A resolved package, if its name, version and hashes are what they should be.

    They came from an index, and go into a requirements file, where anything
    else could be read as an option.
    """
    if not _NAME.fullmatch(name):
        raise InstallerFailed(f"the resolver chose a package named {name!r}")
    try:
        exact = str(Version(version))
    except InvalidVersion:
        raise InstallerFailed(f"the resolver chose {name} version {version!r}") from None
    if not all(_HASH.fullmatch(digest) for digest in hashes):
        raise InstallerFailed(f"the resolver gave {name} hashes {hashes!r}")
    return LockedPackage(canonicalize_name(name), exact, hashes)


def _from_requirements(text: str) -> list[LockedPackage]:
    """The packages of a hashed requirements file (``name==version --hash=...``)."""
    packages = []
    for line in text.replace("\\\n", " ").splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        try:
            requirement = Requirement(words[0])
        except InvalidRequirement as exc:
            raise InstallerFailed(f"the resolver wrote {words[0]!r}: {exc}") from None
        versions = [s.version for s in requirement.specifier if s.operator == "=="]
        if len(versions) != 1:
            raise InstallerFailed(f"the resolver did not pin {words[0]!r} to one version")
        hashes = tuple(word.removeprefix("--hash=") for word in words[1:] if "--hash=" in word)
        packages.append(_checked(requirement.name, versions[0], hashes))
    return packages
