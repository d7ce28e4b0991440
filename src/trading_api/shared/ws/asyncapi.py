"""AsyncAPI 3.0 documents: one per module, and the merged one of the main app.

A module document has one channel per route (all at the address ``/ws``, since every
route shares the module's socket and the envelope ``type`` tells them apart) plus a
``_control`` channel for ``ping``/``pong``/``error``. Subscribe and unsubscribe are
``receive`` operations with a ``reply``; updates are ``send`` operations. Payload
schemas come from the pydantic models, with ``$ref``s into
``#/components/schemas``. Each route's channel carries its delivery class, as
prose in its description and as ``x-delivery`` (``{"class": "conflate-by-key",
"key": ["id"]}``, ``{"class": "conflate-by-topic"}`` or ``{"class": "lossless"}``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from trading_api.shared.errors import SpecConflictError
from trading_api.shared.ws.limits import CLOSE_CODES
from trading_api.shared.ws.messages import WsError, WsResponse
from trading_api.shared.ws.router import WsRouter

__all__ = ["build_asyncapi", "merge_asyncapi"]

ASYNCAPI_VERSION = "3.0.0"
DEFAULT_HOST = "127.0.0.1:8000"
WS_ADDRESS = "/ws"
CONTROL = "_control"
_SCHEMA_REF = "#/components/schemas/"
SECURITY_SCHEME = "bearerAuth"
BEARER_SCHEME: dict[str, Any] = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": (
        "A JWT presented when connecting: the `Authorization: Bearer <token>` "
        "header, or from a browser the subprotocols `bearer, <token>` "
        "(`new WebSocket(url, ['bearer', token])`; the server selects `bearer`). "
        "A missing, invalid or expired token closes the connection with 4401, "
        "and so does the token expiring while it is open. A page whose Origin is "
        "not on the CORS list is refused at the handshake (HTTP 403). A "
        "subscription naming another user's account, or one that does not "
        "exist, is answered `status: error`."
    ),
}

# (model, "validation" | "serialization") -> its "$ref" in #/components/schemas.
_Refs = dict[tuple[Any, str], str]


def build_asyncapi(
    routers: Sequence[WsRouter[Any, Any]],
    *,
    server: str,
    pathname: str,
    title: str,
    version: str,
    description: str = "",
    public_routes: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Build the AsyncAPI 3.0 document of one module's WebSocket app.

    Args:
        routers: the module's routes.
        server: the server's key (the module name).
        pathname: where the module is mounted, e.g. ``/api/v1/datafeed``.
        title: ``info.title``.
        version: ``info.version``.
        description: ``info.description``.
        public_routes: routes served without a token; the others' operations
            name the bearer scheme.
    """
    routes = sorted(routers, key=lambda router: router.route)
    schemas, refs = _schemas(routes)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for router in routes:
        _add_route(router, refs, channels, operations, messages)
    _add_control(refs, channels, operations, messages)
    bearer = [{"$ref": f"#/components/securitySchemes/{SECURITY_SCHEME}"}]
    for router in routes:
        if router.route not in public_routes:
            for key in ("subscribe", "unsubscribe", "update"):
                operations[f"{router.route}.{key}"]["security"] = bearer
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": title, "version": version, "description": description},
        "defaultContentType": "application/json",
        "servers": {
            server: {
                "host": DEFAULT_HOST,
                "protocol": "ws",
                "pathname": pathname,
                "description": "`trading dev` default; use your deployment's host.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": schemas,
            "securitySchemes": {SECURITY_SCHEME: BEARER_SCHEME},
        },
    }


