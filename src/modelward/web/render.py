"""Templates (Jinja2, autoescaped), safe Markdown, and the console's URLs.

Every value from the catalog is escaped by the template engine; Markdown (a model's README) is
rendered with raw HTML turned off, so ``<script>`` or ``<img onerror>`` in it come out as text, and
``javascript:`` links are not made links (markdown-it's link validation).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


def markdown(text: str) -> Markup:
    """``text`` as HTML, with any HTML in it escaped."""
    return Markup(_MARKDOWN.render(text or ""))  # html is off: markdown-it escapes every tag


def segment(value: str) -> str:
    """``value`` as one URL path segment."""
    return quote(value, safe="")


class Links:
    """The console's URLs under ``prefix``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def home(self, **query: Any) -> str:
        return self._with(f"{self.prefix}/", query)

    def model(self, name: str, **query: Any) -> str:
        return self._with(f"{self.prefix}/models/{segment(name)}", query)

    def version(self, name: str, version: str) -> str:
        return f"{self.prefix}/models/{segment(name)}/versions/{segment(version)}"

    def promote(self, name: str, version: str) -> str:
        return self.version(name, version) + "/promote"

    def lineage(self, name: str, version: str) -> str:
        return f"{self.prefix}/lineage/{segment(name)}/{segment(version)}"

    def deployments(self, **query: Any) -> str:
        return self._with(f"{self.prefix}/deployments", query)

    def deployment(self, ident: str) -> str:
        return f"{self.prefix}/deployments/{segment(ident)}"

    def rollback(self, ident: str) -> str:
        return self.deployment(ident) + "/rollback"

    def health(self, ident: str, fmt: str = "") -> str:
        return self.deployment(ident) + "/health" + (f"?format={fmt}" if fmt else "")

    def attempts(self, **query: Any) -> str:
        return self._with(f"{self.prefix}/attempts", query)

    def audit(self, **query: Any) -> str:
        return self._with(f"{self.prefix}/audit", query)

    def audit_verify(self) -> str:
        return f"{self.prefix}/audit/verify"

    def tokens(self) -> str:
        return f"{self.prefix}/tokens"

    def revoke(self, token_id: str) -> str:
        return f"{self.prefix}/tokens/{segment(token_id)}/revoke"

    def login(self, next_url: str = "") -> str:
        return self._with(f"{self.prefix}/login", {"next": next_url})

    def logout(self) -> str:
        return f"{self.prefix}/logout"

    def static(self, name: str) -> str:
        return f"{self.prefix}/static/{name}"

    def entity(self, entity: str) -> str:
        """The page of an audit entity (``model:M``, ``M@V``, ``deployment:ID``), or ''."""
        kind, _, rest = entity.partition(":")
        if kind == "model" and rest:
            return self.model(rest)
        if kind == "deployment" and rest:
            return self.deployment(rest)
        name, at, version = entity.partition("@")
        if at and ":" not in name and name and version:
            return self.version(name, version)
        return ""

    @staticmethod
    def _with(path: str, query: dict[str, Any]) -> str:
        kept = {k: v for k, v in query.items() if v not in (None, "", [], ())}
        return path + (f"?{urlencode(kept, doseq=True)}" if kept else "")


def _when(moment: datetime | str | None) -> str:
    if moment is None or moment == "":
        return "-"
    if isinstance(moment, str):
        return moment
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _short(digest: str, length: int = 19) -> str:
    return digest if len(digest) <= length else digest[:length] + "…"


def _pretty(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _compact(document: Any) -> str:
    return "" if document is None else json.dumps(document, sort_keys=True, ensure_ascii=False, default=str)


def environment(links: Links) -> Environment:
    """The template environment: autoescape on for every template, undefined names are errors."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True,
                                                                                     default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(md=markdown, when=_when, short=_short, pretty=_pretty, compact=_compact, seg=segment)
    env.globals["links"] = links
    return env
