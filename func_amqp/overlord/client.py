"""func's `Overlord` (func/overlord/client.py), over AMQP or XML-RPC.

    o = Overlord("web*;db1", transport="amqp", timeout=10)
    o.service.status("httpd")          # {"web1": 0, "web2": 0, "db1": ["REMOTE_ERROR", ...]}
    Overlord("web1", noglobs=True).test.ping()   # 1
    jid = Overlord("web*", async_=True).test.sleep(5)   # or **{"async": True}
    o.job_status(jid)                  # (JOB_ID_PARTIAL, {...}) ... (JOB_ID_FINISHED, {host: result})

Who is targeted is decided before anything is sent: the spec is expanded over the inventory
(the CA's signed certificates when `certroot` exists, else the minions the broker role lists),
and every targeted minion gets exactly one entry. New beside func: `on_event=callback` (or
`Overlord.follow`) delivers each minion's progress, output and result as they happen.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qmf.state import read_state, write_state

from .. import codes
from ..certs.tls import client_context
from ..facts.query import FactQuery, Q
from ..minion.jobs import JOB_ID_FINISHED, JOB_ID_LOST_IN_SPACE, JOB_ID_PARTIAL, JOB_ID_REMOTE_ERROR, JOB_ID_RUNNING
from . import config as config_mod
from . import minions as minions_mod

log = logging.getLogger("func.overlord")

DEFAULT_TIMEOUT = 20.0  # func's per-operation default, here one deadline per call

EventCallback = Callable[[dict[str, Any]], None]


class CommandAutomagic:
    """`overlord.module.method(*args)`: attribute access builds the name, calling runs it."""

    def __init__(self, overlord: Overlord, base: list[str]) -> None:
        self._overlord = overlord
        self._base = base

    def __getattr__(self, name: str) -> CommandAutomagic:
        if name.startswith("__"):
            raise AttributeError(name)
        return CommandAutomagic(self._overlord, [*self._base, name])

    def __call__(self, *args: Any) -> Any:
        if len(self._base) < 2:
            raise AttributeError("a call needs a module and a method: overlord.<module>.<method>(...)")
        return self._overlord.run(self._base[0], ".".join(self._base[1:]), args)


class Overlord:
    def __init__(self, server_spec: str, port: int = 51234, interactive: bool = False, verbose: bool = False,
                 noglobs: bool = False, nforks: int = 1, config: config_mod.OverlordConfig | None = None,
                 async_: bool = False, init_ssl: bool = True, delegate: bool = False, mapfile: str | None = None,
                 timeout: float | None = None, exclude_spec: str | None = None, transport: str | None = None,
                 on_event: EventCallback | None = None, on_result: Callable[[str, Any], None] | None = None,
                 **kwargs: Any) -> None:
        if "async" in kwargs:  # Overlord(..., async=True) is a syntax error in Python 3; this is the way in
            async_ = kwargs.pop("async")
        if kwargs:
            raise TypeError(f"Overlord() got unexpected arguments {sorted(kwargs)}")
        if delegate:  # func, without a usable map file, said so and called every minion directly
            log.warning("delegation is not supported, switching it off: every minion is called directly "
                        "(over AMQP the broker is the hop to wherever a minion runs)")
        self.config = config or config_mod.load()
        self.server_spec = server_spec
        self.noglobs = noglobs
        self.nforks = nforks
        self.async_ = _smart_bool(async_)
        self.exclude_spec = exclude_spec
        self.on_event = on_event
        self.on_result = on_result
        self.transport_name = (transport or self.config.transport).lower()
        if self.transport_name not in ("amqp", "xmlrpc"):
            raise ValueError(f"transport must be 'amqp' or 'xmlrpc', not {transport!r}")
        sock = self.config.socket_timeout
        self.timeout = float(timeout if timeout is not None else (sock if sock else DEFAULT_TIMEOUT))
        self.port = self.config.listen_port or port
        self._amqp: Any = None
        self._xmlrpc: Any = None
        self.fact_query = FactQuery()
        self.minions = self._expand()
        if not self.minions:
            raise codes.Func_Client_Exception(f"Can't find any minions matching \"{server_spec}\".")

    # -- who ----------------------------------------------------------------------------------------
    def _inventory(self) -> list[str]:
        certs = minions_mod.certroot_inventory(self.config.certroot)
        if certs is not None:
            return certs
        return self.amqp().minions()

    def _expand(self) -> list[str]:
        return minions_mod.expand(self.server_spec, self._inventory(),
                                  groups=minions_mod.load_groups(self.config.groups), exclude_spec=self.exclude_spec,
                                  down=minions_mod.down_list(self.config.host_down_list),
                                  allow_unknown=self.config.allow_unknown_minions or self.noglobs)

    def list_minions(self) -> list[str]:
        return list(self.minions)

    # -- transports ---------------------------------------------------------------------------------
    def amqp(self) -> Any:
        """The process's AMQP transport for this broker and identity: one connection shared by every
        Overlord (func scripts build one per call; a connection per call would cost a handshake)."""
        if self._amqp is None:
            key, cert, ca = self.config.credentials()
            ident = (self.config.broker_url, key, cert, self.config.broker_ca_file or ca)
            with _SHARED_LOCK:
                transport = _SHARED.get(ident)
                if transport is None:
                    transport = _SHARED[ident] = self._new_amqp(key, cert, ca)
            self._amqp = transport
        return self._amqp

    def _new_amqp(self, key: str, cert: str, ca: str) -> Any:
        from .amqp_transport import AmqpTransport
        from .sessions import Sessions

        sessions = None
        if Path(key).exists() and Path(cert).exists():
            sessions = Sessions(key, cert, ca, self.config.crl())
        tls = None
        if self.config.broker_url.startswith("amqps://"):
            tls = client_context(cert, key, self.config.broker_ca_file or ca)
        return AmqpTransport(self.config.broker_url, tls=tls, sessions=sessions,
                             session_dir=self.config.session_dir or None)

    def xmlrpc(self) -> Any:
        if self._xmlrpc is None:
            from .xmlrpc_transport import XmlRpcTransport

            key, cert, ca = self.config.credentials()
            self._xmlrpc = XmlRpcTransport(key, cert, ca, port=self.port, address_of=self._xmlrpc_address)
        return self._xmlrpc

    def _xmlrpc_address(self, name: str) -> str | None:
        known = self.config.minions.get(name)
        if known:
            return known
        key = (self.config.broker_url, name)
        cached = _XMLRPC_ADDRESSES.get(key)
        if cached:
            return cached
        try:
            found = self.amqp().xmlrpc_address(name) or None  # the minion says where its XML-RPC listens
        except Exception:
            return None
        if found:  # asked once per process, not once per call (a QMF round trip and an AMQP connection)
            _XMLRPC_ADDRESSES[key] = found
        return found

    def _transport(self) -> Any:
        return self.amqp() if self.transport_name == "amqp" else self.xmlrpc()

    def close(self) -> None:
        """Lets go of the transports (the shared AMQP connection stays for the process's other
        Overlords; `close_all()` ends it)."""
        if self._xmlrpc is not None:
            self._xmlrpc.close()
        self._amqp = self._xmlrpc = None

    def __enter__(self) -> Overlord:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls --------------------------------------------------------------------------------------
    def __getattr__(self, name: str) -> CommandAutomagic:
        if name.startswith("_"):
            raise AttributeError(name)
        return CommandAutomagic(self, [name])

    def run(self, module: str, method: str, args: tuple[Any, ...] | list[Any], nforks: int = 1) -> Any:
        """{minion: value}. With a facts query (`filter`), only the minions that matched have an
        entry (and those that failed); `on_result` still sees every minion's answer as it came,
        `[{'__fact__': [matched, facts]}, value]` or its first element alone."""
        args = tuple(args)
        if self.async_:
            return self._run_async(module, method, args)
        results = self._transport().call(self.minions, module, method, args, timeout=self.timeout,
                                         on_event=self.on_event, on_result=self.on_result, facts=self._facts())
        if self.fact_query:
            results = matching(results)
        if self.noglobs:
            return next(iter(results.values()), None)
        return results

    # -- facts (func's Overlord.filter & co.) -------------------------------------------------------
    def _facts(self) -> list[Any] | None:
        return self.fact_query.serialize() if self.fact_query else None

    def _with(self, query: FactQuery) -> Overlord:
        """A copy aimed at the same minions, with this facts query (the transports are shared)."""
        fresh = copy.copy(self)
        fresh.fact_query = query
        return fresh

    def filter(self, *args: Any, **kwargs: Any) -> Overlord:
        """Only the minions whose facts match every condition: `filter(os_id="debian", memory__gte=4096)`
        (keywords: contains, icontains, iexact, startswith, gt, gte, lt, lte; none is equality)."""
        return self._with(self.fact_query.filter(*args, **kwargs))

    def filter_or(self, *args: Any, **kwargs: Any) -> Overlord:
        """Only the minions whose facts match any of the conditions (ORed with the query so far)."""
        return self._with(self.fact_query.filter_or(*args, **kwargs))

    def and_and(self, *args: Any, **kwargs: Any) -> Overlord:
        return self._with(self.fact_query.and_and(*args, **kwargs))

    def and_or(self, *args: Any, **kwargs: Any) -> Overlord:
        return self._with(self.fact_query.and_or(*args, **kwargs))

    def or_or(self, *args: Any, **kwargs: Any) -> Overlord:
        return self._with(self.fact_query.or_or(*args, **kwargs))

    def or_and(self, *args: Any, **kwargs: Any) -> Overlord:
        return self._with(self.fact_query.or_and(*args, **kwargs))

    def exclude(self, *args: Any, **kwargs: Any) -> Overlord:
        """Leaves out the minions whose facts match all these conditions."""
        return self._with(self.fact_query.exclude(*args, **kwargs))

    def set_complexq(self, q: Q, connector: str | None = None) -> Overlord:
        """A query built by hand from `Q` objects (`Q.of(os="x") | ~Q.of(cpus__lt=2)`)."""
        return self._with(self.fact_query.set_complexq(q, connector))

    # -- async jobs (func's job ids, status codes and polling) --------------------------------------
    def _job_file(self) -> Path:
        path = Path(self.config.job_dir)
        path.mkdir(parents=True, exist_ok=True)
        return path / f"jobs-{os.getuid()}.json"

    def _load_jobs(self) -> dict[str, Any]:
        return read_state(self._job_file())

    def _save_jobs(self, jobs: dict[str, Any]) -> None:
        cutoff = time.time() - 3600
        jobs = {k: v for k, v in jobs.items() if v.get("created", 0) > cutoff}
        write_state(self._job_file(), jobs)

    def _run_async(self, module: str, method: str, args: tuple[Any, ...]) -> str:
        job_id = "-".join(p.replace("-", "_") for p in (self.server_spec, module, method, repr(time.time())))
        started = self._transport().call(self.minions, module, method, args, timeout=self.timeout, async_=True,
                                         on_result=self.on_result, facts=self._facts())
        hosts: dict[str, Any] = {}
        done: dict[str, Any] = {}
        for host, value in started.items():
            if isinstance(value, str) and not codes.is_error(value):
                hosts[host] = value
            else:
                done[host] = value  # it never started: its entry is the error
        jobs = self._load_jobs()
        jobs[job_id] = {"status": JOB_ID_PARTIAL, "hosts": hosts, "results": done, "created": time.time(),
                        "transport": self.transport_name, "facts": bool(self.fact_query)}
        self._save_jobs(jobs)
        return job_id

    def job_status(self, job_id: str) -> tuple[int, Any]:
        """(JOB_ID_FINISHED, {host: result}) once every minion is done, (JOB_ID_PARTIAL, {finished
        hosts: result}) before, (JOB_ID_LOST_IN_SPACE, {}) for an unknown id."""
        jobs = self._load_jobs()
        job = jobs.get(job_id)
        if job is None:
            return JOB_ID_LOST_IN_SPACE, {}
        if job["status"] == JOB_ID_FINISHED:
            return JOB_ID_FINISHED, _shown(job)
        pending = {h: jid for h, jid in job["hosts"].items() if h not in job["results"]}
        for host, minion_job in pending.items():
            answer = self._transport().call([host], "jobs", "job_status", (minion_job,), timeout=self.timeout)[host]
            if not isinstance(answer, list | tuple) or len(answer) != 2:
                job["results"][host] = answer if codes.is_error(answer) else ["REMOTE_ERROR", "func.minion.codes."
                                                                             "FuncException", "bad job status", ""]
            elif answer[0] in (JOB_ID_FINISHED, JOB_ID_REMOTE_ERROR):
                job["results"][host] = answer[1]
            elif answer[0] == JOB_ID_LOST_IN_SPACE:
                job["results"][host] = ["REMOTE_ERROR", "lost job", f"{host} does not know job {minion_job}", ""]
        finished = all(h in job["results"] for h in job["hosts"])
        job["status"] = JOB_ID_FINISHED if finished else JOB_ID_PARTIAL
        jobs[job_id] = job
        self._save_jobs(jobs)
        return job["status"], _shown(job)

    def open_job_ids(self) -> dict[str, int]:
        return {jid: j["status"] for jid, j in self._load_jobs().items()}

    def minion_job_ids(self, job_id: str) -> dict[str, str]:
        """{host: minion job id} of an async job (for `jobs.get_progress` / `jobs.tail_output`)."""
        job = self._load_jobs().get(job_id)
        return dict(job["hosts"]) if job else {}

    def check_progress(self, job_id: str, host: str) -> Any:
        minion_job = self.minion_job_ids(job_id).get(host)
        return self._transport().call([host], "jobs", "get_progress", (minion_job,), timeout=self.timeout)[host]

    def tail_log(self, job_id: str, host: str) -> Any:
        minion_job = self.minion_job_ids(job_id).get(host)
        return self._transport().call([host], "jobs", "tail_output", (minion_job,), timeout=self.timeout)[host]

    def follow(self, job_id: str, on_event: EventCallback, timeout: float | None = None) -> tuple[int, Any]:
        """Delivers the job's events (started, progress, output, result, per minion) as they
        happen, then returns `job_status`. Over AMQP the minions publish them; over XML-RPC (or
        for a job that ended before following began) the overlord polls progress and status."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        hosts = self.minion_job_ids(job_id)
        events = self.amqp().subscribe(set(hosts.values())) if self.transport_name == "amqp" and hosts else None
        try:
            code, results = self.job_status(job_id)
            last_poll = time.monotonic()
            ended: set[str] = set()
            while code != JOB_ID_FINISHED and time.monotonic() < deadline:
                if events is not None:
                    try:
                        ev = events.get(timeout=0.25)
                        on_event(ev)
                        if ev.get("kind") == "result":
                            ended.add(ev.get("job_id"))
                    except queue.Empty:
                        pass
                else:
                    time.sleep(0.25)
                if time.monotonic() - last_poll >= 1.0 or ended >= set(hosts.values()):
                    last_poll = time.monotonic()
                    if events is None:
                        for host in hosts:
                            if host not in results:
                                on_event({"host": host, "job_id": hosts[host], "kind": "progress",
                                          "data": self.check_progress(job_id, host)})
                    code, results = self.job_status(job_id)
            while events is not None and not events.empty():
                on_event(events.get_nowait())
        finally:
            if events is not None:
                self.amqp().unsubscribe(events)
        return code, results


