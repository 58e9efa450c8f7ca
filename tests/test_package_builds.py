"""The package helpers: tiny wheels and npm tarballs, built here and installed offline."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest
import trio
from package_builds import (
    LocalNpmRegistry,
    build_wheel,
    npm_env,
    npm_pack,
    offline_python_env,
)
from uv import find_uv_bin

NPM = shutil.which("npm")
needs_npm = pytest.mark.skipif(NPM is None, reason="npm is not on PATH")

INSTALLERS = {
    "pip": [sys.executable, "-m", "pip", "install", "--quiet"],
    "uv": [find_uv_bin(), "pip", "install", "--quiet", "--python", sys.executable],
}
MISSING_VERSION = {
    "pip": "No matching distribution found for tinypkg==3",
    "uv": "there is no version of tinypkg==3",
}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with tinypkg 1.0.0 and 2.0.0, each knowing its ``VERSION``."""
    folder = tmp_path_factory.mktemp("wheels")
    for version in ("1.0.0", "2.0.0"):
        build_wheel(folder, "tinypkg", version, f'VERSION = "{version}"\n')
    return folder


@pytest.fixture(scope="module")
def tarballs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with npm packages tiny 1.0.0 and 2.0.0, each exporting its version."""
    if NPM is None:
        pytest.skip("npm is not on PATH")
    folder = tmp_path_factory.mktemp("tarballs")
    for version in ("1.0.0", "2.0.0"):
        npm_pack(folder, "tiny", version, f'module.exports = "tiny {version}";\n')
    return folder


@pytest.fixture(scope="module")
def registry(tarballs: Path) -> Iterator[LocalNpmRegistry]:
    with LocalNpmRegistry(tarballs) as running:
        yield running


def _installed_version(target: Path) -> str:
    """``tinypkg.VERSION`` as a fresh interpreter imports it from ``target`` alone."""
    env = os.environ | {"PYTHONPATH": str(target)}
    code = "import tinypkg; print(tinypkg.VERSION); print(tinypkg.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    version, location = done.stdout.split()
    assert Path(location).is_relative_to(target)
    return version


def test_a_wheel_holds_the_module_and_is_reproducible(tmp_path: Path) -> None:
    source = 'VERSION = "1.0.0"\n'
    first = build_wheel(tmp_path / "a", "tinypkg", "1.0.0", source)
    again = build_wheel(tmp_path / "b", "tinypkg", "1.0.0", source)
    assert first == tmp_path / "a" / "tinypkg-1.0.0-py3-none-any.whl"
    assert first.read_bytes() == again.read_bytes()
    with zipfile.ZipFile(first) as wheel:
        assert wheel.read("tinypkg/__init__.py").decode() == source
        metadata = wheel.read("tinypkg-1.0.0.dist-info/METADATA").decode()
    assert "Name: tinypkg\n" in metadata
    assert "Version: 1.0.0\n" in metadata


def test_a_wheel_name_must_be_an_import_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="identifier"):
        build_wheel(tmp_path, "tiny-pkg", "1.0.0", "")


@pytest.mark.parametrize("installer", sorted(INSTALLERS))
@pytest.mark.parametrize(
    ("requirement", "version"), [("tinypkg==1.0.0", "1.0.0"), ("tinypkg>=2", "2.0.0")]
)
def test_python_installers_take_the_version_asked_for_from_the_folder(
    wheels: Path, tmp_path: Path, installer: str, requirement: str, version: str
) -> None:
    target = tmp_path / "target"
    env = os.environ | offline_python_env(wheels)
    command = [*INSTALLERS[installer], "--target", str(target), requirement]
    subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    assert _installed_version(target) == version


@pytest.mark.parametrize("installer", sorted(INSTALLERS))
def test_python_installers_fail_on_a_version_the_folder_lacks(
    wheels: Path, tmp_path: Path, installer: str
) -> None:
    target = tmp_path / "target"
    env = os.environ | offline_python_env(wheels)
    command = [*INSTALLERS[installer], "--target", str(target), "tinypkg==3"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert MISSING_VERSION[installer] in done.stderr
    assert not (target / "tinypkg").exists()


def test_pip_reports_the_sha256_of_a_folder_wheel(wheels: Path) -> None:
    wheel = wheels / "tinypkg-2.0.0-py3-none-any.whl"
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--report", "-"]
    env = os.environ | offline_python_env(wheels)
    done = subprocess.run(
        [*command, "--ignore-installed", "tinypkg>=2"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    [install] = json.loads(done.stdout)["install"]
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert install["metadata"]["name"] == "tinypkg"
    assert install["metadata"]["version"] == "2.0.0"
    assert install["download_info"]["url"] == wheel.as_uri()
    assert install["download_info"]["archive_info"]["hashes"] == {"sha256": digest}


def test_uv_compiles_a_folder_wheel_with_its_sha256(wheels: Path, tmp_path: Path) -> None:
    wheel = wheels / "tinypkg-1.0.0-py3-none-any.whl"
    requirements = tmp_path / "requirements.in"
    requirements.write_text("tinypkg<2\n")
    command = [find_uv_bin(), "pip", "compile", "--quiet", "--generate-hashes", "--no-header"]
    done = subprocess.run(
        [*command, "--no-annotate", "--python", sys.executable, str(requirements)],
        env=os.environ | offline_python_env(wheels),
        capture_output=True,
        text=True,
        check=True,
    )
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert done.stdout == f"tinypkg==1.0.0 \\\n    --hash=sha256:{digest}\n"


def _tarball(folder: Path, name: str, version: str) -> Path:
    """An npm tarball made by hand (``package/package.json`` only), for the registry alone."""
    manifest = json.dumps({"name": name, "version": version}).encode()
    path = folder / f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
    with tarfile.open(path, "w:gz") as archive:
        entry = tarfile.TarInfo("package/package.json")
        entry.size = len(manifest)
        archive.addfile(entry, io.BytesIO(manifest))
    return path


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except HTTPError as error:
        return error.code, error.read()


def _packument(registry: LocalNpmRegistry, path: str) -> dict[str, Any]:
    status, body = _get(registry.url + path)
    assert status == 200
    document: dict[str, Any] = json.loads(body)
    return document


def test_the_registry_serves_packuments_and_tarballs(tmp_path: Path) -> None:
    tarballs = [_tarball(tmp_path, "tiny", v) for v in ("1.2.0", "1.10.0", "2.0.0-rc.1")]
    with LocalNpmRegistry(tmp_path) as registry:
        assert registry.url.startswith("http://127.0.0.1:")
        assert registry.url.endswith("/")
        document = _packument(registry, "tiny")
        assert document["name"] == "tiny"
        assert document["dist-tags"] == {"latest": "1.10.0"}
        assert sorted(document["versions"]) == ["1.10.0", "1.2.0", "2.0.0-rc.1"]
        for tarball in tarballs:
            data = tarball.read_bytes()
            entry = document["versions"][tarball.stem.removeprefix("tiny-")]
            assert entry["name"] == "tiny"
            sha512 = base64.b64encode(hashlib.sha512(data).digest()).decode()
            assert entry["dist"]["integrity"] == f"sha512-{sha512}"
            assert entry["dist"]["shasum"] == hashlib.sha1(data).hexdigest()
            assert entry["dist"]["tarball"] == f"{registry.url}tiny/-/{tarball.name}"
            assert _get(entry["dist"]["tarball"]) == (200, data)

        assert _get(registry.url + "absent")[0] == 404
        assert _get(registry.url + "tiny/-/absent-1.0.0.tgz")[0] == 404
        assert _get(registry.url + "tiny/-/..%2Ftiny-1.2.0.tgz")[0] == 404
        assert _get(registry.url)[0] == 404

        _tarball(tmp_path, "tiny", "3.0.0")
        assert _packument(registry, "tiny")["dist-tags"] == {"latest": "3.0.0"}
        assert registry.requests[0] == "/tiny"
    with pytest.raises(RuntimeError, match="not running"):
        _ = registry.url


def test_the_registry_serves_scoped_packages(tmp_path: Path) -> None:
    tarball = _tarball(tmp_path, "@scope/tiny", "1.0.0")
    _tarball(tmp_path, "tiny", "9.0.0")
    with LocalNpmRegistry(tmp_path) as registry:
        document = _packument(registry, "@scope%2ftiny")
        assert document["name"] == "@scope/tiny"
        assert list(document["versions"]) == ["1.0.0"]
        dist = document["versions"]["1.0.0"]["dist"]
        assert dist["tarball"] == f"{registry.url}@scope/tiny/-/scope-tiny-1.0.0.tgz"
        assert _get(dist["tarball"]) == (200, tarball.read_bytes())


def test_the_registry_tags_the_highest_pre_release_when_there_is_no_release(
    tmp_path: Path,
) -> None:
    for version in ("1.0.0-beta.2", "1.0.0-beta.10", "1.0.0-alpha"):
        _tarball(tmp_path, "tiny", version)
    with LocalNpmRegistry(tmp_path) as registry:
        assert _packument(registry, "tiny")["dist-tags"] == {"latest": "1.0.0-beta.10"}


async def test_the_registry_answers_inside_a_trio_test(tmp_path: Path) -> None:
    _tarball(tmp_path, "tiny", "1.0.0")
    with LocalNpmRegistry(tmp_path) as registry:
        status, body = await trio.to_thread.run_sync(_get, registry.url + "tiny")
    assert status == 200
    assert json.loads(body)["dist-tags"] == {"latest": "1.0.0"}


@needs_npm
def test_npm_pack_is_reproducible(tarballs: Path, tmp_path: Path) -> None:
    again = npm_pack(tmp_path, "tiny", "1.0.0", 'module.exports = "tiny 1.0.0";\n')
    assert again.name == "tiny-1.0.0.tgz"
    assert again.read_bytes() == (tarballs / "tiny-1.0.0.tgz").read_bytes()
    scoped = npm_pack(tmp_path, "@scope/tiny", "1.0.0", "")
    assert scoped == tmp_path / "scope-tiny-1.0.0.tgz"
    with tarfile.open(scoped, "r:gz") as archive:
        member = archive.extractfile("package/package.json")
        assert member is not None
        assert json.load(member)["name"] == "@scope/tiny"


def _npm_project(folder: Path, dependencies: dict[str, str] | None = None) -> Path:
    folder.mkdir()
    manifest: dict[str, Any] = {"name": "app", "version": "0.0.0", "private": True}
    if dependencies is not None:
        manifest["dependencies"] = dependencies
    (folder / "package.json").write_text(json.dumps(manifest))
    return folder


@needs_npm
@pytest.mark.parametrize(("spec", "version"), [("tiny@^1", "1.0.0"), ("tiny@^2", "2.0.0")])
async def test_npm_installs_the_version_asked_for_from_the_registry(
    registry: LocalNpmRegistry, tmp_path: Path, spec: str, version: str
) -> None:
    project = _npm_project(tmp_path / "app")
    env = os.environ | npm_env(registry.url, tmp_path / "cache")
    await trio.run_process(
        ["npm", "install", "--ignore-scripts", spec], cwd=project, env=env, capture_stdout=True
    )
    installed = json.loads((project / "node_modules/tiny/package.json").read_text())
    assert installed["version"] == version
    done = await trio.run_process(
        ["node", "-p", "require('tiny')"], cwd=project, env=env, capture_stdout=True
    )
    assert done.stdout.decode().strip() == f"tiny {version}"


@needs_npm
def test_npm_locks_what_the_registry_served(registry: LocalNpmRegistry, tmp_path: Path) -> None:
    project = _npm_project(tmp_path / "app", {"tiny": "^2"})
    env = os.environ | npm_env(registry.url, tmp_path / "cache")
    subprocess.run(
        ["npm", "install", "--ignore-scripts", "--package-lock-only"],
        cwd=project,
        env=env,
        capture_output=True,
        check=True,
    )
    assert not (project / "node_modules").exists()
    lock = json.loads((project / "package-lock.json").read_text())
    entry = lock["packages"]["node_modules/tiny"]
    served = _packument(registry, "tiny")["versions"]["2.0.0"]["dist"]
    assert entry["version"] == "2.0.0"
    assert entry["resolved"] == served["tarball"]
    assert entry["integrity"] == served["integrity"]
    assert entry["integrity"].startswith("sha512-")
    data = (registry.folder / "tiny-2.0.0.tgz").read_bytes()
    assert (
        entry["integrity"] == "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    )
