"""The built-in development issuer: a local RSA key, its JWKS, and signing.

The keys live in ``.run/auth/`` of the checkout (git-ignored):

- ``dev-key.pem``: the private key (mode 0600), made on first use;
- ``jwks.json``: its public half, the JWKS every server process of the checkout
  reads (one file read when keys are refreshed, never per request).

Who owns which account is the auth module's data (its ``auth__account_owners``
table, filled by ``trading auth token --user alice --account ID``); this
issuer signs the accounts it is given.

It signs tokens for the default settings (issuer ``trading-dev``, audience
``trading-api``) and is off as soon as ``AUTH_JWKS_URL`` names a real issuer.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trading_api.shared.auth._settings import AuthSettings
from trading_api.shared.errors import EXIT_USAGE, TradingError

KEY_FILE = "dev-key.pem"
JWKS_FILE = "jwks.json"
DEFAULT_TTL_SECONDS = 12 * 3600
DEV_USER = "demo"
DEV_ACCOUNT = "DEMO-1"
"""Who ``trading dev`` prints a token for: the broker's default account."""

USER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
ACCOUNT_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class DevIssuerError(TradingError):
    """The development issuer cannot do what was asked; the message says why."""


def dev_dir() -> Path:
    """``.run/auth/`` of the checkout (or of the working folder elsewhere)."""
    from trading_api.conventions import DEV_AUTH_DIR, RUN_DIR
    from trading_api.shared.storage._url import project_root

    return project_root() / RUN_DIR / DEV_AUTH_DIR


def dev_jwks_path() -> Path:
    """Where the development issuer publishes its JWKS."""
    return dev_dir() / JWKS_FILE


class DevIssuer:
    """Signs development tokens with the key in ``folder``.

    Args:
        folder: Where the key and the JWKS live.
        settings: The issuer and audience to put in tokens, and the accounts
            claim's name; the defaults when None.
    """

    def __init__(
        self, folder: Path | None = None, settings: AuthSettings | None = None
    ) -> None:
        self.folder = folder or dev_dir()
        self.settings = settings or AuthSettings()

    # -- keys -------------------------------------------------------------------

    def private_key(self) -> Any:
        """The signing key, generated (with its JWKS) on first use."""
        key = self._loaded().key
        if not (self.folder / JWKS_FILE).exists():
            self._publish(key)
        return key

    def kid(self) -> str:
        """The key id of the signing key: its RFC 7638 thumbprint."""
        return self._loaded().kid

    def _loaded(self) -> _LoadedKey:
        """The key file, parsed once per version of the file."""
        path = self.folder / KEY_FILE
        try:
            version = _file_version(path)
        except FileNotFoundError:
            self._generate()
            version = _file_version(path)
        loaded = _LOADED.get(path)
        if loaded is None or loaded.version != version:
            loaded = _load(path, version)
            _LOADED[path] = loaded
        return loaded

    def jwks(self) -> dict[str, Any]:
        """The JWKS of the signing key (empty before the first token)."""
        path = self.folder / JWKS_FILE
        if not path.exists():
            return {"keys": []}
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return document

    def _generate(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.folder.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Written aside and linked in place: two processes making the key at
        # once keep the first one, and readers never see half a file.
        if _create_once(self.folder / KEY_FILE, pem, mode=0o600):
            self._publish(key)

    def _publish(self, key: Any) -> None:
        from jwt.algorithms import RSAAlgorithm

        jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
        jwk.update(kid=_thumbprint(jwk), use="sig", alg="RS256")
        document = json.dumps({"keys": [jwk]}, indent=2, sort_keys=True) + "\n"
        _replace(self.folder / JWKS_FILE, document.encode(), mode=0o644)

    # -- tokens -----------------------------------------------------------------

    def sign(
        self,
        user: str,
        accounts: Iterable[str],
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        now: float | None = None,
        **claims: Any,
    ) -> str:
        """A signed token for ``user`` owning exactly ``accounts``.

        ``claims`` add to or replace the standard ones (``iss``, ``aud``, ...).
        """
        import jwt

        issued = int(time.time() if now is None else now)
        payload = {
            "iss": self.settings.issuer,
            "aud": self.settings.audience,
            "sub": user,
            "iat": issued,
            "exp": issued + int(ttl_seconds),
            self.settings.accounts_claim: sorted(set(accounts)),
            **claims,
        }
        key = self.private_key()
        return jwt.encode(payload, key, algorithm="RS256", headers={"kid": self.kid()})


def check_user(user: str) -> None:
    """Refuse a user name that is not 1 to 64 plain characters.

    Raises:
        DevIssuerError: with the rule, as a usage error.
    """
    if not USER_PATTERN.match(user):
        raise DevIssuerError(
            f"user name {user!r} must be 1 to 64 letters, digits, '_', '.', '@' or "
            "'-', starting with a letter or digit",
            exit_code=EXIT_USAGE,
        )


def check_account(account: str) -> None:
    """Refuse an account id that is not 1 to 32 plain characters.

    Raises:
        DevIssuerError: with the rule, as a usage error.
    """
    if not ACCOUNT_PATTERN.match(account):
        raise DevIssuerError(
            f"account id {account!r} is not 1 to 32 letters, digits, '_' or '-'",
            exit_code=EXIT_USAGE,
        )


@dataclass(frozen=True)
class _LoadedKey:
    version: tuple[int, int, int, int]
    key: Any
    kid: str


_LOADED: dict[Path, _LoadedKey] = {}
"""The parsed key of each key file this process signed with."""


def _file_version(path: Path) -> tuple[int, int, int, int]:
    """What tells one content of ``path`` from another: a key is replaced by
    linking a new file in place, so a new inode, time or size."""
    info = path.stat()
    return (info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size)


def _load(path: Path, version: tuple[int, int, int, int]) -> _LoadedKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    # The key is the one this issuer generated, in a file only its owner can
    # read (0600): checking that it is a sound RSA key (cryptography's default)
    # is for keys from elsewhere, and costs a thousand times the parse, about
    # 50 ms in every process and project that signs a token.
    key = serialization.load_pem_private_key(
        path.read_bytes(), password=None, unsafe_skip_rsa_key_validation=True
    )
    if not isinstance(key, rsa.RSAPrivateKey):
        raise DevIssuerError(f"{path} holds no RSA private key; remove it to make one")
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return _LoadedKey(version, key, _thumbprint(jwk))


def _thumbprint(jwk: dict[str, Any]) -> str:
    import base64
    import hashlib

    members = {name: jwk[name] for name in ("e", "kty", "n")}
    digest = hashlib.sha256(
        json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _create_once(path: Path, data: bytes, *, mode: int) -> bool:
    """Write ``path`` unless it exists; False if another writer was first."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        try:
            os.link(temp, path)
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(temp)


def _replace(path: Path, data: bytes, *, mode: int) -> None:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
