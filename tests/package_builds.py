"""Tiny packages for the dependency tests: wheels and npm tarballs, built here, served locally.

``build_wheel`` builds a one-module wheel in-process with hatchling, ``npm_pack`` packs a
one-file npm package with ``npm pack``; ``offline_python_env`` makes pip and uv install only
from a folder of wheels, and ``LocalNpmRegistry`` with ``npm_env`` makes npm install only from
a folder of tarballs. Nothing here touches the network, and the same inputs give the same bytes
(hatchling's reproducible builds, npm's fixed tarball times).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import tarfile
import tempfile
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, cast
from urllib.parse import quote, unquote, urlsplit

from hatchling.builders.wheel import WheelBuilder

_PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = {name}
version = {version}
requires-python = ">=3"

[tool.hatch.build]
ignore-vcs = true

[tool.hatch.build.targets.wheel]
packages = [{name}]
"""


def build_wheel(folder: Path, name: str, version: str, source: str) -> Path:
    """Build ``name``-``version``, one import package ``name`` (``source`` is its ``__init__.py``).

    The wheel lands in ``folder`` (created if missing); its path is returned. The build runs in
    this process with hatchling's builder: no build isolation, no network, about 0.1 s. Builds
    are reproducible (fixed file times), so equal inputs give equal wheels, hash included.
    """
    if not name.isidentifier():
        raise ValueError(f"{name!r} is not a Python identifier: it names the import package too")
    with tempfile.TemporaryDirectory(prefix=f"{name}-{version}-") as scratch:
        root = Path(scratch)
        pyproject = _PYPROJECT.format(name=json.dumps(name), version=json.dumps(version))
        (root / "pyproject.toml").write_text(pyproject, encoding="utf-8")
        (root / name).mkdir()
        (root / name / "__init__.py").write_text(source, encoding="utf-8")
        built = WheelBuilder(str(root)).build(directory=str(folder), versions=["standard"])
        return Path(next(built))


def npm_pack(folder: Path, name: str, version: str, source: str) -> Path:
    """``npm pack`` a package ``name``@``version`` whose ``index.js`` is ``source``; its ``.tgz``.

    The tarball lands in ``folder`` (created if missing) under npm's name for it
    (``tiny-1.0.0.tgz``, ``scope-tiny-1.0.0.tgz`` for ``@scope/tiny``). npm runs offline, with
    no scripts and a throwaway cache; its tarballs have fixed file times, so they are
    reproducible.
    """
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="npm-pack-") as scratch:
        root = Path(scratch)
        project = root / "package"
        project.mkdir()
        manifest = {"name": name, "version": version, "main": "index.js"}
        (project / "package.json").write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
        (project / "index.js").write_text(source, encoding="utf-8")
        env = os.environ | npm_env("http://127.0.0.1:9/", root / "cache")
        command = ["npm", "pack", "--json", "--offline", "--ignore-scripts", "--pack-destination"]
        done = subprocess.run(
            [*command, str(folder.resolve())],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"npm pack failed ({done.returncode}):\n{done.stderr}")
        packed: list[dict[str, Any]] = json.loads(done.stdout)
        return folder / str(packed[0]["filename"])


def offline_python_env(folder: Path) -> dict[str, str]:
    """Environment under which ``pip install`` and ``uv pip install`` use only ``folder``'s wheels.

    Add it to the process environment (``os.environ | offline_python_env(folder)``). pip:
    no index, ``folder`` as its only find-links, no configuration files (this machine's
    pip.conf adds find-links, extra index URLs and a constraints file) and no constraints.
    uv has no environment variable for ``--no-index``, so its default index is ``folder``
    itself, read as an empty PEP 503 tree (no request is made), beside ``folder`` as its
    find-links; it is offline too, reads no ``uv.toml``/``pyproject.toml`` configuration and
    downloads no Python. A missing package then fails in uv with "not found in the cache".
    """
    location = str(folder.resolve())
    return {
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": location,
        "PIP_INDEX_URL": "",
        "PIP_EXTRA_INDEX_URL": "",
        "PIP_CONSTRAINT": "",
        "PIP_NO_INPUT": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "UV_NO_CONFIG": "1",
        "UV_OFFLINE": "1",
        "UV_DEFAULT_INDEX": folder.resolve().as_uri(),
        "UV_FIND_LINKS": location,
        "UV_INDEX": "",
        "UV_INDEX_URL": "",
        "UV_EXTRA_INDEX_URL": "",
        "UV_CONSTRAINT": "",
        "UV_PYTHON_DOWNLOADS": "never",
    }


