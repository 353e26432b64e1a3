"""Binding the port and shutting down without cutting a request.

``listen_socket`` binds before anything else starts, so a port in use is one clear error. On SIGTERM
the readiness probe turns 503 at once (``Draining``); the server keeps serving for
``shutdown_delay`` seconds (load balancers notice the probe and stop sending), then uvicorn stops
accepting connections, closes idle keep-alive connections and waits up to ``shutdown_grace`` seconds
for the requests in flight; the process then exits 0. SIGINT (Ctrl+C) skips the delay.
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from modelward.errors import ConfigurationError

logger = logging.getLogger(__name__)

Handler = Callable[[int, FrameType | None], Any]


class Draining:
    """Whether the server is shutting down (readiness answers 503 from then on)."""

    def __init__(self) -> None:
        self.active = False
        self.since: float | None = None

    def begin(self) -> None:
        """Start draining (safe to call from a signal handler, and more than once)."""
        if not self.active:
            self.active = True
            self.since = time.monotonic()


def drain_first(draining: Draining, delay: float, proceed: Handler) -> Handler:
    """A signal handler that turns readiness 503, then calls ``proceed`` after ``delay`` seconds.

    A second signal during the delay proceeds at once.
    """
    waiting = False

    def handle(sig: int, frame: FrameType | None) -> None:
        nonlocal waiting
        draining.begin()
        if delay > 0 and not waiting:
            waiting = True
            logger.info("received %s: readiness is 503; serving %g more seconds before draining",
                        signal.Signals(sig).name, delay)
            timer = threading.Timer(delay, proceed, args=(sig, None))
            timer.daemon = True
            timer.start()
            return
        proceed(sig, frame)

    return handle


class GracefulServer(uvicorn.Server):
    """uvicorn's server, with readiness turned 503 before its own graceful shutdown begins."""

    def __init__(self, config: uvicorn.Config, draining: Draining, delay: float) -> None:
        super().__init__(config)
        self._on_term = drain_first(draining, delay, super().handle_exit)
        self._on_other = drain_first(draining, 0, super().handle_exit)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        (self._on_term if sig == signal.SIGTERM else self._on_other)(sig, frame)


def chain_signals(draining: Draining, delay: float) -> None:
    """In a uvicorn worker process (its handlers are installed): turn readiness 503 before they run."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig, wait in ((signal.SIGTERM, delay), (signal.SIGINT, 0.0)):
        previous = signal.getsignal(sig)
        if callable(previous):
            signal.signal(sig, drain_first(draining, wait, previous))


class DrainingMultiprocess(Multiprocess):
    """uvicorn's worker supervisor, closing its own copy of the listening socket when it stops.

    Workers share the socket; while the parent still holds it, the kernel keeps completing
    connections that no worker will accept once the workers have drained, and resets them when the
    parent exits. Closed in the parent first, the socket closes with the last draining worker, so
    later clients are refused (they know nothing was sent) instead of cut.
    """

    def terminate_all(self) -> None:
        for sock in self.sockets:
            sock.close()
        super().terminate_all()


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port``; ``ConfigurationError`` in one line when it cannot be."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(_bind_problem(host, port, exc)) from None
    sock.set_inheritable(True)
    return sock


def _bind_problem(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (f"port {port} on {host} is in use (another process listens there); stop it or choose "
                "another port with --port or MODELWARD_PORT")
    if exc.errno == errno.EACCES:
        return f"port {port} on {host}: permission denied (ports below 1024 need privileges)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {host}: it is not an address of this machine (--host or MODELWARD_HOST)"
    return f"cannot listen on port {port} on {host}: {exc.strerror or exc}"


@contextmanager
def exit_zero_on_sigterm() -> Iterator[None]:
    """Let a SIGTERM that uvicorn already handled gracefully end the process with status 0.

    uvicorn re-raises the signal it handled once it has shut down; with the default handler the
    process would die of it (status -15) after a clean drain.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _drained)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _drained(sig: int, frame: FrameType | None) -> None:
    logger.info("shut down after %s", signal.Signals(sig).name)


def run(sock: socket.socket, config: uvicorn.Config, draining: Draining, delay: float) -> None:
    """Serve ``config``'s app on ``sock`` in this process until SIGTERM or SIGINT, then drain and return."""
    server = GracefulServer(config, draining, delay)
    log_listening(sock)
    with exit_zero_on_sigterm():
        server.run(sockets=[sock])


def log_listening(sock: socket.socket) -> None:
    """uvicorn's start line (it does not log one for a socket it was given)."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    logging.getLogger("uvicorn.error").info("Uvicorn running on http://%s:%d (Press CTRL+C to quit)", shown, port)
