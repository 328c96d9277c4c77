"""Errors a user can cause. The API turns each into ``{"error": message}`` with its status code."""

from __future__ import annotations


class UserError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(UserError):
    status = 400


class Unauthorized(UserError):
    status = 401


class Forbidden(UserError):
    status = 403


class NotFound(UserError):
    status = 404


class Conflict(UserError):
    status = 409


class TooLarge(UserError):
    status = 413
