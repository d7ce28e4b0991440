"""Breaking-change report: the specs the code makes now against those at a git ref.

Each change is classified by a named rule (see :mod:`schema_diff`). The merged
OpenAPI and AsyncAPI documents are walked path by path and channel by channel;
the documents at the ref are read with ``git show``.
"""

import json
import subprocess
from typing import Any

from trading_cli.build.schema_diff import REQUEST, RESPONSE, Comparison, SpecChange
from trading_cli.errors import CliError, UsageError
from trading_cli.project import Project

MERGED_OPENAPI = "src/trading_api/specs_generated/openapi.json"
MERGED_ASYNCAPI = "src/trading_api/specs_generated/asyncapi.json"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
CONTROL = "._control"

__all__ = [
    "SpecChange",
    "committed_document",
    "compare_asyncapi",
    "compare_openapi",
    "diff_specs",
]


def diff_specs(project: Project, base: str) -> list[SpecChange]:
    """The changes from the merged specs committed at ``base`` to the current code.

    Raises:
        UsageError: ``base`` is not a commit of the project's repository.
        CliError: the project is not a git checkout.
    """
    from trading_cli.build.specs import render_documents

    old_openapi = committed_document(project, base, MERGED_OPENAPI)
    old_asyncapi = committed_document(project, base, MERGED_ASYNCAPI)
    current = render_documents(project)
    return compare_openapi(old_openapi, current.merged_openapi) + compare_asyncapi(
        old_asyncapi, current.merged_asyncapi
    )


def committed_document(project: Project, ref: str, path: str) -> dict[str, Any]:
    """The JSON document at ``path`` in commit ``ref``; empty if it did not exist."""
    _verify_ref(project, ref)
    shown = _git(project, "show", f"{ref}:./{path}", check=False)
    if shown.returncode != 0:
        return {}
    document: dict[str, Any] = json.loads(shown.stdout)
    return document


def compare_openapi(old: dict[str, Any], new: dict[str, Any]) -> list[SpecChange]:
    """Every change between two OpenAPI documents, sorted by path then rule."""
    changes: list[SpecChange] = []
    old_paths, new_paths = old.get("paths", {}), new.get("paths", {})
    for path in sorted(old_paths.keys() | new_paths.keys()):
        if path not in new_paths:
            changes.append(SpecChange("removed-path", path, "every method removed"))
        elif path not in old_paths:
            changes.append(SpecChange("added-path", path, _methods(new_paths[path])))
        else:
            changes += _compare_path(old, new, path)
    return changes


def compare_asyncapi(old: dict[str, Any], new: dict[str, Any]) -> list[SpecChange]:
    """Every change between two merged AsyncAPI documents."""
    changes: list[SpecChange] = []
    old_channels, new_channels = old.get("channels", {}), new.get("channels", {})
    for key in sorted(old_channels.keys() | new_channels.keys()):
        where = f"WS {key}"
        if key.endswith(CONTROL) and not (key in old_channels and key in new_channels):
            continue  # ping/pong/error come and go with a module's first route
        if key not in new_channels:
            changes.append(SpecChange("removed-ws-route", where, "route removed"))
        elif key not in old_channels:
            changes.append(SpecChange("added-ws-route", where, "route added"))
        else:
            changes += _compare_channel(old, new, key)
    return changes


def _compare_path(
    old: dict[str, Any], new: dict[str, Any], path: str
) -> list[SpecChange]:
    changes: list[SpecChange] = []
    old_item, new_item = old["paths"][path], new["paths"][path]
    for method in HTTP_METHODS:
        where = f"{method.upper()} {path}"
        if method in old_item and method not in new_item:
            changes.append(SpecChange("removed-operation", where, "operation removed"))
        elif method in new_item and method not in old_item:
            changes.append(SpecChange("added-operation", where, "operation added"))
        elif method in old_item:
            pair = Comparison(old, new, where)
            pair.operation(old_item[method], new_item[method])
            changes += pair.changes
    return changes


def _compare_channel(
    old: dict[str, Any], new: dict[str, Any], key: str
) -> list[SpecChange]:
    pair = Comparison(old, new, f"WS {key}", ws=True)
    old_messages = old["channels"][key].get("messages", {})
    new_messages = new["channels"][key].get("messages", {})
    directions = _message_directions(new, key)
    for name in sorted(old_messages.keys() & new_messages.keys()):
        old_message = pair.old_resolve(old_messages[name])
        new_message = pair.new_resolve(new_messages[name])
        pair.schema(
            old_message.get("payload", {}),
            new_message.get("payload", {}),
            directions.get(name, RESPONSE),
            name,
        )
    return pair.changes


def _message_directions(document: dict[str, Any], channel: str) -> dict[str, str]:
    """Each message of a channel: sent by clients (request) or the server."""
    ref = f"#/channels/{channel}"
    directions: dict[str, str] = {}
    for operation in document.get("operations", {}).values():
        if operation.get("channel", {}).get("$ref") != ref:
            continue
        # A "receive" operation is the server receiving what clients send.
        sent = REQUEST if operation.get("action") == "receive" else RESPONSE
        replied = RESPONSE if sent == REQUEST else REQUEST
        for message in operation.get("messages", []):
            directions[message["$ref"].rsplit("/", 1)[-1]] = sent
        for message in operation.get("reply", {}).get("messages", []):
            directions[message["$ref"].rsplit("/", 1)[-1]] = replied
    return directions


def _methods(item: dict[str, Any]) -> str:
    return ", ".join(m.upper() for m in HTTP_METHODS if m in item) + " added"


def _verify_ref(project: Project, ref: str) -> None:
    if _git(project, "rev-parse", "--git-dir", check=False).returncode != 0:
        raise CliError(
            f"{project.root} is not a git checkout; `trading specs diff` compares "
            "with the specs committed in git"
        )
    found = _git(
        project, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False
    )
    if found.returncode != 0:
        raise UsageError(
            f"--base {ref!r} is not a commit of this repository; "
            "give a branch, tag or commit (default HEAD)"
        )


def _git(project: Project, *args: str, check: bool) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args],
        cwd=project.root,
        capture_output=True,
        text=True,
        check=check,
    )
