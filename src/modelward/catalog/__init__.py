"""The governance catalog: models, versions, datasets, deployments, lineage and a hash-chained audit log.

Library first: every function takes a ``Catalog`` (from ``open_catalog(url)`` or
``open_from_settings(settings)``) and keyword arguments of plain data or the frozen inputs below;
none imports another modelward layer. The CLI and the REST API call these one to one.
"""

from __future__ import annotations

from modelward.catalog.attempts import record_failed_attempt
from modelward.catalog.audit import AuditEventView, AuditReport
from modelward.catalog.audit import events as audit_events
from modelward.catalog.audit import verify as verify_audit
from modelward.catalog.browse import Facets, ModelPage, facets, model_page, newest
from modelward.catalog.db import (
    Catalog,
    current_revision,
    head_revision,
    make_engine,
    open_catalog,
    open_from_settings,
    upgrade,
)
from modelward.catalog.graphs import GraphMemberRef, register_graph
from modelward.catalog.inputs import (
    MAX_OFFSET,
    MAX_PAGE,
    MAX_REPLICAS,
    AttemptInfo,
    DatasetRef,
    DeploymentInfo,
    DeploymentStatus,
    ModelInfo,
    Stage,
    Target,
    UtcDateTime,
    VersionInfo,
    parse_ref,
    to_utc,
)
from modelward.catalog.lineage import GraphUse, Lineage, lineage
from modelward.catalog.queries import (
    DeploymentPage,
    ModelDetail,
    get_deployment,
    get_model,
    get_version,
    list_deployments,
    list_models,
    versions_of_dataset,
)
from modelward.catalog.records import describe_model, record_deployment, register_version, set_stage, update_deployment
from modelward.catalog.rollback import (
    MAX_REASON,
    RollbackView,
    record_rolled_back,
    rollback_deployment,
    rollback_target,
)
from modelward.catalog.search import SearchHit, SearchPage, SearchQuery, search
from modelward.catalog.tokens import (
    MAX_TOKEN_NAME,
    Action,
    Role,
    TokenView,
    allowed,
    authenticate,
    authenticate_digest,
    create_token,
    ensure_allowed,
    list_tokens,
    revoke_token,
    token_digest,
)
from modelward.catalog.views import DeploymentView, ModelView, VersionView

__all__ = [
    "MAX_OFFSET",
    "MAX_PAGE",
    "MAX_REASON",
    "MAX_REPLICAS",
    "MAX_TOKEN_NAME",
    "Action",
    "AttemptInfo",
    "AuditEventView",
    "AuditReport",
    "Catalog",
    "DatasetRef",
    "DeploymentInfo",
    "DeploymentPage",
    "DeploymentStatus",
    "DeploymentView",
    "Facets",
    "GraphMemberRef",
    "GraphUse",
    "Lineage",
    "ModelDetail",
    "ModelInfo",
    "ModelPage",
    "ModelView",
    "Role",
    "RollbackView",
    "SearchHit",
    "SearchPage",
    "SearchQuery",
    "Stage",
    "Target",
    "TokenView",
    "UtcDateTime",
    "VersionInfo",
    "VersionView",
    "allowed",
    "audit_events",
    "authenticate",
    "authenticate_digest",
    "create_token",
    "current_revision",
    "describe_model",
    "ensure_allowed",
    "facets",
    "get_deployment",
    "get_model",
    "get_version",
    "head_revision",
    "lineage",
    "list_deployments",
    "list_models",
    "list_tokens",
    "make_engine",
    "model_page",
    "newest",
    "open_catalog",
    "open_from_settings",
    "parse_ref",
    "record_deployment",
    "record_failed_attempt",
    "record_rolled_back",
    "register_graph",
    "register_version",
    "revoke_token",
    "rollback_deployment",
    "rollback_target",
    "search",
    "set_stage",
    "to_utc",
    "token_digest",
    "update_deployment",
    "upgrade",
    "verify_audit",
    "versions_of_dataset",
]
