"""The embedded chat adapter: prints messages in the terminal and saves them.

Each message is written as JSON under ``$SRE_COPILOT_HOME/messages/`` (one file
per incident, overwritten by updates, exactly as Slack keeps one message in
place) and shown with rich, laid out the way Slack would lay out its blocks.
A file posted with a message (``post_file``) is saved beside it, as
``<message>__<filename>``, and listed in the message's ``files``.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.markdown import Markdown
from rich.panel import Panel
from rich.rule import Rule
from rich.text import Text

from shared.ports.chat import ChatMessage, PostedMessage

_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def _mrkdwn(text: str) -> Markdown:
    """Slack mrkdwn is close enough to Markdown for a terminal: *bold* -> **bold**."""
    bold = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"**\1**", text)
    return Markdown(bold.replace("\n", "  \n"))  # Slack breaks lines where Markdown would not


def render_blocks(blocks: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> Group:
    """A rich renderable of Block Kit blocks (header, section, context, divider, actions)."""
    parts: list[Any] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            parts.append(Text(block["text"]["text"], style="bold"))
        elif kind == "section":
            if "text" in block:
                parts.append(_mrkdwn(block["text"]["text"]))
            for field in block.get("fields", []):
                parts.append(_mrkdwn(field["text"]))
        elif kind == "context":
            texts = [e.get("text", "") for e in block.get("elements", [])]
            parts.append(Text(" · ".join(texts), style="dim"))
        elif kind == "divider":
            parts.append(Rule(style="dim"))
        elif kind == "actions":
            labels = [f"[ {e['text']['text']} ]" for e in block.get("elements", []) if "text" in e]
            parts.append(Text("  ".join(labels), style="cyan"))
    return Group(*parts)


class TerminalChat:
    """Shows and saves messages; needs no token."""

    def __init__(
        self, messages_dir: Path, *, console: Console | None = None, echo: bool = True
    ) -> None:
        self._dir = messages_dir
        # stderr: the messages are shown beside a command's output, never in it
        # (a `--json` result on stdout stays one JSON document).
        self._console = console or Console(highlight=False, stderr=True)
        self._echo = echo
        self._lock = threading.Lock()

    def post(self, message: ChatMessage, *, channel: str | None) -> PostedMessage:
        return self._write(message, channel or "terminal")

    def update(self, message: ChatMessage, *, posted: PostedMessage) -> PostedMessage:
        return self._write(message, posted.channel)

    def reply_in_thread(
        self, posted: PostedMessage, text: str, blocks: Sequence[dict[str, Any]] = ()
    ) -> PostedMessage:
        """Append to the message file's ``thread`` and show it under the message."""
        path = Path(posted.location) if posted.location else None
        if path is not None and path.is_file():
            with self._lock:
                payload = json.loads(path.read_text(encoding="utf-8"))
                payload.setdefault("thread", []).append({"text": text, "blocks": list(blocks)})
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
                tmp.replace(path)
        if self._echo:
            with self._lock:
                self._console.print(Text(f"  ↳ {posted.ts}: {text}", style="dim"))
        return posted

    def post_file(
        self,
        message: ChatMessage,
        *,
        channel: str | None,
        filename: str,
        content: bytes,
        title: str,
    ) -> PostedMessage:
        """Save the message, then the file beside it, and print where the file is."""
        posted = self._write(message, channel or "terminal")
        saved = self._path(message)
        path = saved.with_name(f"{saved.stem}__{_SAFE.sub('_', filename)}")
        with self._lock:
            _write_atomically(path, content)
            payload = json.loads(saved.read_text(encoding="utf-8"))
            files = [f for f in payload.get("files", []) if f.get("path") != str(path)]
            files.append({"filename": filename, "title": title, "path": str(path)})
            payload["files"] = files
            _write_atomically(saved, json.dumps(payload, indent=2, ensure_ascii=False).encode())
        if self._echo:
            with self._lock:
                self._console.print(Text(f"  ↳ {title}: {path}", style="dim"))
        return posted.model_copy(update={"file": str(path)})

    def _path(self, message: ChatMessage) -> Path:
        return self._dir / (_SAFE.sub("_", f"{message.tenant_id}__{message.incident_id}") + ".json")

    def _write(self, message: ChatMessage, channel: str) -> PostedMessage:
        self._dir.mkdir(parents=True, exist_ok=True)
        path = self._path(message)
        kept: dict[str, Any] = {}
        if path.is_file():  # an update keeps the thread and files of the message it replaces
            with contextlib.suppress(ValueError, OSError):
                kept = json.loads(path.read_text(encoding="utf-8"))
        payload = {
            "channel": channel,
            "text": message.text,
            "blocks": list(message.blocks),
            "thread": kept.get("thread", []),
        }
        if kept.get("files"):
            payload["files"] = kept["files"]
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)
        if self._echo:
            title = f"{message.kind}: {message.incident_id} → #{channel}"
            body = render_blocks(message.blocks) if message.blocks else Text(message.text)
            with self._lock:
                self._console.print(Panel(body, title=title, title_align="left", expand=False))
        return PostedMessage(channel=channel, ts=message.incident_id, location=str(path))


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
