"""Signing keys and the keyring of trusted keys.

Asymmetric keys (Ed25519, ECDSA P-256) are the default: the private key signs, servers hold only
public keys. HMAC-SHA256 with a shared secret is offered for teams that want the article's model;
its secret is never written in the keyring, which names the environment variable that holds it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer

from modelward.errors import ConfigurationError, KeyExpired, KeyRevoked, SignatureInvalid, UnknownKey

Algorithm = Literal["ed25519", "ecdsa-p256", "hmac-sha256"]
ALGORITHMS: tuple[str, ...] = ("ed25519", "ecdsa-p256", "hmac-sha256")
CLOCK_SKEW = timedelta(minutes=5)
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]+$")
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Signer(Protocol):
    """Something that signs bytes with a named key."""

    @property
    def key_id(self) -> str: ...

    @property
    def algorithm(self) -> str: ...

    def sign(self, payload: bytes) -> bytes: ...


class AsymmetricSigner:
    """Signs with an Ed25519 or ECDSA P-256 private key."""

    def __init__(self, key_id: str, private_key: PrivateKey) -> None:
        self._key_id = key_id
        self._key = private_key
        self._algorithm = "ed25519" if isinstance(private_key, ed25519.Ed25519PrivateKey) else "ecdsa-p256"
        if isinstance(private_key, ec.EllipticCurvePrivateKey) and private_key.curve.name != "secp256r1":
            raise ConfigurationError(f"key '{key_id}': only the P-256 curve is supported for ECDSA")

    @property
    def key_id(self) -> str:
        """The key id written into every signature."""
        return self._key_id

    @property
    def algorithm(self) -> str:
        """``ed25519`` or ``ecdsa-p256``."""
        return self._algorithm

    def sign(self, payload: bytes) -> bytes:
        """Sign ``payload``."""
        if isinstance(self._key, ed25519.Ed25519PrivateKey):
            return self._key.sign(payload)
        return self._key.sign(payload, ec.ECDSA(hashes.SHA256()))


class HmacSigner:
    """Signs with HMAC-SHA256 and a shared secret (anyone who can verify can also sign)."""

    algorithm = "hmac-sha256"

    def __init__(self, key_id: str, secret: bytes) -> None:
        if len(secret) < 32:
            raise ConfigurationError(f"key '{key_id}': an HMAC secret needs at least 32 bytes")
        self._key_id = key_id
        self._secret = secret

    @property
    def key_id(self) -> str:
        """The key id written into every signature."""
        return self._key_id

    def sign(self, payload: bytes) -> bytes:
        """HMAC-SHA256 of ``payload``."""
        return hmac.new(self._secret, payload, hashlib.sha256).digest()


class TrustedKey(BaseModel):
    """One keyring entry: a public key (or the name of the variable holding an HMAC secret)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    algorithm: Algorithm
    public_key: str | None = Field(default=None, description="PEM (SubjectPublicKeyInfo).")
    secret_env: str | None = Field(default=None, description="For hmac-sha256: variable with the secret.")
    not_before: datetime | None = None
    not_after: datetime | None = None
    revoked: bool = False
    revoked_at: datetime | None = None
    comment: str = ""

    @field_serializer("not_before", "not_after", "revoked_at")
    def _times(self, value: datetime | None) -> str | None:
        return _iso(value)

    def check_valid_at(self, signed_at: datetime, now: datetime) -> None:
        """Raise ``KeyRevoked`` or ``KeyExpired`` unless this key may have signed at ``signed_at``."""
        if self.revoked:
            when = f" on {_iso(self.revoked_at)}" if self.revoked_at else ""
            raise KeyRevoked(f"key '{self.key_id}' was revoked{when}")
        if signed_at > now + CLOCK_SKEW:
            raise KeyExpired(f"key '{self.key_id}': signing time {_iso(signed_at)} is in the future")
        if self.not_before is not None and signed_at < self.not_before:
            raise KeyExpired(f"key '{self.key_id}' is valid from {_iso(self.not_before)}, "
                             f"but signed at {_iso(signed_at)}")
        if self.not_after is not None and signed_at > self.not_after:
            raise KeyExpired(f"key '{self.key_id}' expired on {_iso(self.not_after)}, "
                             f"but signed at {_iso(signed_at)}")

    def verify(self, payload: bytes, signature: bytes) -> None:
        """Raise ``SignatureInvalid`` unless ``signature`` is this key's signature of ``payload``."""
        try:
            if self.algorithm == "hmac-sha256":
                expected = HmacSigner(self.key_id, self.hmac_secret()).sign(payload)
                if not hmac.compare_digest(expected, signature):
                    raise InvalidSignature
            else:
                _verify_asymmetric(self.load_public_key(), payload, signature)
        except InvalidSignature:
            raise SignatureInvalid(f"signature by key '{self.key_id}' does not verify") from None

    def load_public_key(self) -> ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey:
        """The public key object."""
        if not self.public_key:
            raise ConfigurationError(f"keyring entry '{self.key_id}' has no public_key")
        try:
            key = serialization.load_pem_public_key(self.public_key.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise ConfigurationError(f"keyring entry '{self.key_id}': public_key is not a PEM public key "
                                     "(-----BEGIN PUBLIC KEY-----...)") from None
        if self.algorithm == "ed25519" and isinstance(key, ed25519.Ed25519PublicKey):
            return key
        if self.algorithm == "ecdsa-p256" and isinstance(key, ec.EllipticCurvePublicKey) \
                and key.curve.name == "secp256r1":
            return key
        raise ConfigurationError(f"keyring entry '{self.key_id}': public_key is not an {self.algorithm} key")

    def hmac_secret(self) -> bytes:
        """The shared secret, read from the environment variable the entry names."""
        value = os.environ.get(self.secret_env or "")
        if not value:
            raise UnknownKey(f"key '{self.key_id}': environment variable {self.secret_env or '(none)'} "
                             "holding its HMAC secret is not set")
        return value.encode("utf-8")


def _verify_asymmetric(key: ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey,
                       payload: bytes, signature: bytes) -> None:
    if isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(signature, payload)
    else:
        key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))


