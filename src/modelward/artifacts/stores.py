"""Artifact stores: a local folder (``file://``, the default) and S3-compatible buckets (``s3://``).

Objects are whole package files (``.zip``). Writes are atomic: a reader never sees half a package.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from modelward.artifacts.sources import check_member_name
from modelward.errors import ConfigurationError, StoreError, StoreUnavailable, UnsafeArchive

Progress = Callable[[int], None]
MULTIPART_THRESHOLD = 16 * 1024 * 1024
MULTIPART_CHUNK = 16 * 1024 * 1024
_VAR = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class ArtifactStore(Protocol):
    """Where packages live. Keys are relative POSIX paths such as ``insurance/0.1.0.zip``."""

    url: str

    def put(self, source: Path, key: str, progress: Progress | None = None) -> str:
        """Upload a local file; return the object's URI."""
        ...

    def get(self, key: str, destination: Path, progress: Progress | None = None) -> Path:
        """Download an object to a local file (atomically)."""
        ...

    def exists(self, key: str) -> bool:
        """Whether the object exists."""
        ...

    def list(self, prefix: str = "") -> list[str]:
        """Keys under ``prefix``, sorted."""
        ...

    def size(self, key: str) -> int:
        """The object's size in bytes."""
        ...


def check_key(key: str, where: str) -> None:
    """Refuse object keys that could escape the store (``..``, absolute, backslashes)."""
    try:
        check_member_name(key, where)
    except UnsafeArchive as exc:
        raise StoreError(exc.message.replace("entry", "key", 1)) from None


def _check_destination(destination: Path) -> None:
    """Refuse a destination that cannot become a file, before anything is transferred."""
    if destination.is_dir():
        raise StoreError(f"{destination}: is a directory; give the path of the file to write")
    for parent in destination.parents:
        if parent.exists():
            if not parent.is_dir():
                raise StoreError(f"{destination}: cannot be written, {parent} is not a directory")
            break


