"""Locks read from what installers write, checked; the store's directories and its collection."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_launcher.flows.deps.installer import InstallerFailed, installer_error
from trio_launcher.flows.deps.lock import Lock, LockedPackage
from trio_launcher.flows.deps.node_packages import _locked_packages
from trio_launcher.flows.deps.python_packages import _from_pip_report, _from_requirements
from trio_launcher.flows.deps.store import PackageStore
from trio_launcher.process.cgroup_tree import owner_name

SHA = "a" * 64
_NAMES = st.from_regex(r"[a-z][a-z0-9]{0,8}(?:-[a-z0-9]{1,5})?", fullmatch=True)
_VERSIONS = st.builds("{}.{}.{}".format, *[st.integers(0, 99)] * 3)
_HASHES = st.lists(st.from_regex(r"sha256:[0-9a-f]{64}", fullmatch=True), max_size=3)


@given(st.lists(st.tuples(_NAMES, _VERSIONS, _HASHES), unique_by=lambda p: p[0], max_size=6))
def test_a_hashed_requirements_file_reads_back_as_the_packages_it_pins(
    pins: list[tuple[str, str, list[str]]],
) -> None:
    text = "".join(
        f"{name}=={version}" + "".join(f" \\\n    --hash={h}" for h in hashes) + "\n    # via x\n"
        for name, version, hashes in pins
    )
    read = _from_requirements(text)
    assert read == [LockedPackage(n, v, tuple(h)) for n, v, h in pins]


def pip_report(name: str, version: str, digest: str = SHA) -> str:
    archive = {"hash": f"sha256={digest}", "hashes": {"sha256": digest}}
    item = {
        "metadata": {"name": name, "version": version},
        "download_info": {"archive_info": archive},
    }
    return json.dumps({"install": [item]})


def test_pip_s_report_gives_the_canonical_name_the_version_and_the_hash() -> None:
    (package,) = _from_pip_report(pip_report("Tiny_Pkg", "1.0"))
    assert package == LockedPackage("tiny-pkg", "1.0", (f"sha256:{SHA}",))


@pytest.mark.parametrize(
    ("name", "version", "digest"),
    [
        ("tinypkg", "1.0\n--index-url http://evil/", SHA),
        ("tinypkg", "1.0 --pre", SHA),
        ("-e", "1.0", SHA),
        ("tinypkg", "1.0", "zz --trusted-host evil"),
    ],
)
def test_what_a_resolver_gives_cannot_become_an_installer_option(
    name: str, version: str, digest: str
) -> None:
    with pytest.raises(InstallerFailed):
        _from_pip_report(pip_report(name, version, digest))


def npm_lock(**entry: object) -> dict[str, object]:
    tiny = {"version": "1.0.0", "integrity": "sha512-" + "A" * 86 + "==", **entry}
    return {"packages": {"": {"dependencies": {"tiny": "^1"}}, "node_modules/tiny": tiny}}


def test_an_npm_lock_entry_from_the_registry_is_kept_with_its_integrity() -> None:
    resolved = "https://registry.example/tiny/-/tiny-1.0.0.tgz"
    (package,) = _locked_packages(npm_lock(resolved=resolved))
    assert (package.name, package.version, package.hashes[0][:7]) == ("tiny", "1.0.0", "sha512-")


@pytest.mark.parametrize(
    "entry",
    [
        {"resolved": "git+ssh://git@example/x.git#abc"},
        {"resolved": "file:../x"},
        {"link": True, "resolved": "https://x/"},
        {"integrity": None},
        {"version": "1.0.0 --registry=http://evil/"},
    ],
)
def test_an_npm_lock_entry_not_from_a_registry_is_refused(entry: dict[str, object]) -> None:
    with pytest.raises(InstallerFailed):
        _locked_packages(npm_lock(**entry))


def test_equal_locks_have_equal_digests_and_share_directories(tmp_path: Path) -> None:
    tiny = LockedPackage("tinypkg", "1.0.0", (f"sha256:{SHA}",))
    other = LockedPackage("otherpkg", "1.0.0", (f"sha256:{'b' * 64}",))
    one = Lock("python", ("tinypkg==1.0.0",), (tiny,))
    same = Lock("python", ("tinypkg<2",), (tiny,))  # declared otherwise, installed alike
    two = Lock("python", ("tinypkg", "otherpkg"), (other, tiny))
    store = PackageStore(tmp_path)
    assert one.digest == same.digest != two.digest
    assert set(store.paths(one)) < set(store.paths(two))
    assert Path(store.paths(one)[0]).name.startswith("tinypkg==1.0.0-")


def test_garbage_collection_keeps_what_a_live_runner_uses_and_forgets_the_dead(
    tmp_path: Path,
) -> None:
    store = PackageStore(tmp_path)
    used = LockedPackage("tinypkg", "1.0.0", (f"sha256:{SHA}",))
    store.python_dir(used).mkdir()
    (tmp_path / "python" / "unused==1.0-0").mkdir()
    store.use([Lock("python", (), (used,))])
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    dead_owner = owner_name(int(dead.stdout)).split("-")
    dead_owner[1] = "1"  # whatever its start time was, that process is gone
    gone = "-".join(dead_owner)
    (tmp_path / "in-use" / f"{gone}.json").write_text(json.dumps(["python/left==1.0-0"]))
    (tmp_path / "python" / "left==1.0-0").mkdir()
    (tmp_path / "staging" / f"{gone}-abcdef").mkdir()
    removed = store.collect_garbage()
    assert removed == ["python/left==1.0-0", "python/unused==1.0-0"]
    assert store.missing(Lock("python", (), (used,))) == []
    assert list((tmp_path / "staging").iterdir()) == []
    assert [p.name for p in (tmp_path / "in-use").iterdir()] == [f"{owner_name()}.json"]


def test_an_installer_s_error_is_its_own_lines_or_the_end_of_its_output() -> None:
    pip = ["Collecting x", "ERROR: No matching distribution found for tinypkg==3"]
    assert installer_error(pip) == "ERROR: No matching distribution found for tinypkg==3"
    assert installer_error(["a", "b", "c", "d", "e", "f"]) == "b / c / d / e / f"
    assert installer_error([]) == "it printed nothing"
