"""Per-plugin credentials: an Ed25519 key pair and a token, made once, owner-read-only.

For plugin ``NAME`` the folder holds ``NAME.key`` (private key, PKCS#8 PEM),
``NAME.pub`` (public key, SubjectPublicKeyInfo PEM) and ``NAME.token`` (a
random URL-safe token). Missing files are created with mode 0400; existing
ones are never rewritten. The folder is created with mode 0700. Nothing here
logs file contents.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import attrs

__all__ = ["Credentials", "ensure_credentials"]

#: Environment variables giving a plugin the paths of its credentials.
KEY_FILE_ENV = "TRIO_LAUNCHER_KEY_FILE"
PUBLIC_KEY_FILE_ENV = "TRIO_LAUNCHER_PUBLIC_KEY_FILE"
TOKEN_FILE_ENV = "TRIO_LAUNCHER_TOKEN_FILE"


@attrs.frozen
class Credentials:
    """Paths of one plugin's credential files."""

    key_file: Path
    public_key_file: Path
    token_file: Path

    def env(self) -> dict[str, str]:
        """Environment variables that pass these paths to the plugin."""
        return {
            KEY_FILE_ENV: str(self.key_file),
            PUBLIC_KEY_FILE_ENV: str(self.public_key_file),
            TOKEN_FILE_ENV: str(self.token_file),
        }


def ensure_credentials(folder: str | os.PathLike[str], name: str) -> Credentials:
    """Create ``name``'s missing credential files in ``folder`` and return their paths.

    Raises:
        OSError: the folder or a file cannot be created.
    """
    folder = Path(folder)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    credentials = Credentials(
        key_file=folder / f"{name}.key",
        public_key_file=folder / f"{name}.pub",
        token_file=folder / f"{name}.token",
    )
    if not credentials.key_file.exists():
        credentials.public_key_file.unlink(missing_ok=True)  # it belonged to a lost key
        _write_private(credentials.key_file, _new_private_key())
    if not credentials.public_key_file.exists():
        _write_private(credentials.public_key_file, _public_pem(credentials.key_file))
    if not credentials.token_file.exists():
        _write_private(credentials.token_file, secrets.token_urlsafe(32).encode() + b"\n")
    return credentials


def _new_private_key() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _public_pem(key_file: Path) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise OSError(f"{key_file} does not hold an Ed25519 private key")
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _write_private(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0400 (never replacing a file) and write ``data``."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.link(temporary, path)  # fails if path appeared meanwhile: never overwrite
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)
