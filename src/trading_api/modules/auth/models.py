"""Wire models of the auth module."""

from pydantic import Field

from trading_api.models.common import CamelModel, WireModel


class AuthJwk(WireModel):
    """One public key of the development issuer (RFC 7517; RSA)."""

    kty: str = Field(description="Key type: RSA.")
    kid: str = Field(description="Key id: the RFC 7638 thumbprint of the key.")
    use: str = Field(description="What the key is for: sig (signatures).")
    alg: str = Field(description="The algorithm tokens are signed with: RS256.")
    n: str = Field(description="RSA modulus, base64url.")
    e: str = Field(description="RSA public exponent, base64url.")


class AuthJwks(WireModel):
    """The development issuer's public keys (a JSON Web Key Set)."""

    keys: list[AuthJwk]


class AuthUser(CamelModel):
    """Who the presented token speaks for."""

    user: str = Field(description="The token's subject (sub).")
    accounts: list[str] = Field(description="The accounts the user owns, sorted.")
    issuer: str = Field(description="The token's issuer (iss).")
    expires_at: int = Field(description="When the token expires, UNIX seconds.")
