"""The detached signature over a manifest's canonical bytes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_serializer

from modelward.artifacts.digests import sha256_bytes
from modelward.artifacts.keys import Keyring, Signer, b64decode_strict, b64encode
from modelward.artifacts.manifest import SIGNATURE_NAME, canonical_json, utc_now
from modelward.errors import ArtifactError, ConfigurationError, SignatureInvalid

SIGNATURE_FORMAT = "modelward-signature/1"


class Signature(BaseModel):
    """``signature.json``: who signed which manifest when, and the signature value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["modelward-signature/1"] = "modelward-signature/1"
    algorithm: Literal["ed25519", "ecdsa-p256", "hmac-sha256"]
    key_id: str
    signed_at: datetime
    manifest_digest: str
    value: str

    @field_serializer("signed_at")
    def _signed_at(self, value: datetime) -> str:
        return value.isoformat().replace("+00:00", "Z")

    def payload(self) -> bytes:
        """The bytes that were signed: every field but ``value``, as canonical JSON."""
        return canonical_json(self.model_dump(mode="json", exclude={"value"}))

    def to_bytes(self) -> bytes:
        """The canonical bytes of ``signature.json``."""
        return canonical_json(self.model_dump(mode="json"))


def sign_manifest(manifest_bytes: bytes, signer: Signer, signed_at: datetime | None = None) -> Signature:
    """Sign a manifest's canonical bytes with ``signer``."""
    unsigned = Signature(algorithm=signer.algorithm,
                         key_id=signer.key_id, signed_at=signed_at or utc_now(),
                         manifest_digest=sha256_bytes(manifest_bytes), value="")
    return unsigned.model_copy(update={"value": b64encode(signer.sign(unsigned.payload()))})


def parse_signature(data: bytes, where: str = SIGNATURE_NAME) -> Signature:
    """Parse ``signature.json``, refusing any byte that is not the canonical document."""
    try:
        signature = Signature.model_validate(json.loads(data))
    except (ValueError, TypeError) as exc:
        reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else "not a JSON document"
        raise SignatureInvalid(f"{where}: {reason} (truncated or edited?)") from None
    if signature.signed_at.tzinfo is None:
        raise SignatureInvalid(f"{where}: signed_at has no time zone")
    if signature.to_bytes() != data:
        raise SignatureInvalid(f"{where}: not the canonical document (extra or appended bytes)")
    return signature


def verify_signature(manifest_bytes: bytes, signature: Signature, keyring: Keyring,
                     where: str = SIGNATURE_NAME) -> None:
    """Check that a trusted key signed exactly these manifest bytes; raise a typed error if not."""
    with naming(where):
        key = keyring.trusted(signature.key_id, signature.signed_at)
    if key.algorithm != signature.algorithm:
        raise SignatureInvalid(f"{where}: key '{key.key_id}' is {key.algorithm}, "
                               f"the signature claims {signature.algorithm}")
    if sha256_bytes(manifest_bytes) != signature.manifest_digest:
        raise SignatureInvalid(f"{where}: manifest digest differs: manifest.json was changed after signing")
    value = b64decode_strict(signature.value, where)
    with naming(where):
        key.verify(signature.payload(), value)


@contextmanager
def naming(where: str) -> Iterator[None]:
    """Add ``(in <where>)`` to the key errors raised inside, which know the key but not the package."""
    try:
        yield
    except (ArtifactError, ConfigurationError) as exc:
        raise type(exc)(f"{exc.message} (in {where})", **exc.details) from None
