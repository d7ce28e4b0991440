"""Comparing two versions of an operation or schema, rule by rule.

Schemas are compared through their ``$ref``s, in the direction data flows: what
clients send (request bodies, parameters, WS subscribe messages) must keep
accepting what it accepted; what the server sends (responses, WS updates) must
not surprise existing clients.
"""

import json
from dataclasses import dataclass
from typing import Any

BREAKING_RULES = {
    "removed-path": "a REST path and all its operations are gone",
    "removed-operation": "a method of a REST path is gone",
    "removed-success-response": "a 2xx response of an operation is gone",
    "removed-response-property": "a property the server returned is gone",
    "added-required-request-property": "a request body needs a new property",
    "added-required-parameter": "an operation needs a new parameter",
    "optional-to-required": "a parameter or request property became required",
    "type-changed": "a value's type no longer matches what clients use",
    "request-enum-narrowed": "a request value lost an accepted choice",
    "response-enum-widened": "a response value may take a choice clients never saw",
    "removed-ws-route": "a WebSocket route is gone",
    "removed-message-field": "a field of a WebSocket message is gone",
    "retyped-message-field": "a field of a WebSocket message changed type",
}
COMPATIBLE_RULES = {
    "added-path": "a new REST path",
    "added-operation": "a new method on a REST path",
    "added-response": "a new response status",
    "added-optional-parameter": "an operation accepts a new optional parameter",
    "removed-parameter": "an operation ignores a parameter it accepted",
    "added-request-property": "a request body accepts a new optional property",
    "removed-request-property": "a request body ignores a property it accepted",
    "added-response-property": "the server returns a new property",
    "added-message-field": "a WebSocket message has a new field",
    "request-enum-widened": "a request value accepts new choices",
    "response-enum-narrowed": "a response value takes fewer choices",
    "added-ws-route": "a new WebSocket route",
    "compatible-type-change": "a type changed in a way existing clients handle",
}
REQUEST, RESPONSE = "request", "response"
_WS_NAMES = {
    "removed-response-property": "removed-message-field",
    "removed-request-property": "removed-message-field",
    "type-changed": "retyped-message-field",
    "added-response-property": "added-message-field",
    "added-request-property": "added-message-field",
}


@dataclass(frozen=True)
class SpecChange:
    """One API change.

    Attributes:
        rule: The rule that classifies it (a key of BREAKING_RULES or
            COMPATIBLE_RULES).
        path: Where: ``/api/v1/x`` (a path), ``GET /api/v1/x`` (an operation) or
            ``WS broker.orders`` (a WebSocket route: module and route).
        detail: What exactly changed, e.g. ``response 200 body.items[].qty``.
    """

    rule: str
    path: str
    detail: str

    @property
    def breaking(self) -> bool:
        """Whether existing clients may break."""
        return self.rule in BREAKING_RULES