def _copy(source: Path, destination: Path, progress: Progress | None) -> None:
    _check_destination(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.{secrets.token_hex(4)}.part")
    try:
        with source.open("rb") as reader, temporary.open("wb") as writer:
            while chunk := reader.read(1024 * 1024):
                writer.write(chunk)
                if progress:
                    progress(len(chunk))
            writer.flush()
            os.fsync(writer.fileno())
        temporary.replace(destination)
    finally:
        temporary.unlink(missing_ok=True)


class LocalStore:
    """A folder on a local or mounted file system."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = root.resolve().as_uri()

    def _path(self, key: str) -> Path:
        check_key(key, f"store {self.url}")
        return self.root / key

    def put(self, source: Path, key: str, progress: Progress | None = None) -> str:
        """Copy ``source`` into the store under ``key``."""
        target = self._path(key)
        try:
            _copy(source, target, progress)
        except StoreError as exc:
            raise StoreError(f"store {self.url}: cannot write '{key}': {exc.message}") from None
        except OSError as exc:
            raise StoreError(f"store {self.url}: cannot write '{key}': {exc.strerror or exc}") from None
        return target.resolve().as_uri()

    def get(self, key: str, destination: Path, progress: Progress | None = None) -> Path:
        """Copy the object to ``destination``."""
        if not self.exists(key):
            raise StoreError(f"{self.url}: no object '{key}'")
        try:
            _copy(self._path(key), destination, progress)
        except OSError as exc:
            raise StoreError(f"cannot copy '{key}' from {self.url} to {destination}: {exc.strerror or exc}") from None
        return destination

    def exists(self, key: str) -> bool:
        """Whether ``key`` is a file in the store."""
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> list[str]:
        """Every file under the root whose key starts with ``prefix``."""
        if not self.root.is_dir():
            return []
        keys = (p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())
        return sorted(k for k in keys if k.startswith(prefix) and not k.split("/")[-1].startswith("."))

    def size(self, key: str) -> int:
        """The file's size."""
        if not self.exists(key):
            raise StoreError(f"{self.url}: no object '{key}'")
        return self._path(key).stat().st_size


def resolve_secret(value: str | None, what: str) -> str | None:
    """``${VAR}`` means the environment variable VAR; a missing variable is a configuration error."""
    if value is None:
        return None
    match = _VAR.match(value)
    if match is None:
        return value
    resolved = os.environ.get(match.group(1))
    if resolved is None:
        raise ConfigurationError(f"{what}: environment variable {match.group(1)} is not set")
    return resolved


class S3Store:
    """An S3 bucket (MinIO, Ceph RGW, AWS) through boto3, with multipart transfers for large files."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None,
                 access_key: str | None = None, secret_key: str | None = None,
                 region: str | None = None, client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self._client = client or _make_client(endpoint_url, resolve_secret(access_key, "access key"),
                                              resolve_secret(secret_key, "secret key"), region)

    def _key(self, key: str) -> str:
        check_key(key, f"store {self.url}")
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, what: str, function: Callable[[], Any]) -> Any:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

        where = f"{self.url} (endpoint {self.endpoint_url or 'AWS default'})"
        try:
            return function()
        except (EndpointConnectionError, ConnectionError) as exc:
            raise StoreUnavailable(f"store {where} cannot be reached while trying to {what}: {exc}") from None
        except NoCredentialsError:
            raise StoreError(f"store {where}: no credentials to {what} (set AWS_ACCESS_KEY_ID and "
                             "AWS_SECRET_ACCESS_KEY, or pass ${VAR} references)") from None
        except ClientError as exc:
            raise StoreError(f"store {where}: {what} failed: {self._explain(exc)}") from None
        except S3UploadFailedError as exc:
            if isinstance(exc.__context__, ClientError):  # boto3 wraps the server's answer
                raise StoreError(f"store {where}: {what} failed: {self._explain(exc.__context__)}") from None
            raise StoreUnavailable(f"store {where}: {what} failed: {exc}") from None
        except BotoCoreError as exc:
            raise StoreUnavailable(f"store {where}: {what} failed: {exc}") from None
        except OSError as exc:
            raise StoreError(f"store {where}: {what} failed: {exc.strerror or exc}") from None

    def _explain(self, exc: Any) -> str:
        """The server's error code, and what it means for the usual ones."""
        code = str(exc.response.get("Error", {}).get("Code", "?"))
        meaning = {"404": "no such object (or no bucket '{b}')", "NoSuchKey": "no such object",
                   "NotFound": "no such object (or no bucket '{b}')", "NoSuchBucket": "bucket '{b}' does not exist",
                   "403": "access denied (check the credentials)", "AccessDenied": "access denied",
                   "InvalidAccessKeyId": "the access key is not known to the server",
                   "SignatureDoesNotMatch": "the secret key is wrong"}.get(code)
        return f"{code}: {meaning.format(b=self.bucket)}" if meaning else code

    def put(self, source: Path, key: str, progress: Progress | None = None) -> str:
        """Upload (multipart above 16 MiB)."""
        self._call(f"upload '{key}'", lambda: self._client.upload_file(
            str(source), self.bucket, self._key(key), Config=_transfer_config(), Callback=progress))
        return f"s3://{self.bucket}/{self._key(key)}"

    def get(self, key: str, destination: Path, progress: Progress | None = None) -> Path:
        """Download to a temporary name, then rename."""
        _check_destination(destination)
        temporary = destination.with_name(f".{destination.name}.{secrets.token_hex(4)}.part")
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            self._call(f"download '{key}'", lambda: self._client.download_file(
                self.bucket, self._key(key), str(temporary), Config=_transfer_config(), Callback=progress))
            temporary.replace(destination)
        except OSError as exc:
            raise StoreError(f"cannot write {destination}: {exc.strerror or exc}") from None
        finally:
            temporary.unlink(missing_ok=True)
        return destination

    def exists(self, key: str) -> bool:
        """A HEAD request."""
        from botocore.exceptions import ClientError

        try:
            self._client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise StoreError(f"store {self.url}: cannot check '{key}'") from None
        except Exception:
            return bool(self._call(f"check '{key}'", lambda: self._client.head_object(
                Bucket=self.bucket, Key=self._key(key))))
        return True

    def list(self, prefix: str = "") -> list[str]:
        """Keys under ``prefix`` (relative to the store's own prefix)."""
        base = f"{self.prefix}/" if self.prefix else ""
        paginator = self._client.get_paginator("list_objects_v2")

        def collect() -> list[str]:
            pages = paginator.paginate(Bucket=self.bucket, Prefix=base + prefix)
            return [item["Key"][len(base):] for page in pages for item in page.get("Contents", [])]

        return sorted(self._call("list objects", collect))

    def size(self, key: str) -> int:
        """The object's ``ContentLength``."""
        head = self._call(f"read '{key}'", lambda: self._client.head_object(Bucket=self.bucket,
                                                                              Key=self._key(key)))
        return int(head["ContentLength"])

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (for demos and tests)."""
        from botocore.exceptions import ClientError

        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self._call("create the bucket", lambda: self._client.create_bucket(Bucket=self.bucket))


def _transfer_config() -> Any:
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_CHUNK,
                          use_threads=True, max_concurrency=4)


def _make_client(endpoint_url: str | None, access_key: str | None, secret_key: str | None,
                 region: str | None) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise ConfigurationError("s3:// stores need boto3: pip install 'modelward[s3]'") from None
    config = Config(connect_timeout=3, read_timeout=30, retries={"max_attempts": 2, "mode": "standard"},
                    s3={"addressing_style": "path"})
    return boto3.client("s3", endpoint_url=endpoint_url, aws_access_key_id=access_key,
                        aws_secret_access_key=secret_key, region_name=region or "us-east-1", config=config)


def open_store(url: str, *, endpoint_url: str | None = None, access_key: str | None = None,
               secret_key: str | None = None, region: str | None = None) -> ArtifactStore:
    """A store for ``file:///folder``, a plain folder path, or ``s3://bucket/prefix``.

    S3 credentials come from the arguments (``${VAR}`` reads the environment) or from boto3's own
    chain (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, profiles, instance roles).
    """
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ConfigurationError(f"store URL '{url}': no bucket (use s3://bucket/prefix)")
        return S3Store(parsed.netloc, parsed.path, endpoint_url=endpoint_url, access_key=access_key,
                       secret_key=secret_key, region=region)
    if parsed.scheme == "file":
        return LocalStore(Path(unquote(parsed.path)))
    if parsed.scheme == "":
        return LocalStore(Path(url))
    raise ConfigurationError(f"store URL '{url}': unsupported scheme '{parsed.scheme}' (use file:// or s3://)")


def split_object_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b.zip`` -> (``s3://bucket/a``, ``b.zip``)."""
    head, _, name = uri.rstrip("/").rpartition("/")
    if not name or head.endswith(":/") or head.endswith(":"):
        raise ConfigurationError(f"'{uri}' does not name an object (use s3://bucket/path/package.zip)")
    return head, name


def remove_tree(path: Path) -> None:
    """Delete a private temporary folder."""
    shutil.rmtree(path, ignore_errors=True)
