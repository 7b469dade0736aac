"""Who is calling: App JWTs, installation tokens and personal tokens, against the sim clock."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from functools import cache
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sim.github.routes import ApiError

_ALPHABET = string.ascii_letters + string.digits
# GitHub tolerates a little clock drift between the app and itself.
_SKEW = 60
_MAX_JWT_LIFETIME = 600


@dataclass
class Token:
    kind: str  # "installation" | "user"
    login: str  # the bot for installation tokens
    expires_at: float | None
    installation_id: int | None = None
    permissions: dict[str, str] | None = None

    def __repr__(self) -> str:  # never print the secret value, only what it stands for
        return f"Token({self.kind}, {self.login}, installation={self.installation_id})"


@dataclass(frozen=True)
class KeyPair:
    private_pem: bytes
    public_pem: bytes

    def __repr__(self) -> str:
        return "KeyPair(<hidden>)"


@cache
def test_key_pair() -> KeyPair:
    """One RSA key pair per process for simulators built without an app key (tests)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return KeyPair(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()),
        key.public_key().public_bytes(serialization.Encoding.PEM,
                                      serialization.PublicFormat.SubjectPublicKeyInfo),
    )


def public_key_from(material: str | bytes) -> bytes:
    """Accept a public key, or a private key (whose public half is then used)."""
    data = material.encode() if isinstance(material, str) else material
    if b"PRIVATE KEY" in data:
        private = serialization.load_pem_private_key(data, password=None)
        return private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return data


def new_token(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(40))


def verify_app_jwt(token: str, *, public_key: bytes, app_id: int, now: float) -> dict[str, Any]:
    """The JWT's claims, or ApiError(401) with GitHub's wording."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token, public_key, algorithms=["RS256"],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                     "require": ["iat", "exp", "iss"]},
        )
    except jwt.PyJWTError:
        raise ApiError(401, "A JSON web token could not be decoded") from None
    iat, exp, iss = claims.get("iat"), claims.get("exp"), claims.get("iss")
    if not isinstance(iss, str) or iss != str(app_id):
        # PyJWT >= 2.10 callers must send the app id as a string, as GitHub documents.
        raise ApiError(401, "'Issuer' claim ('iss') must be an Integer")
    if not isinstance(exp, int | float) or exp <= now:
        raise ApiError(401, (
            "'Expiration time' claim ('exp') must be a numeric value representing the future "
            "time at which the assertion expires"))
    # GitHub: "no more than 10 minutes into the future"; the skew allowance is for `iat` only.
    if exp > now + _MAX_JWT_LIFETIME:
        raise ApiError(401, "'Expiration time' claim ('exp') is too far in the future")
    if not isinstance(iat, int | float) or iat > now + _SKEW:
        raise ApiError(401, "'Issued at' claim ('iat') must be an Integer representing the "
                            "time that the assertion was issued")
    return claims


def parse_authorization(header: str | None) -> tuple[str, str] | None:
    """("bearer"|"token", credential) from an Authorization header."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in ("bearer", "token") or not value.strip():
        return None
    return scheme, value.strip()


def looks_like_jwt(value: str) -> bool:
    return value.count(".") == 2 and value.startswith("eyJ")
