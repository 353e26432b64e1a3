"""``modelward catalog ...``, ``modelward tokens ...`` and ``modelward register``: one library call each."""

from __future__ import annotations

import getpass
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ValidationError

from modelward import catalog as c
from modelward.catalog import exports
from modelward.catalog.lineage import render_text
from modelward.cli.common import console, emit, err_console
from modelward.errors import ConfigurationError
from modelward.settings import load_settings

UrlOpt = Annotated[str | None, typer.Option("--url", help="Catalog URL (default: $MODELWARD_CATALOG_URL, "
                                                          "else the SQLite file in the data dir).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
MAX_ACTOR = 200  # the catalog's actor columns
ActorOpt = Annotated[str | None, typer.Option("--actor", help="Who is acting (default: the OS user).")]


def _actor(actor: str | None) -> str:
    if actor and len(actor) > MAX_ACTOR:
        raise ConfigurationError(f"--actor has at most {MAX_ACTOR} characters, not {len(actor)}")
    if actor:
        return actor
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _open(url: str | None, *, migrate: bool | None = None) -> c.Catalog:
    settings = load_settings(**({"catalog_url": url} if url else {}))
    return c.open_from_settings(settings, migrate=migrate)


def _print_json(document: Any) -> None:
    if isinstance(document, BaseModel):
        document = document.model_dump(mode="json")
    console().print(json.dumps(document, indent=2, ensure_ascii=False), markup=False)


def _out(text: str) -> None:
    console().print(text, markup=False)


def upgrade(url: UrlOpt = None) -> None:
    """Create or migrate the catalog's schema to the newest revision."""
    settings = load_settings(**({"catalog_url": url} if url else {}))
    catalog = c.open_catalog(settings.resolved_catalog_url(), migrate=True)
    _out(f"catalog {settings.resolved_catalog_url()} is at revision {c.current_revision(catalog)}")


def show(ref: Annotated[str, typer.Argument(help="MODEL or MODEL@VERSION.")], url: UrlOpt = None,
         as_json: JsonOpt = False) -> None:
    """Everything about a model, or a version: artifact, key, owner, datasets, code, every deployment."""
    catalog = _open(url)
    try:
        if "@" not in ref:
            detail = c.get_model(catalog, name=ref)
            _print_json(detail) if as_json else _out(_model_text(detail))
            return
        name, version = c.parse_ref(ref)
        view = c.get_version(catalog, name=name, version=version)
        _print_json(view) if as_json else _out(_version_text(view))
    finally:
        catalog.dispose()  # no pooled connection left for the garbage collector (PostgreSQL warns)


def _model_text(detail: c.ModelDetail) -> str:
    m = detail.model
    lines = [f"{m.qualified_name}  ({m.display_name or '-'})", f"  type {m.model_type or '-'}  owner "
             f"{m.owner or '-'}  line of business {m.line_of_business or '-'}  project {m.project or '-'}",
             f"  tags {', '.join(m.tags) or '-'}", f"  {m.description}" if m.description else "", "versions"]
    lines += [f"  {v.version:<12} {v.stage:<11} {v.created_at:%Y-%m-%d %H:%M}  "
              f"{v.owner or '-'}/{v.line_of_business or '-'}  {v.artifact_uri}" for v in detail.versions]
    return "\n".join(line for line in lines if line)


def _version_text(v: c.VersionView) -> str:
    lines = [f"{v.model}@{v.version}  [{v.stage}]", f"  artifact   {v.artifact_uri}",
             f"  digest     {v.artifact_digest}",
             f"  signed by  {v.signing_key_id or '(unsigned)'}", f"  owner      {v.owner or '-'}  "
             f"(line of business {v.line_of_business or '-'}, project {v.project or '-'})",
             f"  code       {v.code_repository or '-'} @ {v.code_commit or '-'}",
             f"  registered {v.created_at:%Y-%m-%d %H:%M:%S} by {v.created_by}", "  datasets"]
    lines += [f"    {d.name}  {d.uri}  {d.digest}" for d in v.datasets] or ["    (none)"]
    lines.append("  deployments")
    lines += [_deployment_line(d, "    ") for d in v.deployments] or ["    (never deployed)"]
    return "\n".join(lines)


def _deployment_line(d: c.DeploymentView, indent: str = "") -> str:
    where = d.endpoint_url or d.host_detail or d.source_uri or "-"
    extra = f"  replaces {d.replaced_id}" if d.replaced_id else ""
    extra += "" if d.version_registered else "  (version not registered)"
    extra += f"  step {d.failed_step}" if d.failed_step else ""
    extra += f"  reason: {d.reason}" if d.reason else ""
    return (f"{indent}{d.deployed_at:%Y-%m-%d %H:%M:%S}  {d.model}@{d.version or '?'}  {d.status:<8} {d.target}/"
            f"{d.environment or '-'}  {where}  by {d.deployed_by}  id {d.id}{extra}")


def deployments(model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
                version: Annotated[str | None, typer.Option(help="Only this version.")] = None,
                since: Annotated[datetime | None, typer.Option(help="Deployed at or after (UTC).")] = None,
                until: Annotated[datetime | None, typer.Option(help="Deployed before (UTC).")] = None,
                environment: Annotated[str | None, typer.Option(help="Only this environment.")] = None,
                target: Annotated[c.Target | None, typer.Option(help="Only this target type.")] = None,
                status: Annotated[c.DeploymentStatus | None, typer.Option(help="Only this status.")] = None,
                limit: Annotated[int, typer.Option(min=1, max=10000)] = 100,
                offset: Annotated[int, typer.Option(min=0, max=c.MAX_OFFSET)] = 0,
                url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Which model versions were deployed when, where and to what kind of target (newest first).

    Failed attempts are listed with their reason (``--status failed`` shows only them), including
    attempts refused before their version was registered (a bad signature, an unknown key).
    """
    since, until = _moment("--since", since), _moment("--until", until)
    page = c.list_deployments(_open(url), model=model, version=version, since=since, until=until,
                              environment=environment, target=target.value if target else None,
                              status=status.value if status else None, limit=limit, offset=offset)
    if as_json:
        _print_json(page)
        return
    for d in page.deployments:
        _out(_deployment_line(d))
    _out(f"{len(page.deployments)} of {page.total} deployments")


def _moment(option: str, value: datetime | None) -> datetime | None:
    try:
        return None if value is None else c.to_utc(value)
    except ValueError as exc:
        raise ConfigurationError(f"{option}: {exc}") from exc


def lineage(ref: Annotated[str, typer.Argument(help="MODEL@VERSION.")], url: UrlOpt = None,
            as_json: JsonOpt = False) -> None:
    """Upstream (datasets, code, artifact, signer) and downstream (deployments) of a version."""
    name, version = c.parse_ref(ref)
    graph = c.lineage(_open(url), name=name, version=version)
    if as_json:
        _print_json(graph.model_dump(mode="json") | {"edges": graph.edges()})
    else:
        _out(render_text(graph))


def search(text: Annotated[str | None, typer.Argument(help="Words to find in names, descriptions, tags, "
                                                            "READMEs.")] = None,
           owner: Annotated[str | None, typer.Option()] = None,
           lob: Annotated[str | None, typer.Option("--lob", help="Line of business.")] = None,
           model_type: Annotated[str | None, typer.Option("--type", help="Model type.")] = None,
           project: Annotated[str | None, typer.Option()] = None,
           stage: Annotated[c.Stage | None, typer.Option()] = None,
           environment: Annotated[str | None, typer.Option(help="Deployed to this environment.")] = None,
           target: Annotated[c.Target | None, typer.Option(help="Deployed to this target type.")] = None,
           tag: Annotated[list[str] | None, typer.Option(help="Has this tag (repeat for several).")] = None,
           registered_since: Annotated[datetime | None, typer.Option()] = None,
           registered_until: Annotated[datetime | None, typer.Option()] = None,
           deployed_since: Annotated[datetime | None, typer.Option()] = None,
           deployed_until: Annotated[datetime | None, typer.Option()] = None,
           page: Annotated[int, typer.Option(min=1, max=c.MAX_PAGE)] = 1,
           per_page: Annotated[int, typer.Option(min=1, max=200)] = 20,
           url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Find model versions: filters combined with ranked full-text search, one page at a time."""
    try:
        query = c.SearchQuery(text=text, owner=owner, line_of_business=lob, model_type=model_type,
                              project=project, stage=stage, environment=environment, target=target,
                              tags=tuple(tag or ()), registered_since=registered_since,
                              registered_until=registered_until, deployed_since=deployed_since,
                              deployed_until=deployed_until, page=page, per_page=per_page)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigurationError(f"invalid search: {where}: {first['msg']}") from exc
    result = c.search(_open(url), query=query)
    if as_json:
        _print_json(result)
        return
    for hit in result.hits:
        _out(f"{hit.model}@{hit.version}  [{hit.stage}]  {hit.owner or '-'}/{hit.line_of_business or '-'}  "
             f"{hit.model_type or '-'}  {hit.created_at:%Y-%m-%d}  {hit.description[:60]}")
    _out(f"page {result.page} ({len(result.hits)} hits) of {result.total} matches")


def audit_verify(url: UrlOpt = None) -> None:
    """Check the audit trail's hash chain; exit 1 naming the first event that was edited or removed."""
    report = c.verify_audit(_open(url))
    _out(f"audit trail intact: {report.events} events, head {report.head}")


def audit_list(entity: Annotated[str | None, typer.Option(help="e.g. model:M, M@1.0, deployment:ID")] = None,
               limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
               url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """The newest audit events."""
    found = c.audit_events(_open(url), entity=entity, limit=limit)
    if as_json:
        _print_json([e.model_dump(mode="json") for e in found])
        return
    for e in found:
        _out(f"{e.seq:>6}  {e.at:%Y-%m-%d %H:%M:%S}  {e.actor}  {e.action}  {e.entity}  {json.dumps(e.after)}")


def export(fmt: Annotated[str, typer.Option("--format", help="atlas or openlineage.")] = "atlas",
           output: Annotated[Path | None, typer.Option("-o", "--output", help="Write here (default stdout).")] = None,
           push: Annotated[str | None, typer.Option(help="Atlas base URL to POST to (atlas only).")] = None,
           user: Annotated[str, typer.Option(help="Atlas user (password: $MODELWARD_ATLAS_PASSWORD).")] = "admin",
           url: UrlOpt = None) -> None:
    """Export to Apache Atlas v2 JSON (typedefs + entity/bulk) or OpenLineage run events (JSON lines)."""
    catalog = _open(url)
    if fmt not in ("atlas", "openlineage"):
        raise ConfigurationError(f"--format must be atlas or openlineage, not '{fmt}'")
    if push is not None:
        if fmt != "atlas":
            raise ConfigurationError("--push works with --format atlas only")
        password = os.environ.get("MODELWARD_ATLAS_PASSWORD")
        if password is None:
            raise ConfigurationError("set MODELWARD_ATLAS_PASSWORD to push to Atlas")
        count = exports.push_atlas(catalog, url=push, username=user, password=password)
        _out(f"pushed the model type and {count} entities to {push}")
        return
    if fmt == "atlas":
        text = json.dumps(exports.atlas_export(catalog), indent=2, ensure_ascii=False) + "\n"
    else:
        text = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in exports.openlineage_events(catalog))
    if emit(text, output):
        err_console().print(f"wrote {output}", markup=False)


def serve(host: Annotated[str | None, typer.Option(help="Address (default 127.0.0.1).")] = None,
          port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
          url: UrlOpt = None) -> None:
    """Serve the catalog API (and /api/health) and the governance console at /console."""
    from modelward.cli.apps import catalog_app
    from modelward.serving.server import serve_catalog

    overrides = {k: v for k, v in {"host": host, "port": port, "catalog_url": url}.items() if v is not None}
    serve_catalog(load_settings(**overrides), build=catalog_app)


def token_create(role: Annotated[c.Role, typer.Option(help="reader, publisher, deployer or admin.")],
                 name: Annotated[str, typer.Option(help="A label for the token.")] = "",
                 url: UrlOpt = None, actor: ActorOpt = None) -> None:
    """Create a bearer token; it is printed once and stored only as a hash."""
    who = _actor(actor)
    plain, view = c.create_token(_open(url), role=role, name=name, actor=who)
    _out(plain)
    err_console().print(f"token {view.id} ({view.role}) created; it is shown only this once", markup=False)


def token_list(url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """List tokens (never their secrets)."""
    found = c.list_tokens(_open(url))
    if as_json:
        _print_json([t.model_dump(mode="json") for t in found])
        return
    for t in found:
        state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
        _out(f"{t.id}  {t.role:<9}  {state:<18}  {t.name or '-'}  created {t.created_at:%Y-%m-%d} by {t.created_by}")


def token_revoke(token_id: Annotated[str, typer.Argument(help="The token's id (from `tokens list`).")],
                 url: UrlOpt = None, actor: ActorOpt = None) -> None:
    """Revoke a token."""
    view = c.revoke_token(_open(url), token_id=token_id, actor=_actor(actor))
    _out(f"token {view.id} revoked")


def register_cmd(
    package: Annotated[Path, typer.Argument(help="A package (.zip or folder) built by modelward.")],
    keyring: Annotated[Path | None, typer.Option(help="Trusted keys (default: $MODELWARD_KEYRING, else "
                                                      "<data dir>/keyring, when it exists).")] = None,
    registry_url: Annotated[str, typer.Option(help="The model registry location of its artifacts.")] = "",
    description: Annotated[str, typer.Option()] = "", model_type: Annotated[str, typer.Option("--type")] = "",
    lob: Annotated[str, typer.Option("--lob", help="Line of business.")] = "",
    project: Annotated[str, typer.Option()] = "", owner: Annotated[str, typer.Option()] = "",
    tag: Annotated[list[str] | None, typer.Option(help="A tag (repeat for several).")] = None,
    readme: Annotated[Path | None, typer.Option(help="A README file for the model.")] = None,
    url: UrlOpt = None, actor: ActorOpt = None,
) -> None:
    """Register a signed package in the catalog (verified when a keyring is configured).

    The package is copied into the artifact store (``MODELWARD_STORE_URL``, default the data dir's
    ``store``) under its content address; the catalog records that copy, not the path given.
    """
    from modelward.artifacts import Keyring, open_store
    from modelward.services.registration import ModelDetails, register_package

    settings = load_settings(**({"catalog_url": url} if url else {}))
    default = settings.resolved_keyring()
    ring_path = keyring or settings.keyring or (default if default.exists() else None)  # a named one must exist
    details = ModelDetails(description=description, model_type=model_type, line_of_business=lob,
                           project=project, owner=owner, tags=tuple(tag or ()),
                           readme=_read_text(readme) if readme else "")
    store = open_store(settings.resolved_store_url(), endpoint_url=settings.s3_endpoint_url)
    result = register_package(c.open_from_settings(settings), package, actor=_actor(actor), store=store,
                              keyring=Keyring.load(ring_path) if ring_path else None, details=details,
                              registry_url=registry_url, allow_unsigned=settings.allow_unsigned)
    v = result.version
    state = "registered" if result.created else "already registered (same bytes): nothing changed"
    check = f"signature verified (key {v.signing_key_id})" if result.verified else "signature NOT checked"
    _out(f"{v.model}@{v.version} {state}; {check}; digest {v.artifact_digest}; stored at {v.artifact_uri}")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read README {path}: {exc}") from exc


def register(app: typer.Typer) -> None:
    """Add ``catalog``, ``tokens`` and ``register``."""
    group = typer.Typer(name="catalog", help="The governance catalog: models, versions, deployments, lineage.",
                        no_args_is_help=True)
    for fn in (upgrade, show, deployments, lineage, search, export, serve):
        group.command()(fn)
    audit = typer.Typer(name="audit", help="The hash-chained audit trail.", no_args_is_help=True)
    audit.command("verify")(audit_verify)
    audit.command("list")(audit_list)
    group.add_typer(audit)
    tokens = typer.Typer(name="tokens", help="Bearer tokens for the catalog API.", no_args_is_help=True)
    tokens.command("create")(token_create)
    tokens.command("list")(token_list)
    tokens.command("revoke")(token_revoke)
    app.add_typer(group)
    app.add_typer(tokens)
    app.command("register")(register_cmd)

