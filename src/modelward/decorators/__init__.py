"""Decorators a service config can list: payload logging and prediction caching.

    PayloadLogDecorator   every prediction journaled locally, then shipped to a sink (at least once)
    CacheDecorator        answers repeated inputs from an LRU (or Redis), never a denial or an error

The enrichment decorator lives in ``modelward.services.enrichment`` (its SQL lookup needs the catalog
layer's SQLAlchemy).
"""

from modelward.decorators.cache import CacheConfig, CacheDecorator
from modelward.decorators.payload import PayloadLogConfig, PayloadLogDecorator

__all__ = ["CacheConfig", "CacheDecorator", "PayloadLogConfig", "PayloadLogDecorator"]
