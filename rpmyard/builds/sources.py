"""Fetching SRPMs given by URL, off the request path, with a size limit and a timeout.

The build exists (source ``pending``) while its SRPM downloads; then it is inspected exactly like
an upload. A failed download or a bad file fails the build's source with the reason shown.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urljoin

import httpx

from rpmyard.builds import states, url_guard
from rpmyard.builds.errors import UserError
from rpmyard.builds.service import BuildService
from rpmyard.db.base import now
from rpmyard.db.engine import Database
from rpmyard.db.models import Build

log = logging.getLogger(__name__)


class SourceFetcher:
    def __init__(self, db: Database, service: BuildService, spool: Path, max_bytes: int) -> None:
        self.db = db
        self.service = service
        self.spool = spool
        self.max_bytes = max_bytes
        self._http = httpx.Client(timeout=60)  # redirects are followed by hand, each hop checked
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="srpm-fetch")
        self._lock = threading.Lock()

    def fetch_later(self, build_id: int) -> None:
        self._pool.submit(self._fetch, build_id)

    def resume(self) -> None:
        """Builds whose fetch was interrupted by a restart."""
        with self.db.session() as s:
            ids = [b.id for b in s.query(Build).filter(Build.source_type == "link",
                                                       Build.source_state.in_([states.PENDING, states.RUNNING]),
                                                       Build.canceled.is_(False))]
        for build_id in ids:
            self.fetch_later(build_id)

    def _fetch(self, build_id: int) -> None:
        with self.db.session() as s:
            build = s.get(Build, build_id)
            if build is None or build.canceled:
                return
            url = build.source_dict["url"]
            build.source_state = states.RUNNING
        self.spool.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.spool) as tmp:
            target = Path(tmp) / "source.src.rpm"
            try:
                self._download(url, target)
                with self.db.session() as s:
                    build = s.get(Build, build_id)
                    if build is None or build.canceled:
                        return
                    info = self.service.inspect(target, url.rsplit("/", 1)[-1] or url)
                    self.service.attach_srpm(s, build, target, info)
            except (UserError, httpx.HTTPError, OSError) as exc:
                message = exc.message if isinstance(exc, UserError) else f"cannot download {url}: {exc}"
                self._fail(build_id, message)
            except Exception as exc:
                log.exception("fetching %s failed", url)
                self._fail(build_id, f"cannot import {url}: {exc}")

    def _download(self, url: str, target: Path) -> None:
        """GET ``url`` into ``target``, each redirect hop checked by :mod:`url_guard` first."""
        for _hop in range(url_guard.MAX_REDIRECTS + 1):
            pinned = url_guard.pin(url, allow_private=self.service.allow_private_urls)
            request = self._http.build_request("GET", pinned.url, headers={"Host": pinned.host},
                                               extensions={"sni_hostname": pinned.server_name})
            with contextlib.closing(self._http.send(request, stream=True)) as r:
                if r.is_redirect and "location" in r.headers:
                    url = urljoin(url, r.headers["location"])
                    continue
                if r.status_code != 200:
                    raise UserError(f"cannot download {url}: HTTP {r.status_code}")
                got = 0
                with open(target, "wb") as fh:
                    for chunk in r.iter_bytes(1024 * 1024):
                        got += len(chunk)
                        if got > self.max_bytes:
                            raise UserError(f"{url} is larger than the {self.max_bytes // 2**20} MiB limit")
                        fh.write(chunk)
                return
        raise UserError(f"cannot download {url}: more than {url_guard.MAX_REDIRECTS} redirects")

    def _fail(self, build_id: int, message: str) -> None:
        with self.db.session() as s:
            build = s.get(Build, build_id)
            if build is None:
                return
            build.source_state = states.FAILED
            build.fail_reason = message
            for bc in build.chroots:
                bc.state = states.FAILED
                bc.reason = message
            build.ended_on = now()
