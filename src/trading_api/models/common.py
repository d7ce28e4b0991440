"""Building blocks shared by every topic's models.

TradingView's broker API spells fields in camelCase (``orderId``, ``limitPrice``)
while its datafeed API uses snake_case (``supported_resolutions``). Models follow
the API they mirror: broker models derive from :class:`CamelModel`, datafeed models
from :class:`WireModel`, so the JSON on the wire matches TradingView's names.
"""

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

# Every model refuses NaN and infinities (JSON has neither; Python's parser reads
# ``NaN``, ``Infinity`` and ``1e309`` anyway): a 422 naming the field, never a
# non-finite number in the books or an invalid JSON answer.


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
