"""The pickle allow-list: exact ``(module, qualname)`` pairs, vetted by a catalogue that is data.

The catalogue is ``pickle_catalogue.toml`` next to this module (documented in docs/artifacts.md):

* ``[baseline]``: pairs every pickle may import (containers, numpy array reconstruction...);
* per library, ``exact`` pairs and ``rule`` entries. A rule matches a module (``"sklearn.*"``: the
  package and its submodules) and accepts a name only if the object found there, after importing
  that module alone, is a class defined under that very name that subclasses a vetted base
  (``subclass_of``), or an instance of a vetted type (``instance_of``, e.g. numpy ufuncs). A rule
  never accepts a function, never walks an attribute path, and never imports a test or build module.

A pickle global is resolved only when it is in the baseline, or recorded in the signed manifest and
vetted (by the catalogue or by an explicit extension: the manifest's signed ``allow_globals`` or the
operator's ``MODELWARD_PICKLE_ALLOW``). Extensions can never allow a module of ``never_modules``.
Names are checked as data before anything is imported: a dotted qualified name such as
``sklearn`` + ``os.system`` is refused by name, with no import at all.
"""

from __future__ import annotations

import importlib
import re
import threading
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from modelward.errors import UnsafePickle

CATALOGUE_FILE = Path(__file__).with_name("pickle_catalogue.toml")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
_IMPORT_LOCK = threading.Lock()

Pair = tuple[str, str]


def pair_text(pair: Pair) -> str:
    """``module:qualname``, the form pairs take in manifests, settings and messages."""
    return f"{pair[0]}:{pair[1]}"


def parse_pair(text: str, where: str) -> Pair:
    """``"module:qualname"`` as a pair; ``UnsafePickle`` when it is not one exact, undotted name."""
    module, colon, name = str(text).partition(":")
    if not colon:
        raise UnsafePickle(f"{where}: '{text}' is not 'module:qualname'")
    check_syntax(module, name, where)
    return module, name


def check_syntax(module: str, name: str, where: str) -> None:
    """Refuse, by name, a module or qualified name that is not plain (dots in a name, dunders...)."""
    if not isinstance(module, str) or not isinstance(name, str) or not _MODULE.match(module):
        raise UnsafePickle(f"{where}: refuses global '{module}:{name}' (module {module!r}, name {name!r}): "
                           "not a plain module name")
    if "." in name:
        raise UnsafePickle(f"{where}: refuses global '{module}:{name}' (module {module!r}, name {name!r}): "
                           "a dotted name walks into another module or attribute")
    if not _IDENTIFIER.match(name):
        raise UnsafePickle(f"{where}: refuses global '{module}:{name}' (module {module!r}, name {name!r}): "
                           "not a plain name")


@dataclass(frozen=True)
class Rule:
    """Accept classes (or instances) found in matching modules that derive from a vetted base."""

    library: str
    modules: tuple[str, ...]
    subclass_of: Pair | None = None
    instance_of: Pair | None = None

    def matches_module(self, module: str) -> bool:
        return any(module == m or (m.endswith(".*") and (module == m[:-2] or module.startswith(m[:-1])))
                   for m in self.modules)


@dataclass(frozen=True)
class Catalogue:
    """The vetted pairs and rules; load it with ``load_catalogue()``."""

    baseline: frozenset[Pair]
    exact: dict[Pair, str]
    rules: tuple[Rule, ...]
    excluded_parts: frozenset[str]
    never_modules: frozenset[str]
    aliases: dict[str, str] = field(default_factory=dict)
    rebuild_only: frozenset[Pair] = frozenset()
    _resolved: dict[Pair, Any] = field(default_factory=dict, compare=False, repr=False)

    def is_never(self, module: str) -> bool:
        return any(module == m or module.startswith(m + ".") for m in self.never_modules)

    def is_rebuild_only(self, value: Any) -> bool:
        """Whether ``value`` is a class a pickle may rebuild but never call (matched by where it is defined)."""
        return isinstance(value, type) and (value.__module__, value.__qualname__) in self.rebuild_only

    def vetted_by(self, module: str, name: str, where: str) -> str | None:
        """The library whose catalogue entry vets ``module:name`` (importing only a rule's module), or None."""
        check_syntax(module, name, where)
        if (module, name) in self.baseline:
            return "baseline"
        if (module, name) in self.exact:
            return self.exact[(module, name)]
        for rule in self.rules:
            if rule.matches_module(module) and self._rule_accepts(rule, module, name, where):
                return rule.library
        return None

    def _rule_accepts(self, rule: Rule, module: str, name: str, where: str) -> bool:
        if name.startswith("__") or any(part in self.excluded_parts or part.startswith("test")
                                        for part in module.split(".")):
            return False
        try:
            with _IMPORT_LOCK:
                found = _module_attribute(importlib.import_module(module), name)
        except ImportError:
            return False  # no such module: the rule does not vouch for it
        if rule.subclass_of is not None:
            base = self.resolve_exact(rule.subclass_of, where)
            return (isinstance(found, type) and isinstance(base, type) and issubclass(found, base)
                    and found.__module__ == module and found.__qualname__ == name)
        if rule.instance_of is not None:
            kind = self.resolve_exact(rule.instance_of, where)
            return isinstance(kind, type) and isinstance(found, kind) and not isinstance(found, type)
        return False

    def resolve_exact(self, pair: Pair, where: str) -> Any:
        """Import ``pair``'s module and take the name from its namespace (no attribute walk, no ``__getattr__``)."""
        if pair not in self._resolved:
            found = _module_attribute(_import(self.aliases.get(pair[0], pair[0]), where), pair[1])
            if found is _MISSING:
                raise UnsafePickle(f"{where}: global '{pair_text(pair)}' does not exist (module {pair[0]!r} "
                                   f"has no {pair[1]!r})")
            self._resolved[pair] = found
        return self._resolved[pair]