def merge_asyncapi(
    documents: Mapping[str, dict[str, Any]], *, title: str, version: str
) -> dict[str, Any]:
    """Merge module documents into one, keyed by mount path (``/api/v1/broker``).

    Channels, operations, messages and servers are prefixed with the module name
    (``broker.orders``); schemas keep their names and are shared.

    Raises:
        SpecConflictError: two modules define different schemas under one name.
    """
    merged: dict[str, Any] = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": title, "version": version},
        "defaultContentType": "application/json",
        "servers": {},
        "channels": {},
        "operations": {},
        "components": {
            "messages": {},
            "schemas": {},
            "securitySchemes": {SECURITY_SCHEME: BEARER_SCHEME},
        },
    }
    owners: dict[str, str] = {}
    for mount_path, document in sorted(documents.items()):
        namespace = mount_path.rstrip("/").rsplit("/", 1)[-1]
        doc = _prefixed(document, namespace)
        for server in doc.get("servers", {}).values():
            merged["servers"][namespace] = {**server, "pathname": mount_path}
        for key, channel in doc.get("channels", {}).items():
            channel["servers"] = [{"$ref": f"#/servers/{namespace}"}]
            merged["channels"][f"{namespace}.{key}"] = channel
        for key, operation in doc.get("operations", {}).items():
            merged["operations"][f"{namespace}.{key}"] = operation
        components = doc.get("components", {})
        for key, message in components.get("messages", {}).items():
            merged["components"]["messages"][f"{namespace}.{key}"] = message
        for name, schema in components.get("schemas", {}).items():
            _add_schema(
                merged["components"]["schemas"], owners, name, schema, mount_path
            )
    return merged


def _add_schema(
    schemas: dict[str, Any],
    owners: dict[str, str],
    name: str,
    schema: Any,
    owner: str,
) -> None:
    if name in schemas and schemas[name] != schema:
        raise SpecConflictError(
            f"AsyncAPI schema {name!r} differs between {owners[name]} and {owner}; "
            "rename one of the models or share one definition from trading_api.models"
        )
    schemas.setdefault(name, schema)
    owners.setdefault(name, owner)


def _prefixed(document: dict[str, Any], namespace: str) -> dict[str, Any]:
    """A copy of ``document`` whose local refs point at the prefixed names."""
    prefixes = ("#/channels/", "#/operations/", "#/components/messages/")

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: _prefix_ref(value, prefixes, namespace)
                if key == "$ref" and isinstance(value, str)
                else rewrite(value)
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    return rewrite(copy.deepcopy(document))  # type: ignore[no-any-return]


def _prefix_ref(ref: str, prefixes: Sequence[str], namespace: str) -> str:
    for prefix in prefixes:
        if ref.startswith(prefix):
            return f"{prefix}{namespace}.{ref[len(prefix) :]}"
    if ref.startswith("#/servers/"):
        return f"#/servers/{namespace}"
    return ref


def _schemas(
    routers: Sequence[WsRouter[Any, Any]],
) -> tuple[dict[str, Any], _Refs]:
    """Component schemas of every model, and each model's ``$ref`` by mode.

    Requests are described as clients send them (validation mode), data as the
    server sends it (serialization mode); pydantic names the two apart
    (``-Input``/``-Output``) only where they differ.
    """
    keys: list[tuple[type[BaseModel], JsonSchemaMode]] = []
    for router in routers:
        keys += [
            (router.request_model, "validation"),
            (router.data_model, "serialization"),
        ]
    keys += [(WsResponse, "serialization"), (WsError, "serialization")]
    unique = list(dict.fromkeys(keys))
    mapping, top = models_json_schema(unique, ref_template=_SCHEMA_REF + "{model}")
    schemas = {name: _asyncapi_schema(s) for name, s in top.get("$defs", {}).items()}
    refs: _Refs = {key: str(ref["$ref"]) for key, ref in mapping.items()}
    return schemas, refs


def _asyncapi_schema(node: Any) -> Any:
    """Adapt pydantic's JSON Schema (2020-12) to the AsyncAPI Schema (draft 07)."""
    if isinstance(node, list):
        return [_asyncapi_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _asyncapi_schema(value) for key, value in node.items()}
    if isinstance(out.get("discriminator"), dict):
        # AsyncAPI's discriminator is the property name, not OpenAPI's object.
        out["discriminator"] = out["discriminator"]["propertyName"]
    if "prefixItems" in out:
        # Tuples: draft 07 spells prefixItems/items as items/additionalItems.
        rest = out.pop("items", None)
        out["items"] = out.pop("prefixItems")
        if rest is not None:
            out["additionalItems"] = rest
    return out


def _envelope(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", "payload"],
        "properties": {"type": {"type": "string", "const": kind}, "payload": payload},
    }


def _message(kind: str, summary: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": kind,
        "title": kind,
        "summary": summary,
        "contentType": "application/json",
        "payload": _envelope(kind, payload),
    }


