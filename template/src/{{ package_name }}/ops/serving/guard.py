# Kept by the template: `copier update` rewrites this file.
"""What stands between a request and the service's handlers: a token, the content type, the body's size.

`Guard` is plain ASGI middleware (no task, no buffering of its own) that answers before a handler runs:
- 401 when authentication is on (`tokens()`: SERVICE_TOKENS, or the file SERVICE_TOKENS_FILE names) and the
  request carries no `Authorization: Bearer <token>` with one of the tokens; `/health` is always open, and
  the routes of `open_paths` (/metrics and the API docs, when config/deploy.toml [service] leaves them open);
- 415 when a POST does not say its body is JSON (`Content-Type: application/json`), so that no web page can
  post to the service as a form or plain text without the browser asking first (a CORS preflight);
- 413 when the body is larger than config/deploy.toml [service] max_body_bytes: at once when its
  Content-Length says so, else as soon as the bytes received pass the limit, before the rest is read.

`readable_errors` makes validation errors safe to answer as JSON (a `NaN` or an undecodable body in them).
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TOKENS = "SERVICE_TOKENS"
TOKENS_FILE = "SERVICE_TOKENS_FILE"
MIN_TOKEN_LENGTH = 16
ALWAYS_OPEN = frozenset({"/health"})
DOCS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
METRICS = frozenset({"/metrics"})
JSON = "application/json"
# How much of a value a validation error echoes back
ECHOED = 200


def tokens(environ: MutableMapping[str, str] | None = None) -> tuple[bytes, ...]:
    """The bearer tokens the service accepts: none (authentication off) unless SERVICE_TOKENS holds some, or
    SERVICE_TOKENS_FILE names a file that does (separated by commas, spaces or line breaks).

    Set but empty, or holding a token shorter than MIN_TOKEN_LENGTH, is a ConfigError: a secret that did not
    arrive must not switch authentication off, nor a guessable token guard the service.
    """
    environ = os.environ if environ is None else environ
    source, raw = TOKENS, environ.get(TOKENS)
    if raw is None and environ.get(TOKENS_FILE):
        path = Path(environ[TOKENS_FILE])
        source = f"{TOKENS_FILE} ({path})"
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as unreadable:
            raise ConfigError(f"{source}: {unreadable.strerror}; name a readable file of tokens") from None
    if raw is None:
        return ()
    found = [token for token in re.split(r"[\s,]+", raw) if token]
    if not found:
        raise ConfigError(f"{source} is set but holds no token; give at least one, or unset it")
    if any(len(token) < MIN_TOKEN_LENGTH for token in found):
        raise ConfigError(
            f"{source} holds a token shorter than {MIN_TOKEN_LENGTH} characters; make each one long and "
            'random, e.g. python3 -c "import secrets; print(secrets.token_urlsafe(32))"'
        )
    return tuple(token.encode("utf-8") for token in found)


def open_paths(protect_metrics: bool, protect_docs: bool) -> frozenset[str]:
    """The paths that need no token when authentication is on: /health, and /metrics and the docs unless
    config/deploy.toml [service] protects them."""
    opened = ALWAYS_OPEN | (frozenset() if protect_metrics else METRICS)
    return opened | (frozenset() if protect_docs else DOCS)


def authorized(header: bytes | None, accepted: Iterable[bytes]) -> bool:
    """Whether an Authorization header holds `Bearer <one of the accepted tokens>`, compared in constant
    time with every token (so the time taken tells nothing of which one came close)."""
    scheme, _, given = (header or b"").partition(b" ")
    if scheme.lower() != b"bearer":
        return False
    given = given.strip()
    matched = False
    for token in accepted:
        matched |= secrets.compare_digest(given, token)
    return matched


class BodyTooLargeError(Exception):
    """The request body passed the limit while it was being received."""


async def answer(send: Send, status: int, detail: str, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """A JSON answer `{"detail": ...}` with its status, sent straight from the middleware."""
    body = json.dumps({"detail": detail}).encode("utf-8")
    start = [(b"content-type", JSON.encode()), (b"content-length", str(len(body)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """Authentication, the JSON content type and the body size limit, checked before the app runs."""

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, accepted: tuple[bytes, ...], unguarded: frozenset[str]
    ) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes
        self.accepted, self.unguarded = accepted, unguarded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = {}
        for key, value in scope["headers"]:
            headers.setdefault(key.lower(), value)
        guarded = self.accepted and scope["path"] not in self.unguarded
        if guarded and not authorized(headers.get(b"authorization"), self.accepted):
            detail = f"send `Authorization: Bearer <token>` with one of the service's tokens ({TOKENS})"
            await answer(send, 401, detail, [(b"www-authenticate", b"Bearer")])
            return
        if scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        media = headers.get(b"content-type", b"").split(b";")[0].strip().lower().decode("latin-1")
        if media != JSON:
            await answer(send, 415, f"the body must be JSON: send `Content-Type: {JSON}` (not {media!r})")
            return
        length = headers.get(b"content-length")
        if length is not None and (not length.strip().isdigit() or int(length) > self.max_body_bytes):
            await answer(send, 413, self.too_large())
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                raise BodyTooLargeError
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLargeError:
            if started:
                raise
            await answer(send, 413, self.too_large())

    def too_large(self) -> str:
        return (
            f"the body is larger than {self.max_body_bytes} bytes, config/deploy.toml [service] "
            "max_body_bytes: send fewer rows per request"
        )


def readable(value: Any) -> Any:
    """A value a validation error echoes, as JSON can carry it: a non-finite number as text ("nan", "inf"),
    bytes decoded, long text cut."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, bytes | bytearray):
        value = bytes(value[:ECHOED]).decode("utf-8", "replace")
    if isinstance(value, str):
        return value if len(value) <= ECHOED else value[:ECHOED] + "..."
    if isinstance(value, dict):
        return {str(key): readable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [readable(item) for item in value]
    return value


def readable_errors(errors: Iterable[Any], body: bytes) -> list[dict[str, Any]]:
    """pydantic's errors of a request body, located below "body" and safe to answer as JSON; a body that is
    not UTF-8 is said to be so, with the position of its first bad byte."""
    located = []
    for error in errors:
        error = {**error, "loc": ("body", *error["loc"])}
        if error["type"] == "json_invalid":
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as undecodable:
                error["msg"] = (
                    f"the body is not UTF-8 (byte {undecodable.start} cannot be decoded): send JSON in UTF-8"
                )
        if "input" in error:
            error["input"] = readable(error["input"])
        if "ctx" in error:
            error["ctx"] = {
                key: readable(item if isinstance(item, int | float | str | bool | None) else str(item))
                for key, item in error["ctx"].items()
            }
        located.append(error)
    return located
