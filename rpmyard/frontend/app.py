"""The FastAPI application: routes, Copr-style errors, and paths with or without a trailing slash."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from rpmyard.builds.errors import UserError
from rpmyard.frontend import fleet_api, pages, results, web, worker_api
from rpmyard.frontend.api_v3 import (
    build_chroots,
    builds,
    general,
    monitor,
    packages,
    permissions,
    project_chroots,
    projects,
)
from rpmyard.yard import Yard


class StripTrailingSlash:
    """Copr's frontend sets ``strict_slashes = False``; route both forms to one handler.

    Result listings keep their slash: relative links in a directory page depend on it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/") and not path.startswith("/results/"):
                scope = dict(scope, path=path.rstrip("/"), raw_path=path.rstrip("/").encode())
        await self.app(scope, receive, send)


def _error(request: Request, status: int, message: str) -> Response:
    if web.wants_html(request):  # a browser gets a page; API clients keep Copr's JSON
        return web.error_page(request, status, message)
    return JSONResponse({"error": message}, status_code=status)


def create_app(yard: Yard) -> FastAPI:
    app = FastAPI(title="rpmyard", docs_url="/api_3/docs", openapi_url="/api_3/openapi.json")
    app.state.yard = yard
    for module in (general, projects, permissions, builds, build_chroots, project_chroots, packages, monitor):
        app.include_router(module.router)
    app.include_router(worker_api.router)
    app.include_router(fleet_api.router)
    app.include_router(results.router)
    web.install(app)
    app.include_router(pages.router)

    @app.exception_handler(UserError)
    async def user_error(request: Request, exc: UserError) -> Response:
        return _error(request, exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        lines = []
        for err in exc.errors():
            field = str(err.get("loc", ["?"])[-1])
            lines.append(f"{field}: {err.get('msg', 'invalid')}")
        return _error(request, 400, "\n".join(lines))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"Not found: {request.url.path}"
        elif exc.status_code == 405:
            message = f"Method {request.method} is not allowed on {request.url.path}"
        return _error(request, exc.status_code, message)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        return _error(request, 500, f"Internal error: {type(exc).__name__}")

    app.add_middleware(StripTrailingSlash)
    return app