_SHARED: dict[tuple[str, ...], Any] = {}
_XMLRPC_ADDRESSES: dict[tuple[str, str], str] = {}  # (broker URL, minion) -> host:port its system object gave
_SHARED_LOCK = threading.Lock()


def close_all() -> None:
    """Closes the shared AMQP connections (at exit, or when a script is done with func)."""
    with _SHARED_LOCK:
        transports = list(_SHARED.values())
        _SHARED.clear()
    for t in transports:
        with contextlib.suppress(Exception):
            t.close()


atexit.register(close_all)


def matching(results: dict[str, Any]) -> dict[str, Any]:
    """func's `display_active`: with a facts query, a minion answers `[{'__fact__': [matched,
    facts]}, value]`; this keeps `value` where the facts matched and drops the minions where they
    did not. Any other entry (a REMOTE_ERROR: unreachable, a bad query, the method raised) stays."""
    out: dict[str, Any] = {}
    for host, value in results.items():
        if isinstance(value, list | tuple) and value and isinstance(value[0], dict) and "__fact__" in value[0]:
            verdict = value[0]["__fact__"]
            if isinstance(verdict, list | tuple) and verdict and verdict[0] is True and len(value) > 1:
                out[host] = value[1]
        else:
            out[host] = value
    return out


def _shown(job: dict[str, Any]) -> dict[str, Any]:
    return matching(job["results"]) if job.get("facts") else dict(job["results"])


def _smart_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no", "off")
    return bool(value)


__all__ = [
    "JOB_ID_FINISHED",
    "JOB_ID_LOST_IN_SPACE",
    "JOB_ID_PARTIAL",
    "JOB_ID_REMOTE_ERROR",
    "JOB_ID_RUNNING",
    "CommandAutomagic",
    "Overlord",
    "close_all",
]
