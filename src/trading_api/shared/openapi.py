"""Merging per-module OpenAPI documents into the one served at ``/api/v1``."""

from collections.abc import Mapping
from typing import Any

from trading_api.shared.errors import SpecConflictError

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
INFO_CONTACT = {"name": "Trading workbench maintainers"}
"""``info.contact`` of every document (Spectral's ``info-contact``)."""
INFO_LICENSE = {"name": "MIT", "identifier": "MIT"}
"""``info.license`` of every document: the project's license (SPDX)."""


def merge_openapi(
    documents: Mapping[str, dict[str, Any]], *, title: str, version: str
) -> dict[str, Any]:
    """Merge module documents keyed by mount path (``/api/v1/broker``).

    Every path gets its mount path as prefix; components are shared, and two modules
    defining different schemas under one name is an error, never an overwrite.

    Raises:
        SpecConflictError: a component or an operation id is defined twice with
            different content.
    """
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": {},
        "tags": [],
    }
    components: dict[str, dict[str, Any]] = {}
    owners: dict[tuple[str, str], str] = {}
    for mount_path, document in documents.items():
        merged["openapi"] = document.get("openapi", merged["openapi"])
        merged["tags"].extend(document.get("tags", []))
        for path, item in document.get("paths", {}).items():
            merged["paths"][f"{mount_path}{path}"] = item
        for section, entries in document.get("components", {}).items():
            target = components.setdefault(section, {})
            for name, definition in entries.items():
                _add_component(target, owners, section, name, definition, mount_path)
    if components:
        merged["components"] = components
    _check_operation_ids(merged["paths"])
    return merged


def _add_component(
    target: dict[str, Any],
    owners: dict[tuple[str, str], str],
    section: str,
    name: str,
    definition: Any,
    mount_path: str,
) -> None:
    if name in target and target[name] != definition:
        raise SpecConflictError(
            f"components.{section}.{name} is defined differently by "
            f"{owners[(section, name)]} and {mount_path}; move the model to "
            "trading_api.models so both use one, or rename one of them"
        )
    target[name] = definition
    owners.setdefault((section, name), mount_path)


def _check_operation_ids(paths: dict[str, Any]) -> None:
    seen: dict[str, str] = {}
    for path, item in paths.items():
        for method in HTTP_METHODS:
            operation_id = item.get(method, {}).get("operationId")
            if operation_id is None:
                continue
            where = f"{method.upper()} {path}"
            if operation_id in seen:
                raise SpecConflictError(
                    f"operationId {operation_id!r} is used by {seen[operation_id]} "
                    f"and {where}; give one of the endpoint functions another name"
                )
            seen[operation_id] = where
