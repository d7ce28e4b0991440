"""Building blocks shared by every topic's models.

TradingView's broker API spells fields in camelCase (``orderId``, ``limitPrice``)
while its datafeed API uses snake_case (``supported_resolutions``). Models follow
the API they mirror: broker models derive from :class:`CamelModel`, datafeed models
from :class:`WireModel`, so the JSON on the wire matches TradingView's names.

Every model refuses NaN and infinities (JSON has neither; Python's parser reads
``NaN``, ``Infinity`` and ``1e309`` anyway): a 422 naming the field, never a
non-finite number in the books or an invalid JSON answer.
"""

from collections.abc import Iterable
from enum import Enum, IntEnum, StrEnum
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema


class WireModel(BaseModel):
    """A model whose Python field names are its JSON names."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class CamelModel(BaseModel):
    """A model written in snake_case in Python and camelCase on the wire.

    Input is accepted under either spelling; output always uses the camelCase alias.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        allow_inf_nan=False,
    )


class ErrorMessage(BaseModel):
    """The body of a 4xx answer that reports a broken business rule or unknown id."""

    detail: str = Field(description="What is wrong and, where possible, the fix.")


def error_responses(*codes: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses=`` entries documenting :class:`ErrorMessage` bodies."""
    descriptions = {
        400: "A business rule rejects the request",
        404: "No such resource",
        409: "The resource is in a state that forbids the operation",
    }
    return {
        code: {"model": ErrorMessage, "description": descriptions.get(code, "Error")}
        for code in codes
    }


class _PublishedNames:
    """Publishes an enum's member names beside its values in the JSON schema.

    ``x-enum-varnames`` is read by openapi-generator, openapi-python-client and
    openapi-typescript; ``x-enumNames`` by NSwag and openapi-typescript. Without
    them a generated client names ``OrderType`` 2 ``VALUE_2``; with them,
    ``MARKET``.
    """

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(core_schema)
        target = handler.resolve_ref_schema(json_schema)
        names = [member.name for member in cast("type[Enum]", cls)]
        target["x-enum-varnames"] = names
        target["x-enumNames"] = names
        return json_schema


class NamedIntEnum(_PublishedNames, IntEnum):
    """An integer enum whose member names reach generated clients."""


class NamedStrEnum(_PublishedNames, StrEnum):
    """A string enum whose member names reach generated clients."""


def required_when(
    field: str, values: Iterable[Enum], required: Iterable[str]
) -> dict[str, Any]:
    """A JSON Schema rule: when ``field`` is one of ``values``, ``required`` are
    present and not null (OpenAPI 3.1 ``if``/``then``).

    ``required_when("type", [OrderType.LIMIT], ["limitPrice"])`` publishes what
    a validator enforcing "a LIMIT order needs a limitPrice" checks, so clients
    and contract tests see the rule instead of meeting a 422.
    """
    names = list(required)
    return {
        "if": {
            "properties": {field: {"enum": [value.value for value in values]}},
            "required": [field],
        },
        "then": {
            "required": names,
            "properties": {name: {"not": {"type": "null"}} for name in names},
        },
    }