def npm_env(registry_url: str, cache: Path) -> dict[str, str]:
    """Environment under which npm uses only ``registry_url``, with ``cache`` as its cache.

    The user's ``~/.npmrc`` is not read (this machine's sets
    ``omit-lockfile-registry-resolved``, which drops ``resolved`` from lock files; one could
    also map scopes to other registries). No audit, funding or update-notifier requests, and
    no progress bar.
    """
    return {
        "npm_config_registry": registry_url,
        "npm_config_cache": str(cache),
        "npm_config_userconfig": str(cache / "npmrc"),
        "npm_config_audit": "false",
        "npm_config_fund": "false",
        "npm_config_update_notifier": "false",
        "npm_config_progress": "false",
        "npm_config_omit_lockfile_registry_resolved": "false",
    }


class LocalNpmRegistry:
    """An npm registry on 127.0.0.1 for the ``.tgz`` files in ``folder``, as a ``with`` block.

    ``GET /<name>`` (``/@scope%2fname`` when scoped) answers the packument: every version of
    ``name`` in ``folder``, with its ``dist`` (tarball URL, sha512 ``integrity``, sha1
    ``shasum``), and ``dist-tags.latest`` the highest (a release over any pre-release, as
    ``npm publish`` tags them). ``GET`` of a tarball URL answers its bytes; anything else is a
    404. ``folder`` is read again for every request, so tarballs packed after the start are
    served too. The socket listens before ``__enter__`` returns; requests are served by a
    daemon thread, and ``__exit__`` stops it. ``requests`` lists the paths asked for, in order.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.requests: list[str] = []
        self._server: _RegistryServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/``, the registry's URL (with its trailing slash)."""
        if self._server is None:
            raise RuntimeError("the registry is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def __enter__(self) -> LocalNpmRegistry:
        self._server = _RegistryServer(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"npm registry {self.url}",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server = self._thread = None

    def packument(self, name: str) -> dict[str, Any] | None:
        """The registry document of ``name``, as served; ``None`` with no tarball of it."""
        versions: dict[str, dict[str, Any]] = {}
        for tarball in sorted(self.folder.glob("*.tgz")):
            manifest = _manifest(tarball)
            if manifest is None or manifest.get("name") != name:
                continue
            data = tarball.read_bytes()
            digest = base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")
            manifest["dist"] = {
                "tarball": f"{self.url}{quote(name, safe='@/')}/-/{quote(tarball.name)}",
                "integrity": f"sha512-{digest}",
                "shasum": hashlib.sha1(data).hexdigest(),
            }
            versions[str(manifest["version"])] = manifest
        if not versions:
            return None
        releases = [version for version in versions if not _is_prerelease(version)]
        latest = max(releases or versions, key=_semver_key)
        return {"_id": name, "name": name, "dist-tags": {"latest": latest}, "versions": versions}

    def tarball(self, filename: str) -> bytes | None:
        """The bytes of ``filename``, a ``.tgz`` file directly in ``folder``; ``None`` if absent."""
        served = {path.name: path for path in self.folder.glob("*.tgz")}
        path = served.get(filename)
        return path.read_bytes() if path is not None else None


class _RegistryServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, registry: LocalNpmRegistry) -> None:
        self.registry = registry
        super().__init__(("127.0.0.1", 0), _RegistryHandler)


class _RegistryHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        registry = cast(_RegistryServer, self.server).registry
        path = urlsplit(self.path).path
        registry.requests.append(path)
        head, separator, filename = path.lstrip("/").partition("/-/")
        if separator:
            body = registry.tarball(unquote(filename)) if "/" not in filename else None
            self._answer(body, "application/octet-stream")
        else:
            document = registry.packument(unquote(head)) if head else None
            body = json.dumps(document).encode() if document is not None else None
            self._answer(body, "application/json", cache="no-cache")

    def _answer(self, body: bytes | None, content_type: str, cache: str | None = None) -> None:
        if body is None:
            body, content_type = b'{"error":"Not found"}', "application/json"
            self.send_response(HTTPStatus.NOT_FOUND)
        else:
            self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if cache is not None:
            self.send_header("Cache-Control", cache)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: ``LocalNpmRegistry.requests`` records the paths instead."""


def _manifest(tarball: Path) -> dict[str, Any] | None:
    """The ``package/package.json`` of an npm tarball; ``None`` if it has none."""
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            member = archive.extractfile("package/package.json")
            if member is None:
                return None
            return cast(dict[str, Any], json.load(member))
    except (KeyError, tarfile.TarError, OSError, ValueError):
        return None


_SEMVER = re.compile(r"v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?")


def _semver_key(version: str) -> tuple[Any, ...]:
    """Sorts versions by semver precedence: a pre-release before its release."""
    match = _SEMVER.fullmatch(version)
    if match is None:
        return (-1, version)
    major, minor, patch, pre = match.groups()
    release = (int(major), int(minor), int(patch))
    if pre is None:
        return (0, release, 1, ())
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (0, release, 0, parts)


def _is_prerelease(version: str) -> bool:
    match = _SEMVER.fullmatch(version)
    return match is not None and match.group(4) is not None