def _route_messages(
    router: WsRouter[Any, Any], refs: _Refs
) -> dict[str, dict[str, Any]]:
    route = router.route
    request = {"$ref": refs[(router.request_model, "validation")]}
    response = {"$ref": refs[(WsResponse, "serialization")]}
    update = {
        "type": "object",
        "required": ["topic", "seq", "payload"],
        "properties": {
            "topic": {"type": "string", "description": "As in the subscribe response."},
            "seq": {"type": "integer", "minimum": 1, "description": "Per topic, +1."},
            "payload": {"$ref": refs[(router.data_model, "serialization")]},
        },
    }
    name = router.data_model.__name__
    return {
        f"{route}.subscribe": _message(
            f"{route}.subscribe", f"Subscribe to {route} updates.", request
        ),
        f"{route}.subscribe.response": _message(
            f"{route}.subscribe.response",
            "Outcome of a subscribe, with its topic.",
            response,
        ),
        f"{route}.unsubscribe": _message(
            f"{route}.unsubscribe", f"Stop {route} updates of a request.", request
        ),
        f"{route}.unsubscribe.response": _message(
            f"{route}.unsubscribe.response", "Outcome of an unsubscribe.", response
        ),
        f"{route}.update": _message(
            f"{route}.update", f"One {name} pushed to the topic's subscribers.", update
        ),
    }


def _add_route(
    router: WsRouter[Any, Any],
    refs: _Refs,
    channels: dict[str, Any],
    operations: dict[str, Any],
    messages: dict[str, Any],
) -> None:
    route = router.route
    route_messages = _route_messages(router, refs)
    messages.update(route_messages)
    delivery = router.delivery
    channels[route] = {
        "address": WS_ADDRESS,
        "title": route,
        "description": (
            f"Route {route!r}: subscribe with {router.request_model.__name__}, "
            f"receive {router.data_model.__name__} updates.\n\n"
            + delivery.describe(router.data_model)
        ),
        "messages": {
            key: {"$ref": f"#/components/messages/{key}"} for key in route_messages
        },
        "x-delivery": delivery.asyncapi(router.data_model),
    }
    for action in ("subscribe", "unsubscribe"):
        operations[f"{route}.{action}"] = _operation(
            "receive", route, f"{route}.{action}", reply=f"{route}.{action}.response"
        )
    operations[f"{route}.update"] = _operation("send", route, f"{route}.update")


def _add_control(
    refs: _Refs,
    channels: dict[str, Any],
    operations: dict[str, Any],
    messages: dict[str, Any],
) -> None:
    free_object = {"type": "object", "description": "Any object; pong echoes it."}
    control = {
        "ping": _message(
            "ping", "Check the connection; answered by pong.", free_object
        ),
        "pong": _message("pong", "Answer to ping, echoing its payload.", free_object),
        "error": _message(
            "error",
            "A message could not be handled; the connection stays open.",
            {"$ref": refs[(WsError, "serialization")]},
        ),
    }
    messages.update(control)
    channels[CONTROL] = {
        "address": WS_ADDRESS,
        "title": "control",
        "description": "Connection-level messages shared by every route.\n\n"
        + _close_codes_table(),
        "messages": {key: {"$ref": f"#/components/messages/{key}"} for key in control},
        "x-close-codes": [
            {"code": code, "when": when, "then": then}
            for code, (when, then) in sorted(CLOSE_CODES.items())
        ],
    }
    operations["ping"] = _operation("receive", CONTROL, "ping", reply="pong")
    operations["error"] = _operation("send", CONTROL, "error")


def _close_codes_table() -> str:
    rows = [
        f"| {code} | {when} | {then} |"
        for code, (when, then) in sorted(CLOSE_CODES.items())
    ]
    head = "The server closes a connection with these codes:\n\n"
    return head + "\n".join(["| code | when | what to do |", "|---|---|---|", *rows])


def _operation(
    action: str, channel: str, message: str, *, reply: str | None = None
) -> dict[str, Any]:
    ref = f"#/channels/{channel}"
    operation: dict[str, Any] = {
        "action": action,
        "channel": {"$ref": ref},
        "messages": [{"$ref": f"{ref}/messages/{message}"}],
    }
    if reply is not None:
        operation["reply"] = {
            "channel": {"$ref": ref},
            "messages": [{"$ref": f"{ref}/messages/{reply}"}],
        }
    return operation
