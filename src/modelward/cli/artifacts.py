"""``modelward keys|package|sign|verify|push|pull``: one ``modelward.artifacts`` call each."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from modelward import artifacts as a
from modelward.cli.common import console, err_console
from modelward.errors import ConfigurationError, PackageFormatError
from modelward.settings import Settings, load_settings

KeyringOpt = Annotated[Path | None, typer.Option("--keyring", help="Trusted keys: JSON file or folder "
                                                 "(default: $MODELWARD_KEYRING, else <data dir>/keyring).")]
StoreOpt = Annotated[str | None, typer.Option("--store", help="Store URL, file:///dir or s3://bucket/prefix "
                                              "(default: $MODELWARD_STORE_URL, else <data dir>/store).")]
EndpointOpt = Annotated[str | None, typer.Option("--endpoint-url", help="S3 endpoint (MinIO, Ceph RGW); "
                                                 "default $MODELWARD_S3_ENDPOINT_URL.")]
KeyOpt = Annotated[Path | None, typer.Option("--key", help="Private key file written by `keys generate`.")]


def _keyring_path(settings: Settings, given: Path | None) -> Path:
    return given or settings.resolved_keyring()


def _keyring(given: Path | None, *, create: bool = False) -> a.Keyring:
    path = _keyring_path(load_settings(), given)
    if create and not path.exists():
        try:  # a name ending in .json is a keyring file, anything else a folder of key files
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".json":
                path.write_text('{"keys": []}\n', encoding="utf-8")
            else:
                path.mkdir()
        except OSError as exc:
            raise ConfigurationError(f"cannot create keyring {path}: {exc.strerror or exc}") from None
    return a.Keyring.load(path)


@contextmanager
def _progress(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    bar = Progress(TextColumn(label), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                   console=err_console(), transient=True)
    with bar:
        task = bar.add_task(label, total=total)
        yield lambda count: bar.advance(task, count)


# --- keys -------------------------------------------------------------------------------------------


def keys_generate(
    key_id: Annotated[str | None, typer.Option("--key-id", help="Key id (default: algorithm-fingerprint).")] = None,
    algorithm: Annotated[str, typer.Option(help="ed25519, ecdsa-p256 or hmac-sha256.")] = "ed25519",
    valid_days: Annotated[int, typer.Option(min=0, help="Validity in days (0: no end).")] = 365,
    keyring: KeyringOpt = None,
    private_dir: Annotated[Path | None, typer.Option(help="Where the private key goes "
                                                     "(default: <data dir>/private-keys).")] = None,
) -> None:
    """Create a signing key: the private part (mode 0600) and its public entry in the keyring."""
    settings = load_settings()
    ring = _keyring(keyring, create=True)
    new = a.generate_key(private_dir or settings.data_dir / "private-keys", key_id=key_id,
                         algorithm=algorithm, valid_days=valid_days or None, keyring=ring)
    console().print(f"key {new.trusted.key_id} ({new.trusted.algorithm}) valid until "
                    f"{new.trusted.not_after or 'revoked'}")
    console().print(f"private key: {new.private_path}")
    console().print(f"keyring:     {ring.source}")
    if new.trusted.secret_env:
        console().print(f"verifiers need: export {new.trusted.secret_env}=\"$(cat {new.private_path})\"")


def keys_list(keyring: KeyringOpt = None,
              as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the trusted keys with their validity and revocation."""
    ring = _keyring(keyring)
    if as_json:
        console().print(json.dumps([k.model_dump(mode="json", exclude={"public_key"}) for k in ring], indent=2))
        return
    for key in ring:
        state = "REVOKED" if key.revoked else "trusted"
        console().print(f"{key.key_id}  {key.algorithm}  {state}  not_before={key.not_before}  "
                        f"not_after={key.not_after}")
    console().print(f"{len(ring)} keys in {ring.source}")


def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key id to revoke.")],
                keyring: KeyringOpt = None) -> None:
    """Revoke a key: packages it signed are refused from now on."""
    revoked = _keyring(keyring).revoke(key_id)
    console().print(f"revoked {revoked.key_id} at {revoked.revoked_at}")


# --- packages ---------------------------------------------------------------------------------------


