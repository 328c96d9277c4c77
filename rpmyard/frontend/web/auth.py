"""Local accounts in the browser: passwords (Argon2id), log in and out, the API token page.

Passwords are hashed with argon2-cffi's Argon2id defaults (RFC 9106 "low memory" profile): a
stolen users table costs an attacker tens of megabytes and tens of milliseconds per guess. A user
created by `rpmyard user add` has no password until an admin sets one with :func:`set_password`.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from rpmyard.builds.errors import BadRequest, NotFound
from rpmyard.db.models import User
from rpmyard.frontend.accounts import copr_config, new_token
from rpmyard.frontend.web.common import check_csrf, flash, read_session, redirect, render, require_user, yard_of
from rpmyard.frontend.web.session import get_session, password_fingerprint

router = APIRouter()
_hasher = PasswordHasher()
MIN_PASSWORD = 8
# Verified against when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("rpmyard-no-such-user")


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise BadRequest(f"password: use at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def verify_password(user: User | None, password: str) -> bool:
    """True when ``password`` is the user's; rehashes in place when the parameters grew stronger."""
    stored = user.password_hash if user is not None else None
    try:
        _hasher.verify(stored or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    if user is None or not stored:
        return False
    if _hasher.check_needs_rehash(stored):
        user.password_hash = _hasher.hash(password)
    return True


def set_password(s: Session, name: str, password: str) -> User:
    """Set (or replace) the web password of user ``name``; ends that user's browser sessions.

    For the `rpmyard user passwd NAME` command: call inside ``yard.db.session()``. Raises
    NotFound for an unknown user and BadRequest for a password that is too short.
    """
    user = User.named(s, name)
    if user is None:
        raise NotFound(f"user {name!r} does not exist")
    user.password_hash = hash_password(password)
    return user


def _safe_next(target: str | None) -> str:
    """Only local paths: a login link must not bounce the user to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/coprs/"
    if target.rstrip("/") in ("/login", "/logout"):
        return "/coprs/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    return render(request, "web/login.html", {"next": _safe_next(next), "error": None, "username": ""})


@router.post("/login", response_model=None)
async def login(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, form)
    name = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    target = _safe_next(str(form.get("next") or ""))
    return await run_in_threadpool(_login, request, name, password, target)


def _login(request: Request, name: str, password: str, target: str) -> Response:
    """Off the event loop: Argon2 takes tens of milliseconds on purpose."""
    y = yard_of(request)
    with y.db.session() as s:
        user = User.named(s, name) if name else None
        if verify_password(user, password) and user is not None:
            sess = get_session(request)
            sess.clear()  # a fresh session (and CSRF token) at every login: no fixation
            sess["uid"] = user.id
            sess["name"] = user.name
            sess["pw"] = password_fingerprint(user.password_hash)
            sess.flash(f"Welcome, {user.name}.", "success")
            return redirect(target)
        error = "Wrong user name or password."
        if user is not None and not user.password_hash:
            error = f"{name} has no web password yet; an administrator can set one (rpmyard user passwd)."
    return render(request, "web/login.html", {"next": target, "error": error, "username": name}, status_code=401)


@router.post("/logout", response_model=None)
async def logout(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, form)
    sess = get_session(request)
    sess.clear()
    sess.flash("You are logged out.", "info")
    return redirect("/coprs/")


@router.get("/api", response_class=HTMLResponse)
def token_page(request: Request, s: Session = Depends(read_session)) -> HTMLResponse:
    """Copr's address for "get or renew your API token" (the API's 401 message points here)."""
    user = require_user(request, s)
    y = yard_of(request)
    return render(request, "web/token.html", {"user": user, "config": None, "base_url": y.settings.base_url})


@router.post("/api/new-token", response_model=None)
async def renew_token(request: Request) -> Response:
    """Answers with the page itself, not a redirect: the token is shown once and stored nowhere."""
    form = await request.form()
    check_csrf(request, form)
    return await run_in_threadpool(_renew_token, request)


def _renew_token(request: Request) -> Response:
    y = yard_of(request)
    with y.db.session() as s:
        user = require_user(request, s)
        token = new_token(user, y.settings.token_days)
        config = copr_config(user, token, y.settings.base_url)
    flash(request, "A new API token was created; the previous one no longer works.", "success")
    return render(request, "web/token.html", {"user": user, "config": config, "base_url": y.settings.base_url})
