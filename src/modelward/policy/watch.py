"""Reload a policy bundle when its files change on disk (for example a mounted ConfigMap).

A thread looks at the files every ``interval`` seconds (their real paths, sizes and modification
times: a ConfigMap update swaps the ``..data`` symlink, which changes the real paths). When they
changed, the bundle is read again and handed to ``on_change``, which compares digests and compiles.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from modelward.errors import PolicyCompileError
from modelward.policy.bundle import PolicyBundle, fingerprint, read_bundle

logger = logging.getLogger(__name__)


class BundleWatcher:
    """Calls ``on_change(bundle)`` for each new bundle, ``on_error(message)`` when one cannot be read."""

    def __init__(self, roots: Sequence[Path], on_change: Callable[[PolicyBundle], None],
                 on_error: Callable[[str], None], interval: float) -> None:
        self.roots = list(roots)
        self.interval = interval
        self._on_change, self._on_error = on_change, on_error
        self._seen = fingerprint(self.roots)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        if interval > 0:
            self._thread = threading.Thread(target=self._loop, name="policy-watcher", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # the watcher must survive anything; the old bundle keeps serving
                logger.exception("policy watcher failed")

    def check(self) -> bool:
        """Look at the files now; True when they changed and the new bundle was read."""
        with self._lock:
            current = fingerprint(self.roots)
            if current == self._seen:
                return False
            self._seen = current
            try:
                bundle = read_bundle(self.roots)
            except PolicyCompileError as exc:
                self._on_error(exc.message)
                return False
            self._on_change(bundle)
            return True

    def close(self) -> None:
        """Stop watching."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
