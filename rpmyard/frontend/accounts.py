"""Users and API tokens. Tokens are random (30 characters, as Copr's) and stored only as hashes.

A plain SHA-256 is enough here: the token is 178 bits of randomness, not a human password, so a
slow KDF would only slow every API call without making a stolen hash any easier to reverse.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import string

from sqlalchemy import select
from sqlalchemy.orm import Session

from rpmyard.builds.errors import BadRequest, Conflict, Unauthorized
from rpmyard.builds.projects import NAME_RE
from rpmyard.db.models import User

TOKEN_ALPHABET = string.ascii_lowercase + string.digits
TOKEN_LENGTH = 30
LOGIN_LENGTH = 24


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _random(length: int) -> str:
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(length))


def new_token(user: User, days: int) -> str:
    """Give ``user`` a fresh login and token; returns the token (shown once, never stored)."""
    token = _random(TOKEN_LENGTH)
    user.api_login = _random(LOGIN_LENGTH)
    user.api_token_hash = _hash(token)
    user.api_token_expiration = dt.date.today() + dt.timedelta(days=days)
    return token


def create_user(s: Session, name: str, *, admin: bool = False, token_days: int = 180) -> tuple[User, str]:
    if not NAME_RE.match(name) or name.startswith("@"):
        raise BadRequest(f"{name!r} is not a valid user name (letters, digits, '.', '_', '+', '-')")
    if User.named(s, name) is not None:
        raise Conflict(f"user {name!r} already exists")
    user = User(name=name, is_admin=admin)
    token = new_token(user, token_days)
    s.add(user)
    s.flush()
    return user, token


def authenticate(s: Session, login: str, token: str, base_url: str) -> User:
    user = s.scalar(select(User).where(User.api_login == login))
    if (
        user is None
        or not hmac.compare_digest(user.api_token_hash, _hash(token))
        or user.api_token_expiration < dt.date.today()
    ):
        raise Unauthorized(f"Login invalid/expired. Please visit {base_url}/api to get or renew your API token.")
    return user


def copr_config(user: User, token: str, base_url: str) -> str:
    """The ``~/.config/copr`` block copr-cli reads (plain http needs ``encrypted = False``)."""
    lines = [
        "[copr-cli]",
        f"login = {user.api_login}",
        f"username = {user.name}",
        f"token = {token}",
        f"copr_url = {base_url}",
        "gssapi = false",
    ]
    if base_url.startswith("http://"):
        lines.append("encrypted = False")
    lines.append(f"# expiration date: {user.api_token_expiration.isoformat()}")
    return "\n".join(lines) + "\n"
