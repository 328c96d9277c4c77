"""Browser sessions: a signed cookie holding who is logged in, the CSRF token and flash messages.

The cookie is signed with HMAC-SHA256 under a key kept in the data directory (created on first
use, mode 0600), so sessions survive restarts and need no table. It carries no secret of its own:
the user id, a fingerprint of the password hash (changing the password ends every session), the
CSRF token and the pending flash messages. ``HttpOnly`` and ``SameSite=Lax`` keep scripts and
cross-site form posts from using it; the CSRF token is checked on every form anyway.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "rpmyard_session"
SCOPE_KEY = "rpmyard.session"
MAX_AGE = 14 * 24 * 3600
KEY_FILE = "web-session.key"


def load_key(data_dir: Path) -> bytes:
    """The signing key, created once per data directory; a second process reads the same file."""
    path = data_dir / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process may be writing it right now
            key = path.read_bytes()
            if len(key) >= 32:
                return key
            time.sleep(0.01)
        raise RuntimeError(f"{path} is not a valid session key; remove it to make a new one") from None
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def _sign(key: bytes, payload: bytes) -> str:
    return base64.urlsafe_b64encode(hmac.new(key, payload, hashlib.sha256).digest()).decode().rstrip("=")


def encode(key: bytes, data: dict[str, Any]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode())
    return payload.decode().rstrip("=") + "." + _sign(key, payload.rstrip(b"="))


def decode(key: bytes, value: str) -> dict[str, Any] | None:
    payload, _, signature = value.partition(".")
    if not payload or not hmac.compare_digest(_sign(key, payload.encode()), signature):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("exp", 0) < time.time():
        return None
    return data


def password_fingerprint(password_hash: str | None) -> str:
    """A short digest of the stored hash: a new password invalidates sessions made with the old one."""
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


class WebSession(dict[str, Any]):
    """The session's data; remembers whether it changed so only changed sessions are re-sent."""

    def __init__(self, data: dict[str, Any] | None) -> None:
        super().__init__(data or {})
        self.changed = data is None

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.changed = True

    def pop(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.changed = self.changed or key in self
        return super().pop(key, default)

    def clear(self) -> None:
        super().clear()
        self.changed = True

    @property
    def csrf(self) -> str:
        if not self.get("csrf"):
            self["csrf"] = secrets.token_urlsafe(24)
        return str(self["csrf"])

    def flash(self, message: str, kind: str = "info") -> None:
        self["flash"] = [*self.get("flash", []), [kind, message]]

    def take_flashes(self) -> list[tuple[str, str]]:
        messages = self.pop("flash", None) or []
        return [(str(k), str(m)) for k, m in messages]


def get_session(request: Request) -> WebSession:
    """The request's session; an empty one where the middleware did not run (e.g. a crash page)."""
    sess = request.scope.get(SCOPE_KEY)
    if sess is None:
        sess = request.scope[SCOPE_KEY] = WebSession({})
    return sess  # type: ignore[no-any-return]


class WebSessionMiddleware:
    """Loads the session into the ASGI scope and writes it back when a page changed it.

    API calls (``/api_3``, the worker API) never see or set the cookie: they authenticate with
    tokens, and keeping them cookie-free means a browser session can never authorize them.
    """

    SKIP = ("/api_3", "/api/worker")
    READ_ONLY = ("/results/", "/static/")  # shows who is logged in, never sets the cookie

    def __init__(self, app: ASGIApp, data_dir: Path, secure: bool) -> None:
        self.app = app
        self.key = load_key(data_dir)
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope["path"]).startswith(self.SKIP):
            await self.app(scope, receive, send)
            return
        raw = ""
        for name, value in scope.get("headers", []):
            if name == b"cookie":
                cookie: SimpleCookie = SimpleCookie()
                try:
                    cookie.load(value.decode("latin-1"))
                except Exception:  # a malformed Cookie header from some other site on this host
                    continue
                if COOKIE in cookie:
                    raw = cookie[COOKIE].value
        session = WebSession(decode(self.key, raw) if raw else None)
        read_only = str(scope["path"]).startswith(self.READ_ONLY)
        scope[SCOPE_KEY] = session

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and session.changed and not read_only:
                headers = MutableHeaders(scope=message)
                attrs = f"Path=/; HttpOnly; SameSite=Lax; Max-Age={MAX_AGE}" + ("; Secure" if self.secure else "")
                value = encode(self.key, {**session, "exp": int(time.time()) + MAX_AGE})
                headers.append("Set-Cookie", f"{COOKIE}={value}; {attrs}")
                headers.append("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_cookie)
