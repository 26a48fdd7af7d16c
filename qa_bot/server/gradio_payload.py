"""What a JSON call to Gradio's API (``/gradio_api/…``) may hold, decided here and nowhere else.

The chat and the Documents tab take text, numbers, chat messages made of text, and handles of
files uploaded through ``/gradio_api/upload``. Everything else Gradio would accept is refused
before Gradio sees it: component messages (Gradio builds the named component from the caller's
``constructor_args``, and copies and hashes any file an argument such as ``icon`` names), file
parts in messages, file handles outside Gradio's upload folder, links, unknown keys. A body that
cannot be parsed (not JSON, nested too deep) is refused the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gradio.utils import get_upload_folder

MAX_DEPTH = 16
"""Deepest nesting a real call reaches is 6 (envelope, data, history, message, content, part)."""
ENVELOPE = {
    "data",
    "event_data",
    "fn_index",
    "trigger_id",
    "session_hash",
    "event_id",
    "batched",
    "simple_format",
}
"""The keys of Gradio's request bodies (``PredictBody``, ``CancelBody``, ``/reset``)."""
MESSAGE = {"role", "content", "metadata", "options"}
ROLES = {"user", "assistant", "system"}
TEXT = {"type", "text"}
FILE = {"path", "url", "size", "orig_name", "mime_type", "is_stream", "meta"}
RECORD = {
    "title",
    "id",
    "parent_id",
    "duration",
    "status",
    "log",
    "label",
    "value",
    "index",
    "liked",
    "selected",
    "text",
}
"""Small records the chat sends: a message's metadata and options, like and select events, an
example clicked (its text; an example's ``files`` or ``icon`` are refused)."""
Scalar = str | int | float | bool | None


class PayloadRefused(ValueError):
    """A Gradio call that holds something qa-bot's pages never send; the message says what."""


def check_gradio_body(body: bytes) -> dict[str, Any]:
    """Refuse (``PayloadRefused``) a Gradio API body that is not JSON or holds anything but
    what the allow-list above admits; an empty body passes (nothing for Gradio to read).
    Returns the call's envelope (empty for an empty body)."""
    if not body.strip():
        return {}
    try:
        envelope = json.loads(body)
    except (ValueError, RecursionError) as err:  # RecursionError: nested past Python's limit
        raise PayloadRefused("the body is not JSON") from err
    if not isinstance(envelope, dict) or not envelope.keys() <= ENVELOPE:
        raise PayloadRefused("the body is not a Gradio call")
    for key, value in envelope.items():
        if key == "data" and isinstance(value, dict):  # /call/v2: parameters by name
            _values(value.values(), 2)
        else:
            _value(value, 1)
    return envelope


def _values(items: Any, depth: int) -> None:
    for item in items:
        _value(item, depth)


def _value(item: Any, depth: int) -> None:
    """Admit a scalar, a list of admitted values, a chat message, a text part, a file handle
    inside the upload folder or a small record; refuse anything else."""
    if depth > MAX_DEPTH:
        raise PayloadRefused("the request is nested too deeply")
    if isinstance(item, Scalar):
        return
    if isinstance(item, list):
        _values(item, depth + 1)
    elif isinstance(item, dict):
        _shape(item, depth + 1)
    else:  # pragma: no cover - json.loads makes nothing else
        raise PayloadRefused("the request holds an unknown value")


def _shape(item: dict[str, Any], depth: int) -> None:
    keys = item.keys()
    if "role" in keys and keys <= MESSAGE:
        _message(item, depth)
    elif item.get("type") == "text" and keys <= TEXT:
        if not isinstance(item.get("text"), str):
            raise PayloadRefused("a text part holds no text")
    elif keys <= FILE and ("path" in keys or "url" in keys or "meta" in keys):
        _file(item)
    elif keys <= RECORD:
        _values(item.values(), depth)
    else:
        raise PayloadRefused(
            "the request holds a component, a file part or keys qa-bot's pages never send"
        )


def _message(item: dict[str, Any], depth: int) -> None:
    """A chat message: a role, text content (a string or text parts), metadata, options."""
    if item["role"] not in ROLES:
        raise PayloadRefused("a message has an unknown role")
    content = item.get("content")
    parts = content if isinstance(content, list) else [content]
    for part in parts:
        is_text = isinstance(part, dict) and part.get("type") == "text" and part.keys() <= TEXT
        if not (isinstance(part, str) or is_text):
            raise PayloadRefused("a message holds something other than text")
        _value(part, depth + 1)
    _value(item.get("metadata"), depth)
    _value(item.get("options"), depth)


def _file(item: dict[str, Any]) -> None:
    """A handle of a file uploaded through ``/gradio_api/upload``: in Gradio's upload folder,
    not a link; a handle by URL alone is refused (Gradio would fetch it)."""
    path = item.get("path")
    if not isinstance(path, str) or not path:
        raise PayloadRefused("a file in this request was not uploaded through qa-bot")
    meta = item.get("meta")
    if meta is not None and meta != {"_type": "gradio.FileData"}:
        raise PayloadRefused("a file handle has unknown metadata")
    if not _uploaded(Path(path)):
        raise PayloadRefused("a file in this request was not uploaded through qa-bot")
    if not all(isinstance(item.get(k), Scalar) for k in FILE - {"meta"}):
        raise PayloadRefused("a file handle holds more than a file")


def _uploaded(path: Path) -> bool:
    """True for a file in Gradio's upload folder that is not a link."""
    folder = Path(get_upload_folder()).resolve()
    try:
        return not path.is_symlink() and path.resolve().is_relative_to(folder)
    except (OSError, ValueError):  # a NUL byte, a loop
        return False
