"""A readable HTML page of an AsyncAPI document, rendered on the server.

No JavaScript and no CDN assets, so the page works offline and behind any proxy:
operations grouped by channel, each message's envelope and payload schema, and the
component schemas they refer to.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem;
       padding: 0 1rem; color: #1b1f24; line-height: 1.45; }
h1 { margin-bottom: .2rem; } h2 { border-bottom: 1px solid #d0d7de; margin-top: 2rem; }
code, pre { font-family: ui-monospace, monospace; font-size: .85rem; }
pre { background: #f6f8fa; padding: .6rem; overflow-x: auto; border-radius: 6px; }
table { border-collapse: collapse; width: 100%; }
td, th { border: 1px solid #d0d7de; padding: .3rem .5rem; text-align: left;
         vertical-align: top; }
.send { color: #1a7f37; } .receive { color: #0550ae; } .muted { color: #57606a; }
"""


def render_asyncapi_html(document: dict[str, Any]) -> str:
    """Render ``document`` (AsyncAPI 3.0) as a standalone HTML page."""
    info = document.get("info", {})
    title = escape(str(info.get("title", "AsyncAPI")))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{title}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{title}</h1>",
        f'<p class="muted">AsyncAPI {escape(str(document.get("asyncapi", "")))}'
        f" &middot; version {escape(str(info.get('version', '')))}</p>",
    ]
    if info.get("description"):
        parts.append(f"<p>{escape(str(info['description']))}</p>")
    parts += _servers(document)
    parts.append(_envelope_note())
    for key, channel in document.get("channels", {}).items():
        parts += _channel(document, key, channel)
    parts.append("<h2>Schemas</h2>")
    for name, schema in sorted(
        document.get("components", {}).get("schemas", {}).items()
    ):
        parts.append(f'<h3 id="schema-{escape(name)}"><code>{escape(name)}</code></h3>')
        parts.append(_pre(schema))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _servers(document: dict[str, Any]) -> list[str]:
    rows = [
        f"<li><code>{escape(server.get('protocol', 'ws'))}://"
        f"{escape(server.get('host', ''))}{escape(server.get('pathname', ''))}</code>"
        f" ({escape(key)})</li>"
        for key, server in document.get("servers", {}).items()
    ]
    return ["<h2>Servers</h2>", "<ul>", *rows, "</ul>"] if rows else []


def _envelope_note() -> str:
    return (
        "<p>Every message is a JSON text frame "
        '<code>{"type": "&lt;op&gt;", "payload": {...}}</code>. '
        "Channels share one socket; the <code>type</code> tells them apart.</p>"
    )


def _channel(document: dict[str, Any], key: str, channel: dict[str, Any]) -> list[str]:
    parts = [
        f'<h2 id="channel-{escape(key)}">{escape(str(channel.get("title", key)))}</h2>',
        f"<p>{escape(str(channel.get('description', '')))}"
        f' <span class="muted">address <code>{escape(str(channel.get("address")))}'
        "</code></span></p>",
        "<table><tr><th>direction</th><th>type</th><th>summary</th></tr>",
    ]
    operations = [
        op
        for op in document.get("operations", {}).values()
        if op.get("channel", {}).get("$ref") == f"#/channels/{key}"
    ]
    for op in operations:
        for ref in op.get("messages", []):
            parts.append(_message_row(document, op["action"], ref["$ref"]))
        for ref in op.get("reply", {}).get("messages", []):
            parts.append(_message_row(document, "send", ref["$ref"]))
    parts.append("</table>")
    for ref in channel.get("messages", {}).values():
        message = _resolve(document, ref["$ref"])
        parts.append(f"<h4><code>{escape(str(message.get('name', '')))}</code></h4>")
        parts.append(_pre(message.get("payload", {})))
    return parts


def _message_row(document: dict[str, Any], action: str, ref: str) -> str:
    message = _resolve(document, ref)
    # Operations are written from the server's side: it receives what clients send.
    direction = (
        "client &rarr; server" if action == "receive" else "server &rarr; client"
    )
    return (
        f'<tr><td class="{escape(action)}">{direction}</td>'
        f"<td><code>{escape(str(message.get('name', '')))}</code></td>"
        f"<td>{escape(str(message.get('summary', '')))}</td></tr>"
    )


def _resolve(document: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
        if isinstance(node, dict) and "$ref" in node and len(node) == 1:
            node = _resolve(document, node["$ref"])
    return node if isinstance(node, dict) else {}


def _pre(schema: Any) -> str:
    return f"<pre>{escape(json.dumps(schema, indent=2, ensure_ascii=False))}</pre>"