class Keyring:
    """The trusted keys, by key id. Load it from a JSON file or a folder of ``<key_id>.json`` files."""

    def __init__(self, keys: list[TrustedKey] | None = None, source: Path | None = None,
                 origins: dict[str, Path] | None = None) -> None:
        self._keys: dict[str, TrustedKey] = {}
        self.source = source
        self._origins = dict(origins or {})  # folder keyrings: the file each key was read from
        for key in keys or []:
            if key.key_id in self._keys:
                raise ConfigurationError(f"keyring {source or ''}: key id '{key.key_id}' appears twice")
            self._keys[key.key_id] = key

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def __iter__(self) -> Iterator[TrustedKey]:
        return iter(sorted(self._keys.values(), key=lambda k: k.key_id))

    def __len__(self) -> int:
        return len(self._keys)

    def get(self, key_id: str) -> TrustedKey:
        """The entry for ``key_id``; ``UnknownKey`` if the keyring does not hold it."""
        try:
            return self._keys[key_id]
        except KeyError:
            where = f" {self.source}" if self.source else ""
            raise UnknownKey(f"key '{key_id}' is not in the keyring{where}") from None

    def trusted(self, key_id: str, signed_at: datetime, now: datetime | None = None) -> TrustedKey:
        """The key, if it is known, not revoked and was valid at ``signed_at``; else a typed error."""
        key = self.get(key_id)
        key.check_valid_at(signed_at, now or datetime.now(UTC))
        return key

    @classmethod
    def load(cls, path: Path | str) -> Keyring:
        """Read a keyring file (``{"keys": [...]}`` or one key) or a folder of key files."""
        path = Path(path)
        if path.is_dir():
            files = sorted(p for p in path.glob("*.json") if p.is_file())
            read = [(key, file) for file in files for key in _read_keys(file)]
            return cls([key for key, _ in read], source=path, origins={key.key_id: file for key, file in read})
        if path.is_file():
            return cls(_read_keys(path), source=path)
        raise ConfigurationError(f"keyring {path} does not exist (create one with `modelward keys generate`)")

    def revoke(self, key_id: str, when: datetime | None = None) -> TrustedKey:
        """Mark ``key_id`` revoked and write the change back to the keyring's file."""
        revoked = self.get(key_id).model_copy(update={"revoked": True, "revoked_at": when or datetime.now(UTC)})
        self._keys[key_id] = revoked
        try:
            self._save_entry(revoked)
        except OSError as exc:
            raise ConfigurationError(f"cannot write keyring {self.source}: {exc.strerror}") from None
        return revoked

    def add(self, key: TrustedKey) -> None:
        """Add a key and write it to the keyring (a new file in a folder keyring)."""
        if key.key_id in self._keys:
            raise ConfigurationError(f"keyring already holds a key '{key.key_id}'")
        self._keys[key.key_id] = key
        self._save_entry(key)

    def _save_entry(self, key: TrustedKey) -> None:
        if self.source is None:
            return
        if self.source.is_dir():
            origin = self._origins.setdefault(key.key_id, self.source / f"{key.key_id}.json")
            together = [k for k in self if self._origins.get(k.key_id) == origin]
            _write_atomic(origin, _dump(together, single=len(together) == 1))
        else:
            _write_atomic(self.source, _dump(list(self), single=False))


def _dump(keys: list[TrustedKey], *, single: bool) -> bytes:
    documents = [k.model_dump(mode="json", exclude_none=True) for k in keys]
    text = json.dumps(documents[0] if single else {"keys": documents}, indent=2, sort_keys=True)
    return (text + "\n").encode("utf-8")


