"""Building blocks shared by every topic's models.

TradingView's broker API spells fields in camelCase (``orderId``, ``limitPrice``)
while its datafeed API uses snake_case (``supported_resolutions``). Models follow
the API they mirror: broker models derive from :class:`CamelModel`, datafeed models
from :class:`WireModel`, so the JSON on the wire matches TradingView's names.

Every model refuses NaN and infinities (JSON has neither; Python's parser reads
``NaN``, ``Infinity`` and ``1e309`` anyway): a 422 naming the field, never a
non-finite number in the books or an invalid JSON answer.

Models a client sends (request bodies, WebSocket subscription requests) are
declared ``strict=True``: they take exactly the JSON types their schema
publishes. A number field takes a JSON number (an integer included, as JSON
Schema says) but never ``true`` or ``"1"``; an integer field takes an integer
(``5.0`` too: JSON Schema calls it one), an enum one of its values in its own
JSON type (``2``, not ``"2"``), a boolean only ``true`` or ``false``.
"""

from collections.abc import Iterable
from enum import Enum, IntEnum, StrEnum
from typing import Annotated, Any, cast

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationInfo,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema


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


def _integral(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


JsonInt = Annotated[int, BeforeValidator(_integral)]
"""An integer as JSON Schema counts them: ``5`` and ``5.0``, never ``5.5``,
``true`` or ``"5"`` (in a strict model)."""


_JSON_TYPE = {True: "integer", False: "string"}


def _strict(info: ValidationInfo) -> bool:
    return bool(info.config and info.config.get("strict"))


class _PublishedNames:
    """Publishes an enum's member names beside its values in the JSON schema,
    and takes its values in their own JSON type.

    ``x-enum-varnames`` is read by openapi-generator, openapi-python-client and
    openapi-typescript; ``x-enumNames`` by NSwag and openapi-typescript. Without
    them a generated client names ``OrderType`` 2 ``VALUE_2``; with them,
    ``MARKET``.

    In a strict model (a request body) an integer enum takes a JSON integer and
    a string enum a JSON string, so ``"type": "2"`` is refused as the schema
    refuses it. Elsewhere (a query parameter, which is text) ``"2"`` is read as
    the value it spells.
    """

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        members = cast("dict[str, Any]", handler(source))
        # The JSON type is checked before; the members then match by value.
        members["strict"] = False
        # The definition (``$ref``) is the checked enum, not its inner members.
        ref = members.pop("ref", None)
        return core_schema.with_info_before_validator_function(
            cls._in_json_type, cast("CoreSchema", members), ref=ref
        )

    @classmethod
    def _in_json_type(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, cls) or not _strict(info):
            return value
        if issubclass(cls, int):
            if type(value) is int or (isinstance(value, float) and value.is_integer()):
                return int(value)
        elif type(value) is str:
            return value
        expected = ", ".join(repr(member.value) for member in cast("type[Enum]", cls))
        raise PydanticCustomError(
            "enum",
            "Input should be one of {expected}, as a JSON {json_type}",
            {"expected": expected, "json_type": _JSON_TYPE[issubclass(cls, int)]},
        )

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
