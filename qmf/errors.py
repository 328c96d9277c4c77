"""What the qmf roles raise. Codec errors (`codec.DecodeError` and kin) pass through unchanged."""

from __future__ import annotations


class QmfError(Exception):
    """Base of every qmf error."""


class BrokerUnreachable(QmfError):
    """The AMQP broker could not be reached (first connection) within the time allowed."""


class NotConnected(QmfError):
    """The connection to the AMQP broker is down (it is being re-established); nothing was sent."""


class ConnectionLost(QmfError):
    """The connection dropped while a request was in flight: its reply, if any, is lost, and whether
    the peer acted on it is unknown."""


class Unroutable(QmfError):
    """The broker had nowhere to route a request: no agent (or broker role) is bound to its key."""


class Timeout(QmfError):
    """No reply came by the request's deadline; `refused` replies came that its verifier dropped."""

    def __init__(self, text: str = "", refused: int = 0) -> None:
        super().__init__(text)
        self.refused = refused


class AgentGone(QmfError):
    """The agent stopped sending heartbeats (or was never known)."""


class UnknownClass(QmfError):
    """No class of that name (in that package) is known to the broker role or the agent asked."""


class MethodError(QmfError):
    """A method response with a non-zero status (qmf-v1.md §5.3)."""

    def __init__(self, status: int, text: str) -> None:
        self.status = status
        self.text = text
        super().__init__(f"status {status}: {text}")


class CommandError(QmfError):
    """A command completion ('z') with a non-zero code."""

    def __init__(self, code: int, text: str) -> None:
        self.code = code
        self.text = text
        super().__init__(f"code {code}: {text}")