def _read_keys(path: Path) -> list[TrustedKey]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        entries = document["keys"] if isinstance(document, dict) and "keys" in document else [document]
        return [TrustedKey.model_validate(entry) for entry in entries]
    except (OSError, ValueError, TypeError) as exc:
        message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise ConfigurationError(f"keyring file {path}: {message}") from None


def _write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


class GeneratedKey(BaseModel):
    """A new key: the keyring entry to publish, and where its private part was written."""

    model_config = ConfigDict(frozen=True)

    trusted: TrustedKey
    private_path: Path


def generate_key(private_dir: Path, *, key_id: str | None = None, algorithm: str = "ed25519",
                 valid_days: int | None = 365, keyring: Keyring | None = None) -> GeneratedKey:
    """Create a key pair: private part in ``private_dir`` (mode 0600), public entry added to ``keyring``.

    For ``hmac-sha256`` the secret is written to the private file and the entry names the
    environment variable ``MODELWARD_HMAC_<KEY_ID>`` from which verifiers read it.
    """
    if algorithm not in ALGORITHMS:
        raise ConfigurationError(f"unknown algorithm '{algorithm}' (use one of {', '.join(ALGORITHMS)})")
    if key_id is not None and (not _KEY_ID.match(key_id) or key_id.startswith(".")):
        raise ConfigurationError(f"key id '{key_id}': use letters, digits, '.', '_' and '-' only, "
                                 "not starting with '.'")
    if key_id is not None and keyring is not None and key_id in keyring:
        raise ConfigurationError(f"keyring {keyring.source or ''} already holds a key '{key_id}'")
    now = datetime.now(UTC).replace(microsecond=0)
    not_after = now + timedelta(days=valid_days) if valid_days else None
    if algorithm == "hmac-sha256":
        secret = secrets.token_urlsafe(48).encode("ascii")
        key_id = key_id or f"hmac-{hashlib.sha256(secret).hexdigest()[:16]}"
        env = "MODELWARD_HMAC_" + key_id.upper().replace("-", "_").replace(".", "_")
        entry = TrustedKey(key_id=key_id, algorithm="hmac-sha256", secret_env=env,
                           not_before=now, not_after=not_after)
        private, suffix = secret + b"\n", ".secret"
    else:
        key: PrivateKey = ed25519.Ed25519PrivateKey.generate() if algorithm == "ed25519" \
            else ec.generate_private_key(ec.SECP256R1())
        public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
        key_id = key_id or f"{algorithm}-{hashlib.sha256(public_pem).hexdigest()[:16]}"
        entry = TrustedKey(key_id=key_id, algorithm=algorithm,
                           public_key=public_pem.decode("ascii"), not_before=now, not_after=not_after)
        private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        suffix = ".pem"
    private_path = private_dir / f"{key_id}{suffix}"
    if private_dir.exists() and not private_dir.is_dir():
        raise ConfigurationError(f"{private_dir}: is not a directory (where the private key would go)")
    if private_path.exists():
        raise ConfigurationError(f"{private_path} already exists; choose another --key-id")
    TrustedKey.model_validate(entry.model_dump())
    try:
        _write_atomic(private_path, private, mode=0o600)
    except OSError as exc:
        raise ConfigurationError(f"cannot write the private key {private_path}: {exc.strerror}") from None
    if keyring is not None:
        try:
            keyring.add(entry)
        except (ConfigurationError, OSError) as exc:
            private_path.unlink(missing_ok=True)
            reason = exc.strerror if isinstance(exc, OSError) else exc.message
            raise ConfigurationError(f"cannot add key '{key_id}' to keyring {keyring.source}: {reason} "
                                     "(no key was created)") from None
    return GeneratedKey(trusted=entry, private_path=private_path)


def load_signer(path: Path | str, key_id: str | None = None) -> Signer:
    """A signer from a private key file written by ``generate_key`` (``<key_id>.pem|.secret``)."""
    path = Path(path)
    key_id = key_id or path.name.rsplit(".", 1)[0]
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read signing key {path}: {exc.strerror}") from None
    if path.suffix == ".secret":
        return HmacSigner(key_id, data.strip())
    try:
        key = serialization.load_pem_private_key(data, password=_password())
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"signing key {path}: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise ConfigurationError(f"signing key {path}: not an Ed25519 or ECDSA key")
    return AsymmetricSigner(key_id, key)


def _password() -> bytes | None:
    value = os.environ.get("MODELWARD_SIGNING_KEY_PASSWORD")
    return value.encode("utf-8") if value else None


def b64encode(data: bytes) -> str:
    """Standard padded base64."""
    return base64.b64encode(data).decode("ascii")


def b64decode_strict(text: str, where: str) -> bytes:
    """Decode base64, refusing every variant but the one canonical encoding."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise SignatureInvalid(f"{where}: signature value is not valid base64") from None
    if b64encode(data) != text:
        raise SignatureInvalid(f"{where}: signature value is not in canonical base64")
    return data
