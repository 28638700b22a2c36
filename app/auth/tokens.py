"""JWT verification with an explicit algorithm allow-list.

HS* tokens are checked with the shared secret and RS*/ES* tokens with the
public key, chosen by the token's algorithm only after that algorithm is
found on the allow-list; so `none` and algorithm confusion (a public key
used as an HMAC secret) are refused. `exp` and `sub` are required;
issuer and audience are checked when configured. The username comes from
the `username` claim, else OIDC's `preferred_username`; a token whose
username is not a valid one (`check_username`) is refused.
"""

from __future__ import annotations

import time
from pathlib import Path

import jwt

from app.chat.errors import ChatError, Code
from app.chat.model import Profile
from app.chat.rules import check_user_id, check_username
from config.settings import AuthConfig


def _pem(value: str) -> str:
    """A PEM given inline, or read from the path given instead."""
    if not value or value.lstrip().startswith("-----BEGIN"):
        return value
    return Path(value).read_text()


def strip_bearer(token: str | None) -> str:
    """The token without a `Bearer ` prefix (any case); "" for none, or for a bare "Bearer"."""
    token = (token or "").strip()
    scheme, _, rest = token.partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip()
    return "" if token.lower() == "bearer" else token


class TokenVerifier:
    def __init__(self, config: AuthConfig) -> None:
        self._algorithms = config.algorithm_list
        self._secret = config.jwt_secret
        self._public_key = _pem(config.jwt_public_key)
        self._issuer = config.jwt_issuer or None
        self._audience = config.jwt_audience or None
        self._leeway = config.jwt_leeway

    def verify(self, token: str | None) -> Profile:
        """The profile in a valid token. Raises AUTH_REQUIRED, INVALID_TOKEN or TOKEN_EXPIRED."""
        token = strip_bearer(token)
        if not token:
            raise ChatError(Code.AUTH_REQUIRED, "a token is required")
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
            if algorithm not in self._algorithms:
                raise ChatError(Code.INVALID_TOKEN, f"tokens signed with {algorithm!r} are not accepted")
            key = self._secret if algorithm.startswith("HS") else self._public_key
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": ["exp", "sub"], "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise ChatError(Code.TOKEN_EXPIRED, "the token has expired") from None
        except jwt.MissingRequiredClaimError as exc:
            raise ChatError(Code.INVALID_TOKEN, f"the token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidTokenError as exc:
            raise ChatError(Code.INVALID_TOKEN, f"the token is invalid: {exc}") from None
        try:
            check_user_id(claims["sub"], "sub")
        except ChatError:
            raise ChatError(Code.INVALID_TOKEN, "the token's sub is not a usable user id") from None
        claimed = claims.get("username") or claims.get("preferred_username")
        username = None
        if claimed is not None and claimed != "":  # absent, null or empty: no username (a number is refused)
            try:
                username = check_username(claimed)
            except ChatError:
                raise ChatError(Code.INVALID_TOKEN, "the token's username claim is not a valid username") from None
        return Profile(id=claims["sub"], name=_optional_text(claims.get("name")), username=username)


def mint(
    config: AuthConfig,
    user_id: str,
    name: str | None = None,
    ttl: int = 86400,
    username: str | None = None,
) -> str:
    """A signed token for development and tests, with the first allowed algorithm. Raises
    ChatError(INVALID_PAYLOAD) for a username the verifier would refuse."""
    if username is not None:
        check_username(username)
    algorithm = config.algorithm_list[0]
    key = config.jwt_secret if algorithm.startswith("HS") else _pem(config.jwt_private_key)
    if not key:
        raise ValueError("JWT_PRIVATE_KEY is needed to mint tokens for " + algorithm)
    now = int(time.time())
    claims: dict = {"sub": user_id, "iat": now, "exp": now + ttl}
    if name:
        claims["name"] = name
    if username is not None:
        claims["username"] = username
    if config.jwt_issuer:
        claims["iss"] = config.jwt_issuer
    if config.jwt_audience:
        claims["aud"] = config.jwt_audience
    return jwt.encode(claims, key, algorithm=algorithm)


def _optional_text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
