"""Copr's build states (copr_common.enums.StatusEnum) and how a build's state is derived."""

from __future__ import annotations

from collections.abc import Iterable

FAILED, SUCCEEDED, CANCELED, RUNNING, PENDING = 0, 1, 2, 3, 4
SKIPPED, STARTING, IMPORTING, FORKED, WAITING, UNKNOWN = 5, 6, 7, 8, 9, 1000

NAMES = {
    FAILED: "failed",
    SUCCEEDED: "succeeded",
    CANCELED: "canceled",
    RUNNING: "running",
    PENDING: "pending",
    SKIPPED: "skipped",
    STARTING: "starting",
    IMPORTING: "importing",
    FORKED: "forked",
    WAITING: "waiting",
    UNKNOWN: "unknown",
}
BY_NAME = {v: k for k, v in NAMES.items()}
FINISHED = frozenset({FAILED, SUCCEEDED, CANCELED, SKIPPED, FORKED})
DESCRIPTIONS = {
    PENDING: "waiting in queue for a backend worker",
    STARTING: "backend worker is trying to acquire a builder machine",
    RUNNING: "build in progress",
    IMPORTING: "sources are being imported",
    WAITING: "waiting for something else to finish",
    FORKED: "forked from another build",
    SKIPPED: "see the reason for each chroot",
    SUCCEEDED: "successfully built",
    FAILED: "build failed",
    CANCELED: "the build was canceled",
}

_SOURCE_DOMINATES = (STARTING, PENDING, RUNNING, IMPORTING, FAILED)
_CHROOT_ORDER = (RUNNING, STARTING, PENDING, FAILED, SUCCEEDED, SKIPPED, FORKED)


def build_state(*, canceled: bool, source_state: int, chroot_states: Iterable[int]) -> int:
    """Copr's rule: cancel wins; an unfinished or failed source wins; then the chroots, by order."""
    if canceled:
        return CANCELED
    if source_state in _SOURCE_DOMINATES:
        return source_state
    present = set(chroot_states)
    for state in _CHROOT_ORDER:
        if state in present:
            return state
    return source_state
