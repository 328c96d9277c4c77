"""The func session protocol between a real overlord `Sessions` and a real minion `Authenticator`,
with certificates from a real CA: the headers each side puts on the wire and what the other
accepts or refuses (the transport in between is covered end to end in tests/e2e)."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from codec import MethodResponse
from func_amqp import codes
from func_amqp.certs import CAConfig, CertificateAuthority, request_certificate
from func_amqp.certs.pem import load_private_key
from func_amqp.certs.signing import sign_message
from func_amqp.minion.auth import Authenticator
from func_amqp.overlord import session_store
from func_amqp.overlord.amqp_transport import _RequestIds
from func_amqp.overlord.sessions import Sessions
from func_amqp.qmfmap import H_CERT, H_FACTS, H_REQUEST_ID, H_SIGNATURE, STATUS_FORBIDDEN
from func_amqp.request_auth import (
    H_DEADLINE,
    H_MAC,
    H_SESSION,
    H_SESSION_ACCEPT,
    SESSION_UNKNOWN,
    reply_text,
    request_text,
)
from qmf.agent import CallContext

BODY = b"AM2M\x00\x00\x00\x07" + bytes(16) + b"\x03func\x04test" + bytes(16) + b"\x04ping"
KEY = "agent.1.3"  # the routing key the request is published with
VALUE = MethodResponse(seq=7)  # status 0: a value
REFUSAL = MethodResponse(seq=7, status=STATUS_FORBIDDEN, text="Forbidden: no")


class Pki:
    def __init__(self, root: Path) -> None:
        self.ca = CertificateAuthority(CAConfig.under(root / "ca", autosign=True))
        self.ca.create(cn="certmaster-CA-KEY")
        self.ca.crl()
        self.root = root

    def minion(self, name: str) -> Authenticator:
        _, files = request_certificate(self.ca, self.root / name, name)
        return Authenticator(str(files.ca_file), str(self.ca.config.crl_file), key_file=str(files.key_file),
                             cert_file=str(files.cert_file))

    def overlord(self) -> Sessions:
        cfg = self.ca.config
        return Sessions(str(cfg.key_file), str(cfg.cert_file), str(cfg.cert_file), str(cfg.crl_file))


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


def request(sessions: Sessions, name: str, body: bytes = BODY, key: str = KEY, **extra: Any) -> dict[str, Any]:
    headers: dict[str, Any] = {H_REQUEST_ID: uuid.uuid4().hex, H_DEADLINE: int((time.time() + 30) * 1000), **extra}
    headers.update(sessions.peer(name).sign(key, body, headers))
    return headers


def serve(auth: Authenticator, headers: dict[str, Any], body: bytes = BODY, key: str = KEY) -> CallContext:
    ctx = CallContext(7, headers, "reply", None, key, body, headers.get(H_DEADLINE), False)
    auth.identify(ctx)
    return ctx


def handshake(sessions: Sessions, auth: Authenticator, name: str) -> None:
    sent = request(sessions, name)
    ctx = serve(auth, sent)
    assert ctx.sign_reply is not None
    got = ctx.sign_reply(b"reply-bytes")
    assert sessions.peer(name).verify(sent, b"reply-bytes", got, VALUE)


def test_the_first_request_is_signed_then_the_session_is_macked(pki: Pki) -> None:
    web1, overlord = pki.minion("web1"), pki.overlord()
    first = request(overlord, "web1")
    assert {H_CERT, H_SIGNATURE, H_SESSION} <= first.keys() and H_MAC not in first
    ctx = serve(web1, first)
    got = ctx.sign_reply(b"reply-bytes")  # type: ignore[misc]
    assert {H_CERT, H_SIGNATURE, H_SESSION_ACCEPT} <= got.keys()  # the minion's certificate signs its accept
    assert overlord.peer("web1").verify(first, b"reply-bytes", got, VALUE)

    second = request(overlord, "web1")
    assert H_MAC in second and H_CERT not in second and H_SIGNATURE not in second
    assert second[H_SESSION] == first[H_SESSION]
    ctx = serve(web1, second)
    got = ctx.sign_reply(b"value")  # type: ignore[misc]
    assert set(got) == {H_MAC}
    assert overlord.peer("web1").verify(second, b"value", got, VALUE)
    # the MAC binds the reply's bytes and the request it answers
    assert not overlord.peer("web1").verify(second, b"valuE", got, VALUE)
    assert not overlord.peer("web1").verify({**second, H_REQUEST_ID: "other"}, b"value", got, VALUE)


@pytest.mark.parametrize("change", ["body", "routing key", "request id", "deadline", "mac"])
def test_a_session_request_altered_in_any_part_is_refused(pki: Pki, change: str) -> None:
    web1, overlord = pki.minion("web1"), pki.overlord()
    handshake(overlord, web1, "web1")
    sent, body, key = request(overlord, "web1"), BODY, KEY
    if change == "body":
        body = BODY[:-1] + b"x"
    elif change == "routing key":
        key = "agent.1.4"  # re-sent to another minion
    elif change == "request id":
        sent[H_REQUEST_ID] = uuid.uuid4().hex
    elif change == "deadline":
        sent[H_DEADLINE] += 60_000
    else:
        sent[H_MAC] = base64.b64encode(bytes(32)).decode()
    with pytest.raises(codes.AccessToMethodDenied, match="MAC does not verify"):
        serve(web1, sent, body, key)


def test_a_signed_request_is_good_for_the_minion_it_was_sent_to_only(pki: Pki) -> None:
    web1, overlord = pki.minion("web1"), pki.overlord()
    sent = request(overlord, "web1")
    with pytest.raises(codes.AccessToMethodDenied, match="does not verify"):
        serve(web1, sent, key="agent.1.4")


def test_a_replayed_request_is_refused(pki: Pki) -> None:
    web1, overlord = pki.minion("web1"), pki.overlord()
    handshake(overlord, web1, "web1")
    sent = request(overlord, "web1")
    serve(web1, sent)
    with pytest.raises(codes.AccessToMethodDenied, match=r"seen before|replay"):
        serve(web1, sent)


def test_a_minion_that_lost_the_session_says_so_and_the_overlord_handshakes_again(pki: Pki) -> None:
    web1, overlord = pki.minion("web1"), pki.overlord()
    handshake(overlord, web1, "web1")
    restarted = pki.minion("web1")  # the same minion after a restart: no sessions
    sent = request(overlord, "web1")
    with pytest.raises(codes.AccessToMethodDenied) as refusal:
        serve(restarted, sent)
    assert str(refusal.value).startswith(SESSION_UNKNOWN)
    assert overlord.peer("web1").session_lost(STATUS_FORBIDDEN, f"Forbidden: {refusal.value}")
    again = request(overlord, "web1")
    assert H_SIGNATURE in again and H_MAC not in again
    handshake_ctx = serve(restarted, again)
    assert overlord.peer("web1").verify(again, b"r", handshake_ctx.sign_reply(b"r"), VALUE)  # type: ignore[misc]
    assert H_MAC in request(overlord, "web1")


def test_concurrent_handshakes_end_with_one_key(pki: Pki) -> None:
    web1, overlord = pki.minion("web1"), pki.overlord()
    a, b = request(overlord, "web1"), request(overlord, "web1")
    ra, rb = serve(web1, a).sign_reply(b"a"), serve(web1, b).sign_reply(b"b")  # type: ignore[misc]
    assert ra[H_SESSION_ACCEPT] == rb[H_SESSION_ACCEPT]
    assert overlord.peer("web1").verify(a, b"a", ra, VALUE) and overlord.peer("web1").verify(b, b"b", rb, VALUE)
    serve(web1, request(overlord, "web1"))  # the session key both ended with is the minion's


def test_a_value_without_the_minions_proof_is_dropped_a_bare_refusal_is_taken(pki: Pki) -> None:
    web1, db1, overlord = pki.minion("web1"), pki.minion("db1"), pki.overlord()
    sent = request(overlord, "web1")
    peer = overlord.peer("web1")
    assert not peer.verify(sent, b"forged", {}, VALUE)  # an unsigned value
    assert peer.verify(sent, b"refused", {}, REFUSAL)  # an unsigned refusal: it can only fail the call
    # db1's genuine signature on a reply to web1's request: a certificate of the wrong name
    other = serve(db1, request(overlord, "db1"))
    forged = other.sign_reply(b"x")  # type: ignore[misc]
    assert not peer.verify(sent, b"x", forged, VALUE)
    # a signature that does not cover these bytes
    good = serve(web1, sent).sign_reply(b"genuine")  # type: ignore[misc]
    assert not peer.verify(sent, b"tampered", good, VALUE)
    assert peer.verify(sent, b"genuine", good, VALUE)
    # a MAC reply before any session is held
    assert not overlord.peer("db1").verify(request(overlord, "db1"), b"x", {H_MAC: "AAAA"}, VALUE)


def test_a_revocation_ends_the_session(pki: Pki, tmp_path: Path) -> None:
    _, files = request_certificate(pki.ca, tmp_path / "ops", "ops")
    ops = Sessions(str(files.key_file), str(files.cert_file), str(files.ca_file), str(pki.ca.config.crl_file))
    web1 = pki.minion("web1")
    handshake(ops, web1, "web1")
    serve(web1, request(ops, "web1"))
    pki.ca.revoke(["ops"])
    with pytest.raises(codes.AccessToMethodDenied, match=SESSION_UNKNOWN):
        serve(web1, request(ops, "web1"))
    assert ops.peer("web1").session_lost(STATUS_FORBIDDEN, SESSION_UNKNOWN)
    with pytest.raises(codes.AccessToMethodDenied, match="revoked"):
        serve(web1, request(ops, "web1"))


@pytest.mark.parametrize("change", ["added", "changed", "removed"])
def test_a_facts_query_added_changed_or_removed_breaks_the_mac(pki: Pki, change: str) -> None:
    web1, overlord = pki.minion("web1"), pki.overlord()
    handshake(overlord, web1, "web1")
    query = '["AND",[["os","x"]]]'
    if change == "added":
        sent = {**request(overlord, "web1"), H_FACTS: query}
    else:
        sent = request(overlord, "web1", **{H_FACTS: query})
        serve(web1, sent)  # as MACed, it is good
        sent = request(overlord, "web1", **{H_FACTS: query})
        if change == "changed":
            sent[H_FACTS] = '["AND",[["os__contains",""]]]'
        else:
            del sent[H_FACTS]
    with pytest.raises(codes.AccessToMethodDenied, match="MAC does not verify"):
        serve(web1, sent)


def test_the_texts_are_the_documented_bytes() -> None:
    headers = {H_REQUEST_ID: "r1", H_DEADLINE: 5, H_SESSION: "S", "func.session_expires": 9}
    assert request_text(BODY, headers, "agent.1.3") == b"func-request-v3\nr1\n5\n\n\nagent.1.3\nS\n9\n" + BODY[24:]
    assert request_text(BODY, {H_REQUEST_ID: "r1", H_DEADLINE: 5}, "k") == b"func-request-v2\nr1\n5\n\n\n" + BODY[24:]
    assert request_text(BODY, {**headers, H_FACTS: '["AND",[["os","x"]]]'}, "agent.1.3") == (
        b'func-request-v3\nr1\n5\n\n\nagent.1.3\nS\n9\nfacts=["AND",[["os","x"]]]\n' + BODY[24:])
    assert reply_text("r1", "A", b"body") == b"func-reply-v1\nr1\nA\nbody"


def test_a_third_party_v2_request_is_served_and_its_reply_signed(pki: Pki) -> None:
    """A client of its own signs the v2 text (no session); the minion signs its reply in return."""
    web1, overlord = pki.minion("web1"), pki.overlord()
    cfg = pki.ca.config
    key = load_private_key(cfg.key_file.read_bytes())
    sent: dict[str, Any] = {H_REQUEST_ID: uuid.uuid4().hex, H_DEADLINE: int((time.time() + 30) * 1000),
                            H_CERT: cfg.cert_file.read_text()}
    sent[H_SIGNATURE] = base64.b64encode(sign_message(key, request_text(BODY, sent, KEY))).decode()
    assert request_text(BODY, sent, KEY).startswith(b"func-request-v2\n")
    ctx = serve(web1, sent)
    got = ctx.sign_reply(b"reply")  # type: ignore[misc]
    assert {H_CERT, H_SIGNATURE} <= got.keys() and H_SESSION_ACCEPT not in got
    assert overlord.peer("web1").verify(sent, b"reply", got, VALUE)
    assert overlord.peer("web1").key is None  # no session came of it


def test_a_session_kept_on_disk_spares_the_next_process_its_handshake(pki: Pki, tmp_path: Path) -> None:
    web1, first = pki.minion("web1"), pki.overlord()
    handshake(first, web1, "web1")
    folder = tmp_path / "sessions"
    session_store.save(first, folder)
    [kept] = list(folder.iterdir())
    assert kept.stat().st_mode & 0o777 == 0o600 and folder.stat().st_mode & 0o777 == 0o700
    later = pki.overlord()  # the next `func` process of the same identity
    assert session_store.load(later, folder)
    sent = request(later, "web1")
    assert H_MAC in sent and H_SIGNATURE not in sent
    got = serve(web1, sent).sign_reply(b"v")  # type: ignore[misc]
    assert later.peer("web1").verify(sent, b"v", got, VALUE)


def test_a_kept_session_is_ignored_unless_private_current_and_ours(pki: Pki, tmp_path: Path) -> None:
    web1, first = pki.minion("web1"), pki.overlord()
    handshake(first, web1, "web1")
    folder = tmp_path / "sessions"
    session_store.save(first, folder)
    [kept] = list(folder.iterdir())
    kept.chmod(0o644)  # readable by others: it may have been seen, or planted
    assert not session_store.load(pki.overlord(), folder)
    kept.chmod(0o600)
    state = json.loads(kept.read_text())
    assert not pki.overlord().restore({**state, "expires_ms": int(time.time() * 1000)})  # over
    assert not pki.overlord().restore({**state, "cert": "00" * 32})  # another identity's
    assert pki.overlord().restore(state)


@pytest.mark.parametrize("cert", [2**40, 7, 1.5, ["x"], None])
def test_a_certificate_header_of_another_type_is_refused_at_once(pki: Pki, cert: Any) -> None:
    web1, overlord = pki.minion("web1"), pki.overlord()
    sent = request(overlord, "web1")
    sent[H_CERT] = cert  # an int would once have become bytes(n): n bytes allocated
    with pytest.raises(codes.AccessToMethodDenied):
        serve(web1, sent)
    reply = {H_CERT: cert, H_SIGNATURE: "AAAA"}
    assert not overlord.peer("web1").verify(request(overlord, "web1"), b"x", reply, VALUE)


def test_a_minion_revoked_after_its_handshake_is_no_longer_believed(pki: Pki) -> None:
    web1, overlord = pki.minion("web1"), pki.overlord()
    handshake(overlord, web1, "web1")
    assert H_MAC in request(overlord, "web1")
    pki.ca.revoke(["web1"])
    overlord._crl_checked = 0.0  # as a second later: the overlord looks at the CRL at most once a second
    sent = request(overlord, "web1")
    assert H_SIGNATURE in sent and H_MAC not in sent  # its session is over: a handshake again
    got = serve(web1, sent).sign_reply(b"v")  # type: ignore[misc]
    assert not overlord.peer("web1").verify(sent, b"v", got, VALUE)  # its certificate is revoked


def test_a_kept_session_made_before_a_revocation_keeps_no_minion_key(pki: Pki, tmp_path: Path) -> None:
    web1, first = pki.minion("web1"), pki.overlord()
    pki.minion("web2")
    handshake(first, web1, "web1")
    session_store.save(first, tmp_path)
    pki.ca.revoke(["web2"])  # any change of the CRL: the kept keys were made under the old one
    later = pki.overlord()
    assert session_store.load(later, tmp_path)
    assert H_SIGNATURE in request(later, "web1")


def test_request_ids_are_unique_hex_and_a_forked_child_draws_its_own() -> None:
    """The minions refuse an id seen before: ids never repeat, in this process or a forked one."""
    ids = _RequestIds()
    mine = [ids.next() for _ in range(1000)]
    assert len(set(mine)) == 1000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in mine)
    other = _RequestIds().next()
    assert other[:16] != mine[0][:16]  # another transport's prefix (64 random bits)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first ids, to the parent
        os.write(write, " ".join(ids.next() for _ in range(3)).encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 4096).decode().split()
    os.waitpid(pid, 0)
    assert len(child) == 3 and not set(child) & set(mine) and child[0][:16] != mine[0][:16]
    assert ids.next()[:16] == mine[0][:16]  # the parent keeps its own