_MISSING = object()


def _module_attribute(module: ModuleType, name: str) -> Any:
    return vars(module).get(name, _MISSING)


def _import(module: str, where: str) -> ModuleType:
    try:
        with _IMPORT_LOCK:
            return importlib.import_module(module)
    except Exception as exc:
        raise UnsafePickle(f"{where}: cannot import module {module!r} to check a global "
                           f"({type(exc).__name__}: {exc})") from None


@cache
def load_catalogue(path: Path = CATALOGUE_FILE) -> Catalogue:
    """Parse the catalogue file (cached): baseline, exact pairs per library, rules."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    where = str(path)
    baseline = frozenset(_pairs(data["baseline"], where))
    exact: dict[Pair, str] = {}
    rules: list[Rule] = []
    rebuild_only: set[Pair] = set()
    for library, section in data.items():
        if not isinstance(section, dict) or library in {"baseline", "module_aliases"}:
            continue
        for pair in _pairs(section.get("exact", {}), where):
            exact[pair] = library
        for rule in section.get("rule", []):
            rules.append(Rule(library=library, modules=tuple(rule["modules"]),
                              subclass_of=_optional_pair(rule.get("subclass_of"), where),
                              instance_of=_optional_pair(rule.get("instance_of"), where)))
        rebuild_only.update(parse_pair(text, where) for text in section.get("rebuild_only", []))
    unlisted = sorted(pair_text(p) for p in rebuild_only if exact.get(p) is None)
    if unlisted:
        raise UnsafePickle(f"{where}: rebuild_only names {', '.join(unlisted)}, which no exact table lists")
    return Catalogue(baseline=baseline, exact=exact, rules=tuple(rules),
                     excluded_parts=frozenset(data["rule_excluded_module_parts"]),
                     never_modules=frozenset(data["never_modules"]), aliases=dict(data["module_aliases"]),
                     rebuild_only=frozenset(rebuild_only))


def _pairs(table: dict[str, list[str]], where: str) -> Iterable[Pair]:
    for module, names in table.items():
        for name in names:
            check_syntax(module, name, where)
            yield module, name


def _optional_pair(text: str | None, where: str) -> Pair | None:
    return None if text is None else parse_pair(text, where)


@dataclass(frozen=True)
class GlobalPolicy:
    """What one file may import: the baseline, plus recorded pairs that are vetted or explicitly allowed."""

    recorded: frozenset[Pair] = frozenset()
    extensions: frozenset[Pair] = frozenset()
    catalogue: Catalogue = field(default_factory=load_catalogue)

    def check(self, module: str, name: str, where: str, *, recorded_only: bool = True) -> None:
        """Raise ``UnsafePickle`` naming the pair unless it may be imported (imports only vetted modules)."""
        check_syntax(module, name, where)
        pair = (module, name)
        if pair in self.catalogue.baseline:
            return
        if recorded_only and pair not in self.recorded:
            raise UnsafePickle(f"{where}: refuses global '{module}:{name}' (module {module!r}, name {name!r}): "
                               "not recorded in the signed manifest for this file")
        if pair in self.extensions:
            return
        if self.catalogue.vetted_by(module, name, where) is None:
            raise UnsafePickle(f"{where}: refuses global '{module}:{name}' (module {module!r}, name {name!r}): "
                               "not in modelward's vetted catalogue of pickle globals (docs/artifacts.md)")

    def resolve(self, module: str, name: str, where: str) -> Any:
        """The object a pickle's ``find_class(module, name)`` gets, after ``check``."""
        self.check(module, name, where)
        return self.catalogue.resolve_exact((module, name), where)


def vet_extensions(texts: Iterable[str], where: str) -> frozenset[Pair]:
    """Parse explicit allowances (``module:qualname``); the catalogue's ``never_modules`` stay refused."""
    catalogue = load_catalogue()
    pairs = set()
    for text in texts:
        module, name = parse_pair(text, where)
        if catalogue.is_never(module) and (module, name) not in catalogue.baseline:
            raise UnsafePickle(f"{where}: refuses to allow global '{module}:{name}': module {module!r} can "
                               "never be allowed, not even explicitly")
        pairs.add((module, name))
    return frozenset(pairs)