def _datasets(values: list[str]) -> tuple[a.DatasetRef, ...]:
    refs = []
    for value in values:
        name, _, rest = value.partition("=")
        uri, at, digest = rest.rpartition("@sha256:")
        uri, digest = (uri, f"sha256:{digest}") if at else (rest, "")
        if not name:
            raise ConfigurationError(f"--dataset '{value}': use NAME=URI[@sha256:HEX]")
        if digest:
            try:
                a.Digest.parse(digest)
            except PackageFormatError as exc:
                raise ConfigurationError(f"--dataset '{value}': {exc.message}") from None
        refs.append(a.DatasetRef(name=name, uri=uri, digest=digest or None))
    return tuple(refs)


def _metrics(path: Path | None) -> dict[str, float]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(k): float(v) for k, v in data.items()}
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise ConfigurationError(f"--metrics {path}: not a JSON object of numbers ({exc})") from None


def package_build(
    folder: Annotated[Path, typer.Argument(help="Folder of model files, reports and validation.jsonl.")],
    output: Annotated[Path, typer.Argument(help="The package: a .zip file, else a new directory.")],
    name: Annotated[str, typer.Option("--name", help="Model qualified name.")],
    version: Annotated[str, typer.Option("--version", help="Model version.")],
    owner: Annotated[str, typer.Option(help="Owner of the model.")] = "",
    metrics: Annotated[Path | None, typer.Option(help="JSON file of metrics to record.")] = None,
    dataset: Annotated[list[str] | None, typer.Option(help="NAME=URI[@sha256:HEX], repeatable.")] = None,
    repository: Annotated[str, typer.Option(help="Code repository.")] = "",
    commit: Annotated[str, typer.Option(help="Code commit.")] = "",
    report: Annotated[list[str] | None, typer.Option(help="Package path of a training report, "
                                                     "repeatable.")] = None,
    key: KeyOpt = None,
    allow_global: Annotated[list[str] | None, typer.Option(
        "--allow-global", help="MODULE:QUALNAME a pickle may import beyond the vetted catalogue (an explicit, "
        "reviewed extension signed with the package; `verify` prints it). Repeatable.")] = None,
) -> None:
    """Build a package (manifest with digests and pickle globals, found without running anything), signed if
    --key is given. Refuses a pickle or joblib file that imports a global outside the vetted catalogue."""
    training = a.Training(datasets=_datasets(dataset or []), code=a.CodeRef(repository=repository, commit=commit),
                          metrics=_metrics(metrics), owner=owner, reports=tuple(report or []))
    signer = a.load_signer(key) if key else None
    manifest = a.build_package(folder, output, qualified_name=name, version=version, training=training,
                               signer=signer, allow_globals=tuple(allow_global or ()))
    total = sum(f.size for f in manifest.files)
    console().print(f"built {output}: {name} {version}, {len(manifest.files)} files, {total} bytes, "
                    f"{'signed by ' + signer.key_id if signer else 'UNSIGNED (run modelward sign)'}")
    for entry in manifest.files:
        if entry.format in ("pickle", "joblib"):
            console().print(f"  {entry.path}: {entry.format}, {len(entry.globals)} globals, all vetted "
                            "(skops is the safer format for scikit-learn models: skops.io.dump)")
    _print_allowances(manifest.allow_globals, ())


def package_inspect(package: Annotated[Path, typer.Argument(help="A package (.zip or directory).")]) -> None:
    """Show a package's manifest and signature WITHOUT verifying them (use `modelward verify`)."""
    manifest = a.read_manifest(package)
    signature = a.read_signature(package)
    out = console()
    out.print(f"{package}  (not verified)")
    out.print(f"model:    {manifest.model.qualified_name} {manifest.model.version}  created {manifest.created}")
    out.print(f"format:   {manifest.format}")
    for entry in manifest.files:
        extra = f"  globals={len(entry.globals)}" if entry.globals else ""
        out.print(f"  {entry.path}  {entry.size}  {entry.digest}  {entry.format}{extra}")
    t = manifest.training
    out.print(f"training: owner={t.owner or '-'} metrics={t.metrics} code={t.code.repository}@{t.code.commit}")
    for ref in t.datasets:
        out.print(f"  dataset {ref.name} {ref.uri} {ref.digest or ''}")
    out.print(f"signature: {signature.key_id} ({signature.algorithm}) at {signature.signed_at}" if signature
              else "signature: none")
    _print_allowances(manifest.allow_globals, ())


