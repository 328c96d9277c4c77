"""The web UI: server-rendered pages at Copr's URLs, one module per page group.

``install(app)`` adds the session middleware, the static files and the routers (before the API's
catch-all page routes, so the more specific paths win). ``error_page`` renders an error for a
browser; the API keeps answering ``{"error": ...}`` JSON to its clients.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from rpmyard.frontend.web import auth, builds, home, packages, permissions, projects, status
from rpmyard.frontend.web.common import LoginRequired, render
from rpmyard.frontend.web.session import WebSessionMiddleware

STATIC_DIR = Path(__file__).parent / "static"
API_PREFIXES = ("/api_3", "/api/worker")
TITLES = {400: "That did not work", 401: "Please log in", 403: "Not allowed", 404: "Not found",
          409: "Conflict", 413: "Too large"}


def install(app: FastAPI) -> None:
    yard = app.state.yard
    app.add_middleware(WebSessionMiddleware, data_dir=yard.settings.data_dir,
                       secure=yard.settings.base_url.startswith("https://"))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # builds before projects: /coprs/build/<id> must not be read as owner "build", project <id>.
    for module in (auth, status, home, builds, packages, permissions, projects):
        app.include_router(module.router)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.next_url, safe='/')}", status_code=303)


def wants_html(request: Request) -> bool:
    """A browser asking for a page (not an API client, not a download tool)."""
    path = request.url.path
    if path.startswith(API_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "")


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    title = TITLES.get(status, "Something went wrong")
    return render(request, "web/error.html", {"status": status, "title": title, "message": message},
                  status_code=status)