class Comparison:
    """Compares one operation (or WS channel) of two documents.

    Attributes:
        changes: What changed, in the order found.
    """

    def __init__(
        self, old: dict[str, Any], new: dict[str, Any], where: str, *, ws: bool = False
    ) -> None:
        self.old, self.new, self.where, self.ws = old, new, where, ws
        self.changes: list[SpecChange] = []
        self._active: set[tuple[int, int, str]] = set()

    def add(self, rule: str, detail: str) -> None:
        if self.ws:
            rule = _WS_NAMES.get(rule, rule)
        change = SpecChange(rule, self.where, detail)
        if change not in self.changes:
            self.changes.append(change)

    def old_resolve(self, node: Any) -> dict[str, Any]:
        return _resolve(self.old, node)

    def new_resolve(self, node: Any) -> dict[str, Any]:
        return _resolve(self.new, node)

    def operation(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.parameters(old.get("parameters", []), new.get("parameters", []))
        self.request_body(old.get("requestBody"), new.get("requestBody"))
        self.responses(old.get("responses", {}), new.get("responses", {}))

    def parameters(self, old: list[Any], new: list[Any]) -> None:
        olds = {_param_key(p): p for p in map(self.old_resolve, old)}
        news = {_param_key(p): p for p in map(self.new_resolve, new)}
        for key in sorted(olds.keys() | news.keys()):
            label = f"{key[0]} parameter {key[1]}"
            if key not in news:
                self.add("removed-parameter", label)
            elif key not in olds:
                required = news[key].get("required", False)
                rule = (
                    "added-required-parameter"
                    if required
                    else "added-optional-parameter"
                )
                self.add(rule, label)
            else:
                if news[key].get("required") and not olds[key].get("required"):
                    self.add("optional-to-required", label)
                self.schema(
                    olds[key].get("schema", {}),
                    news[key].get("schema", {}),
                    REQUEST,
                    label,
                )

    def request_body(self, old: Any, new: Any) -> None:
        if new is None:
            return
        new = self.new_resolve(new)
        if old is None:
            if new.get("required"):
                self.add("added-required-request-property", "body")
            return
        old = self.old_resolve(old)
        if new.get("required") and not old.get("required"):
            self.add("optional-to-required", "body")
        self.content(old.get("content", {}), new.get("content", {}), REQUEST, "body")

    def responses(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        for status in sorted(old.keys() | new.keys()):
            label = f"response {status}"
            if status not in new:
                if status.startswith("2"):
                    self.add("removed-success-response", label)
            elif status not in old:
                self.add("added-response", label)
            else:
                old_response = self.old_resolve(old[status])
                new_response = self.new_resolve(new[status])
                self.content(
                    old_response.get("content", {}),
                    new_response.get("content", {}),
                    RESPONSE,
                    f"{label} body",
                )

    def content(
        self, old: dict[str, Any], new: dict[str, Any], direction: str, label: str
    ) -> None:
        for media in sorted(old.keys() & new.keys()):
            self.schema(
                old[media].get("schema", {}),
                new[media].get("schema", {}),
                direction,
                label,
            )

    def schema(self, old: Any, new: Any, direction: str, label: str) -> None:
        """Compare two schemas (through $refs), reporting under ``label``."""
        old, new = self.old_resolve(old), self.new_resolve(new)
        key = (id(old), id(new), direction)
        if key in self._active:  # a recursive model: compared further up already
            return
        self._active.add(key)
        try:
            self._enum(old, new, direction, label)
            self._type(old, new, direction, label)
            for old_branch, new_branch in _pairs(self, old, new, "object"):
                self._object(old_branch, new_branch, direction, label)
            for old_branch, new_branch in _pairs(self, old, new, "array"):
                old_items = old_branch.get("items", {})
                new_items = new_branch.get("items", {})
                self.schema(old_items, new_items, direction, f"{label}[]")
        finally:
            self._active.discard(key)

    def _enum(
        self, old: dict[str, Any], new: dict[str, Any], direction: str, label: str
    ) -> None:
        old_values = _enum_values(self.old, old)
        new_values = _enum_values(self.new, new)
        if old_values == new_values:
            return
        if direction == REQUEST:
            lost = _missing(old_values, new_values)
            if lost:
                self.add("request-enum-narrowed", f"{label}: no longer accepts {lost}")
            else:
                self.add("request-enum-widened", label)
        else:
            gained = _missing(new_values, old_values)
            if gained:
                self.add("response-enum-widened", f"{label}: may now be {gained}")
            else:
                self.add("response-enum-narrowed", label)

    def _type(
        self, old: dict[str, Any], new: dict[str, Any], direction: str, label: str
    ) -> None:
        old_types = _types(self.old, old, depth=0)
        new_types = _types(self.new, new, depth=0)
        if old_types is None or new_types is None:
            return
        # Requests must still accept every old type; responses send only old ones.
        if direction == REQUEST:
            before, after = old_types, new_types
        else:
            before, after = new_types, old_types
        if old_types == new_types:
            return
        shown = f"{'|'.join(sorted(old_types))} -> {'|'.join(sorted(new_types))}"
        if all(_accepts(after, kind) for kind in before):
            self.add("compatible-type-change", f"{label}: {shown}")
        else:
            self.add("type-changed", f"{label}: {shown}")

    def _object(
        self, old: dict[str, Any], new: dict[str, Any], direction: str, label: str
    ) -> None:
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_required = set(old.get("required", []))
        new_required = set(new.get("required", []))
        for name in sorted(old_props.keys() | new_props.keys()):
            where = f"{label}.{name}"
            if name not in new_props:
                gone = (
                    "removed-request-property"
                    if direction == REQUEST
                    else ("removed-response-property")
                )
                self.add(gone, where)
            elif name not in old_props:
                if direction == RESPONSE:
                    self.add("added-response-property", where)
                elif name in new_required:
                    self.add("added-required-request-property", where)
                else:
                    self.add("added-request-property", where)
            else:
                if direction == REQUEST and name in new_required - old_required:
                    self.add("optional-to-required", where)
                self.schema(old_props[name], new_props[name], direction, where)


def _pairs(
    pair: Comparison, old: dict[str, Any], new: dict[str, Any], kind: str
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Matching object (or array) branches of two schemas, unions included.

    Branches pair up by title (pydantic titles every model); a lone branch of
    each side pairs up whatever its title.
    """
    olds = [b for b in _branches(pair.old, old) if _is(b, kind)]
    news = [b for b in _branches(pair.new, new) if _is(b, kind)]
    if len(olds) == 1 and len(news) == 1:
        return [(olds[0], news[0])]
    by_title = {b.get("title"): b for b in news if b.get("title")}
    return [(b, by_title[b["title"]]) for b in olds if b.get("title") in by_title]


def _branches(document: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return [
                branch
                for item in schema[key]
                for branch in _branches(document, _resolve(document, item))
            ]
    return [schema]


def _is(schema: dict[str, Any], kind: str) -> bool:
    if kind == "object":
        return "properties" in schema or schema.get("type") == "object"
    return schema.get("type") == "array" or "items" in schema


def _types(
    document: dict[str, Any], schema: dict[str, Any], depth: int
) -> set[str] | None:
    if depth > 20:
        return None
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return set(declared)
    if "const" in schema:
        return {_json_type(schema["const"])}
    if "enum" in schema:
        return {_json_type(value) for value in schema["enum"]}
    for key in ("anyOf", "oneOf"):
        if key in schema:
            found: set[str] = set()
            for item in schema[key]:
                kinds = _types(document, _resolve(document, item), depth + 1)
                if kinds is None:
                    return None
                found |= kinds
            return found
    if "properties" in schema:
        return {"object"}
    return None


def _accepts(types: set[str], kind: str) -> bool:
    return kind in types or (kind == "integer" and "number" in types)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _enum_values(
    document: dict[str, Any], schema: dict[str, Any]
) -> frozenset[str] | None:
    """The values an enum (or const, or union of them) allows; None for any.

    ``null`` is left out: nullability is the type rule's business.
    """
    if "const" in schema:
        return frozenset({json.dumps(schema["const"])} - {"null"})
    if "enum" in schema:
        return frozenset(json.dumps(value) for value in schema["enum"]) - {"null"}
    branches = _branches(document, schema)
    if len(branches) < 2:
        return None
    values: set[str] = set()
    for branch in branches:
        if branch.get("type") == "null":
            continue
        found = _enum_values(document, branch)
        if found is None:
            return None
        values |= found
    return frozenset(values)


def _missing(before: frozenset[str] | None, after: frozenset[str] | None) -> str:
    """The values of ``before`` that ``after`` lacks, listed; "" if none.

    None means "any value": an enum that appears narrows "any" to its values.
    """
    if after is None or before == after:
        return ""
    if before is None:
        return "values outside " + ", ".join(sorted(after))
    return ", ".join(sorted(before - after))


def _param_key(parameter: dict[str, Any]) -> tuple[str, str]:
    return (str(parameter.get("in", "")), str(parameter.get("name", "")))


def _resolve(document: dict[str, Any], node: Any) -> dict[str, Any]:
    """Follow ``$ref``s (and a lone ``allOf``) to the schema they point at."""
    for _ in range(32):
        if not isinstance(node, dict):
            return {}
        if "$ref" in node and isinstance(node["$ref"], str):
            node = _pointer(document, node["$ref"])
        elif list(node) == ["allOf"] and len(node["allOf"]) == 1:
            node = node["allOf"][0]
        else:
            return node
    return {}


def _pointer(document: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        return {}
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return {}
        node = node[part]
    return node