def _print_allowances(signed: tuple[str, ...], operator: tuple[str, ...]) -> None:
    """Print, loudly, every pickle global allowed beyond the vetted catalogue, and who allowed it."""
    out = console()
    for text in signed:
        out.print(f"[bold red]EXTRA PICKLE ALLOWANCE[/] {text} (allow_globals, signed with the package)")
    for text in operator:
        out.print(f"[bold red]EXTRA PICKLE ALLOWANCE[/] {text} (MODELWARD_PICKLE_ALLOW, this machine)")


def sign(package: Annotated[Path, typer.Argument(help="A package (.zip or directory), or a model folder "
                                                 "with --openssf.")],
         key: Annotated[Path, typer.Option("--key", help="Private key file written by `keys generate`.")],
         openssf: Annotated[bool, typer.Option("--openssf", help="Write an OpenSSF model-signing "
                                               "signature (model.sig) with an EC key.")] = False) -> None:
    """Sign a package's manifest (or a folder, OpenSSF model-signing format)."""
    if openssf:
        console().print(f"wrote {a.sign_openssf(package, key)}")
        return
    signature = a.sign_package(package, a.load_signer(key))
    console().print(f"signed {package} with key {signature.key_id} at {signature.signed_at}")


def verify(uri: Annotated[str, typer.Argument(help="Package: path, file://..., or s3://bucket/key.zip.")],
           keyring: KeyringOpt = None, endpoint_url: EndpointOpt = None) -> None:
    """Verify a package completely; exit 0 only when it is valid, and say who signed it and when."""
    settings = load_settings()
    secret = settings.legacy_hmac_secret.get_secret_value() if settings.legacy_hmac_secret else None
    ring = _keyring(keyring)
    with _progress("verifying", None) as progress, a.load_verified(
            uri, ring, max_expansion_bytes=settings.max_expansion_bytes, legacy_secret=secret,
            endpoint_url=endpoint_url or settings.s3_endpoint_url, progress=progress,
            allow_globals=settings.pickle_allowances()) as package:
        m = package.manifest
        when = f" at {package.signed_at}" if package.signed_at else ""
        console().print(f"verified {uri}: {m.model.qualified_name} {m.model.version}, {len(m.files)} files, "
                        f"signed by {package.key_id}{when} ({package.scheme})")
        _print_allowances(m.allow_globals, package.operator_allow)


def _store(store: str | None, endpoint_url: str | None) -> a.ArtifactStore:
    settings = load_settings()
    return a.open_store(store or settings.resolved_store_url(),
                        endpoint_url=endpoint_url or settings.s3_endpoint_url)


def push(package: Annotated[Path, typer.Argument(help="A package .zip file.")],
         key: Annotated[str | None, typer.Option("--as", help="Object key (default: the file name).")] = None,
         store: StoreOpt = None, endpoint_url: EndpointOpt = None) -> None:
    """Upload a package to the store (multipart for large files)."""
    if not package.is_file():
        raise ConfigurationError(f"{package}: push takes a package .zip file")
    target = _store(store, endpoint_url)
    with _progress(f"push {package.name}", package.stat().st_size) as progress:
        uri = target.put(package, key or package.name, progress=progress)
    console().print(f"pushed {uri}")


def pull(key: Annotated[str, typer.Argument(help="Object key in the store.")],
         destination: Annotated[Path, typer.Argument(help="Local file to write.")],
         store: StoreOpt = None, endpoint_url: EndpointOpt = None) -> None:
    """Download a package from the store (verify it with `modelward verify`)."""
    source = _store(store, endpoint_url)
    with _progress(f"pull {key}", source.size(key)) as progress:
        source.get(key, destination, progress=progress)
    console().print(f"pulled {key} to {destination}")


def register(app: typer.Typer) -> None:
    """Add ``keys``, ``package``, ``sign``, ``verify``, ``push`` and ``pull``."""
    keys = typer.Typer(help="Signing keys and the keyring of trusted keys.", no_args_is_help=True)
    keys.command("generate")(keys_generate)
    keys.command("list")(keys_list)
    keys.command("revoke")(keys_revoke)
    package = typer.Typer(help="Build and inspect model packages.", no_args_is_help=True)
    package.command("build")(package_build)
    package.command("inspect")(package_inspect)
    app.add_typer(keys, name="keys")
    app.add_typer(package, name="package")
    for command in (sign, verify, push, pull):
        app.command()(command)
