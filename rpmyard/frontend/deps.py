"""Request plumbing shared by every route: the Yard, a DB session, the authenticated user, input."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from typing import Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from rpmyard.builds.errors import BadRequest, Unauthorized
from rpmyard.db.models import User
from rpmyard.frontend.accounts import authenticate
from rpmyard.yard import Yard


def yard(request: Request) -> Yard:
    return request.app.state.yard


def _unit_of_work(request: Request) -> Iterator[Session]:
    with request.app.state.yard.db.session() as s:
        yield s


def session(s: Session = Depends(_unit_of_work, scope="function")) -> Session:
    """The request's session; it commits when the route returns, before the response is sent.

    FastAPI ends a yield dependency after the response by default, so a client could be told of a
    success whose commit then failed, or read its own write back before it was committed.
    """
    return s


def optional_user(request: Request, s: Session = Depends(session)) -> User | None:
    header = request.headers.get("authorization", "")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    base_url = request.app.state.yard.settings.base_url
    if scheme.lower() != "basic":
        raise Unauthorized(f"Login invalid/expired. Please visit {base_url}/api to get or renew your API token.")
    try:
        login, _, token = base64.b64decode(value).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("Malformed Authorization header.") from None
    user = authenticate(s, login, token, base_url)
    s.commit()  # end the read: SQLite transactions take the write lock, so keep them short
    return user


def current_user(request: Request, user: User | None = Depends(optional_user)) -> User:
    if user is None:
        base_url = request.app.state.yard.settings.base_url
        raise Unauthorized(f"Login invalid/expired. Please visit {base_url}/api to get or renew your API token.")
    return user


async def body(request: Request) -> dict[str, Any]:
    """The request data: JSON body, or the ``json`` part of a multipart upload; nulls dropped."""
    ctype = request.headers.get("content-type", "")
    data: Any
    if ctype.startswith("multipart/form-data"):
        form = await request.form()
        part = form.get("json")
        raw = await part.read() if hasattr(part, "read") else (part or "{}")
        try:
            data = json.loads(raw or "{}")
        except ValueError:
            raise BadRequest("the 'json' part of the upload is not valid JSON") from None
    else:
        raw = await request.body()
        try:
            data = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise BadRequest("request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    return {k: v for k, v in data.items() if v is not None}


def merged(request: Request, data: dict[str, Any]) -> dict[str, Any]:
    """Copr's client repeats path parameters in the query string; body values win."""
    return {**dict(request.query_params), **data}
