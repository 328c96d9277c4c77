"""Copr's list convention: ``limit``/``offset``/``order``/``order_type`` in, ``{"items", "meta"}`` out."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import Select, asc, desc
from sqlalchemy.orm import Session

from rpmyard.builds.errors import BadRequest


def paginate(s: Session, request: Request, query: Select[Any], columns: dict[str, Any],
             default_order: str = "id") -> tuple[list[Any], dict[str, Any]]:
    params = request.query_params
    order = params.get("order") or default_order
    if order not in columns:
        raise BadRequest(f"order: cannot order by {order!r}; use one of {', '.join(sorted(columns))}")
    default_type = "DESC" if order == "id" else "ASC"
    order_type = (params.get("order_type") or default_type).upper()
    if order_type not in ("ASC", "DESC"):
        raise BadRequest("order_type: must be ASC or DESC")
    try:
        limit = int(params["limit"]) if params.get("limit") not in (None, "", "None") else None
        offset = int(params.get("offset") or 0)
    except ValueError:
        raise BadRequest("limit and offset must be numbers") from None
    if (limit is not None and limit < 0) or offset < 0:
        raise BadRequest("limit and offset must not be negative")
    column = columns[order]
    query = query.order_by(asc(column) if order_type == "ASC" else desc(column))
    if offset:
        query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    items = list(s.scalars(query).unique())
    return items, {"limit": limit, "offset": offset, "order": order, "order_type": order_type}
