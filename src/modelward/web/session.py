"""Console sessions: a signed cookie holding a CSRF token and, once logged in, the token's id and digest.

The cookie never holds the plain catalog token, only its id and SHA-256 (what the catalog stores),
and is signed with ``itsdangerous`` (a timed signature: a login lasts ``web_session_hours``). Every
request re-checks the token against the catalog, so a revoked token ends its sessions at once.
The cookie is ``HttpOnly``, ``SameSite=Strict``, scoped to the console's path, and ``Secure`` over
HTTPS. Every visitor gets a session with a fresh CSRF token before the first form is shown.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, replace

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "mw_console"
SALT = "modelward-console-session"


@dataclass(frozen=True)
class Session:
    """One browser's session: its CSRF token and the logged-in token (id and digest), if any."""

    csrf: str
    token_id: str | None = None
    digest: str | None = None
    changed: bool = False

    def login(self, token_id: str, digest: str) -> Session:
        """The session after a login: a new CSRF token (no fixation) and the token."""
        return Session(csrf=secrets.token_urlsafe(32), token_id=token_id, digest=digest, changed=True)

    def logout(self) -> Session:
        """An anonymous session with a new CSRF token."""
        return fresh()

    def csrf_ok(self, given: str | None) -> bool:
        """Whether a form's CSRF field matches this session's token (constant time)."""
        return bool(given) and hmac.compare_digest(self.csrf.encode(), str(given).encode())


def fresh() -> Session:
    """A new anonymous session (to be sent as a cookie)."""
    return Session(csrf=secrets.token_urlsafe(32), changed=True)


class Sessions:
    """Reads and writes session cookies signed with ``secret``; a cookie older than ``max_age`` s is void."""

    def __init__(self, secret: str, max_age: int, path: str) -> None:
        self._signer = URLSafeTimedSerializer(secret, salt=SALT)
        self._max_age = max_age
        self._path = path

    def load(self, request: Request) -> Session | None:
        """The request's session, or None (no cookie, a bad signature, expired)."""
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data = self._signer.loads(raw, max_age=self._max_age)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("csrf"), str):
            return None
        token_id, digest = data.get("tid"), data.get("td")
        if not (isinstance(token_id, str) and isinstance(digest, str)):
            token_id = digest = None
        return Session(csrf=data["csrf"], token_id=token_id, digest=digest)

    def save(self, response: Response, session: Session, *, secure: bool) -> None:
        """Send the session as the cookie when it changed."""
        if not session.changed:
            return
        value = self._signer.dumps({"csrf": session.csrf, "tid": session.token_id, "td": session.digest})
        response.set_cookie(COOKIE, value, max_age=self._max_age, path=self._path, httponly=True,
                            samesite="strict", secure=secure)


def unchanged(session: Session) -> Session:
    """``session`` marked as already sent."""
    return replace(session, changed=False)
