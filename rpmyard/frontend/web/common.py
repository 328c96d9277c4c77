"""What every page shares: rendering with the layout's context, the logged-in user, CSRF, paging."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from rpmyard.builds import permissions, states
from rpmyard.builds.errors import BadRequest, Forbidden
from rpmyard.db.models import Project, User
from rpmyard.frontend.templating import templates
from rpmyard.frontend.web.session import WebSession, get_session, password_fingerprint
from rpmyard.yard import Yard


def _read_only(request: Request) -> Iterator[Session]:
    with request.app.state.yard.db.read_session() as s:
        yield s


def read_session(s: Session = Depends(_read_only, scope="function")) -> Session:
    """Pages only read: on SQLite a read session never waits for the dispatcher's write lock.

    Forms that change something open ``yard.db.session()`` themselves, so the commit has happened
    before the redirect that follows it.
    """
    return s


class LoginRequired(Exception):
    """Raised by pages that need a user; the app answers with a redirect to the login form."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def web_user(request: Request, s: Session) -> User | None:
    """The logged-in user, if the session is still valid (same password, user still there)."""
    sess = get_session(request)
    uid = sess.get("uid")
    if not uid:
        return None
    user = s.get(User, uid)
    if user is None or sess.get("pw") != password_fingerprint(user.password_hash) or not user.password_hash:
        sess.pop("uid")
        sess.pop("name")
        return None
    return user


def require_user(request: Request, s: Session) -> User:
    user = web_user(request, s)
    if user is None:
        raise LoginRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    return user


def access_of(request: Request, s: Session, project: Project) -> permissions.Access:
    """What the visitor may do in the project, by the API's own rule: which buttons and tabs to show."""
    return permissions.access(project, web_user(request, s))


def check_csrf(request: Request, form: Any) -> None:
    """Every state-changing form carries the session's token; a forged cross-site post cannot."""
    sess = get_session(request)
    sent = form.get("csrf_token") if form is not None else None
    if not sess.get("csrf") or not isinstance(sent, str) or sent != sess.get("csrf"):
        raise Forbidden("The form expired or came from another site (CSRF check failed). "
                        "Reload the page and try again.")


def flash(request: Request, message: str, kind: str = "info") -> None:
    get_session(request).flash(message, kind)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    sess: WebSession = get_session(request)
    ctx = {
        "me": sess.get("name"),
        "csrf_token": sess.csrf,
        "flashes": sess.take_flashes(),
        "yard_settings": request.app.state.yard.settings,
        **context,
    }
    return templates.TemplateResponse(request, template, ctx, status_code=status_code)


def yard_of(request: Request) -> Yard:
    return request.app.state.yard  # type: ignore[no-any-return]


# -- paging ---------------------------------------------------------------------------------------
@dataclass
class Page:
    """One page of a listing; ``total`` is None where counting would cost more than the page."""

    items: list[Any]
    page: int
    per_page: int
    has_next: bool
    total: int | None = None

    @property
    def pages(self) -> int | None:
        return None if self.total is None else max(1, math.ceil(self.total / self.per_page))

    @property
    def first_index(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.items else 0

    @property
    def last_index(self) -> int:
        return (self.page - 1) * self.per_page + len(self.items)


def page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    try:
        number = int(raw)
    except ValueError:
        raise BadRequest(f"page: {raw!r} is not a page number") from None
    if number < 1 or number > 1_000_000:
        raise BadRequest("page: must be between 1 and 1000000")
    return number


def url_with(request: Request, **changes: Any) -> str:
    """This page's URL with some query parameters changed (None removes one)."""
    params = dict(request.query_params)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    query = urlencode(params)
    return request.url.path + (f"?{query}" if query else "")


# -- presentation helpers -------------------------------------------------------------------------
def duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "—"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def span(start: float | None, end: float | None) -> str:
    if not start:
        return "—"
    return duration((end or time.time()) - start)


def ago(ts: float | None) -> str:
    if not ts:
        return "never"
    delta = time.time() - ts
    if delta < 5:
        return "just now"
    if delta < 86400:
        return duration(delta) + " ago"
    days = int(delta // 86400)
    return f"{days} day{'s' if days != 1 else ''} ago"


def short_time(ts: float | None) -> str:
    if not ts:
        return "—"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M")


def iso(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat() if ts else ""


def state_label(code: int) -> str:
    return states.NAMES.get(code, "unknown")


templates.env.filters["duration"] = duration
templates.env.filters["ago"] = ago
templates.env.filters["short_time"] = short_time
templates.env.filters["iso"] = iso
templates.env.globals["span"] = span
templates.env.globals["url_with"] = url_with
templates.env.globals["state_label"] = state_label
