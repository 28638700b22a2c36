"""JWT verification with an explicit algorithm allow-list.

HS* tokens are checked with the shared secret and RS*/ES* tokens with the
public key, chosen by the token's algorithm only after that algorithm is
found on the allow-list; so `none` and algorithm confusion (a public key
used as an HMAC secret) are refused. The allow-list holds only algorithms
the configured keys can verify: with JWT_ALGORITHMS unset it is HS256 with a
secret, else the public key's own algorithm (RS256 for an RSA key; ES256,
ES384 or ES512 for a P-256, P-384 or P-521 key); a configured list naming an
algorithm the key cannot verify is refused at start-up (`ConfigError`), as is
a JWT_PUBLIC_KEY that is no usable key. The key is parsed once, there.
With a JWKS (JWT_JWKS_URL or JWT_JWKS_FILE) instead of a public key, RS*/ES*
tokens are verified with the key their `kid` names (`app.auth.jwks`); the
allow-list is then RS256, ES256, ES384 and ES512 unless configured (and HS256
too when a secret is set as well).

`exp` and `sub` are required, and the NumericDate claims (`exp`, `nbf`,
`iat`) must be JSON numbers (a numeric string is refused); issuer and
audience are checked when configured. The username comes from the `username`
claim, else OIDC's `preferred_username`; a token whose username is not a
valid one (`check_username`) is refused. Every failure is a `ChatError`
(AUTH_REQUIRED, INVALID_TOKEN or TOKEN_EXPIRED), whatever the token holds.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import jwt

from app.auth.jwks import JwksKeys, prepared_key
from app.chat.errors import ChatError, Code
from app.chat.model import Profile
from app.chat.rules import check_user_id, check_username
from config import ConfigError
from config.settings import SUPPORTED_ALGORITHMS, AuthConfig

# A longer token is refused before it is decoded. Real ones (an OIDC provider's, with groups) stay well under.
MAX_TOKEN_BYTES = 16 * 1024
# With JWT_ALGORITHMS unset, a public key is trusted for those of these that its type can verify: one, since an
# RSA key serves RS256 here and an EC key the one algorithm of its curve.
KEY_DEFAULTS = ("RS256", "ES256", "ES384", "ES512")
_DATE_CLAIMS = ("exp", "nbf", "iat")
JWKS = object()  # stands for "the key the token's kid names in the JWKS" in the algorithm -> key map


def _pem(value: str, variable: str) -> str:
    """A PEM given inline, or read from the path given instead. Raises ConfigError for a path it cannot read."""
    if not value or value.lstrip().startswith("-----BEGIN"):
        return value
    try:
        return Path(value).read_text()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{variable} is neither a PEM key nor a readable file: {exc}") from None


def strip_bearer(token: str | None) -> str:
    """The token without a `Bearer ` prefix (any case); "" for none, or for a bare "Bearer"."""
    token = (token or "").strip()
    scheme, _, rest = token.partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip()
    return "" if token.lower() == "bearer" else token


def verification_keys(config: AuthConfig) -> dict[str, object]:
    """algorithm -> the key that verifies it, for exactly the algorithms allowed. Raises ConfigError when a
    configured algorithm cannot be served by the configured key, or when JWT_PUBLIC_KEY is no usable key."""
    if config.uses_jwks:
        if config.jwt_public_key:
            raise ConfigError("JWT_PUBLIC_KEY excludes a JWKS (JWT_JWKS_URL, JWT_JWKS_FILE): set one")
        wanted = config.algorithm_list if config.jwt_algorithms else [*KEY_DEFAULTS]
        if not config.jwt_algorithms and config.jwt_secret:
            wanted.append("HS256")
        return {name: config.jwt_secret if name.startswith("HS") else JWKS for name in wanted}
    pem = _pem(config.jwt_public_key, "JWT_PUBLIC_KEY")
    usable: dict[str, object] = {}  # every asymmetric algorithm the key can verify
    for name in sorted(SUPPORTED_ALGORITHMS):
        if pem and not name.startswith("HS") and (key := prepared_key(name, pem)) is not None:
            usable[name] = key
    if pem and not usable:
        raise ConfigError(
            "JWT_PUBLIC_KEY is not a public key that any supported algorithm can verify with "
            f"({', '.join(sorted(SUPPORTED_ALGORITHMS))}): give an RSA or an EC (P-256, P-384, P-521) key in PEM"
        )
    if config.jwt_algorithms:
        wanted = config.algorithm_list
    elif config.jwt_secret:
        wanted = ["HS256"]
    else:
        wanted = [name for name in KEY_DEFAULTS if name in usable]
        if not wanted:
            raise ConfigError(
                f"JWT_PUBLIC_KEY can verify only {', '.join(sorted(usable))}: list the ones to accept in JWT_ALGORITHMS"
            )
    keys: dict[str, object] = {}
    for name in wanted:
        if name.startswith("HS"):
            keys[name] = config.jwt_secret
        elif name in usable:
            keys[name] = usable[name]
        else:
            can = f"can verify only {', '.join(sorted(usable))}" if usable else "is not set"
            raise ConfigError(f"JWT_ALGORITHMS names {name}, but the JWT_PUBLIC_KEY {can}")
    return keys


def allowed_algorithms(config: AuthConfig) -> list[str]:
    """The algorithms tokens are accepted with, in order (see `verification_keys`). Raises ConfigError."""
    return list(verification_keys(config))


class TokenVerifier:
    def __init__(self, config: AuthConfig, jwks: JwksKeys | None = None) -> None:
        """Raises ConfigError for keys that cannot serve the allow-list (see `verification_keys`). `jwks`: the
        key set to use instead of the one the settings name (tests)."""
        self._keys = verification_keys(config)
        if jwks is None and config.uses_jwks:
            jwks = JwksKeys(
                url=config.jwt_jwks_url,
                file=config.jwt_jwks_file,
                refresh_interval=config.jwt_jwks_refresh,
                max_age=config.jwt_jwks_max_age,
            )
        self.jwks = jwks
        self._issuer = config.jwt_issuer or None
        self._audience = config.jwt_audience or None
        self._leeway = config.jwt_leeway

    @property
    def algorithms(self) -> list[str]:
        return list(self._keys)

    async def verify(self, token: str | None) -> Profile:
        """The profile in a valid token. Raises AUTH_REQUIRED, INVALID_TOKEN or TOKEN_EXPIRED, and UNAVAILABLE
        when a JWKS is needed and could not be loaded yet."""
        token = strip_bearer(token)
        if not token:
            raise ChatError(Code.AUTH_REQUIRED, "a token is required")
        if len(token) > MAX_TOKEN_BYTES:
            raise ChatError(Code.INVALID_TOKEN, f"the token is longer than {MAX_TOKEN_BYTES} bytes")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise ChatError(Code.INVALID_TOKEN, f"the token is invalid: {exc}") from None
        algorithm = header.get("alg")
        key = self._keys.get(algorithm) if isinstance(algorithm, str) else None
        if key is None:
            shown = algorithm[:20] if isinstance(algorithm, str) else algorithm
            raise ChatError(Code.INVALID_TOKEN, f"tokens signed with {shown!r} are not accepted")
        if key is JWKS:
            key = await self.jwks.key(header.get("kid"), algorithm)
        return self._decode(token, key, algorithm)

    def _decode(self, token: str, key: object, algorithm: str) -> Profile:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=self._issuer,
                audience=self._audience,
                # The dates are checked below, once they are known to be numbers (PyJWT takes "123" as 123).
                options={
                    "require": ["exp", "sub"],
                    "verify_aud": self._audience is not None,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.MissingRequiredClaimError as exc:
            raise ChatError(Code.INVALID_TOKEN, f"the token lacks the {exc.claim!r} claim") from None
        except jwt.PyJWTError as exc:
            raise ChatError(Code.INVALID_TOKEN, f"the token is invalid: {exc}") from None
        self._check_dates(claims)
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

    def _check_dates(self, claims: dict) -> None:
        """RFC 7519's NumericDate claims: JSON numbers, `exp` in the future and `nbf`, `iat` not, within the
        leeway."""
        for name in _DATE_CLAIMS:
            if name in claims and not _is_number(claims[name]):
                raise ChatError(Code.INVALID_TOKEN, f"the token's {name} claim must be a number")
        now = time.time()
        if claims["exp"] <= now - self._leeway:
            raise ChatError(Code.TOKEN_EXPIRED, "the token has expired")
        for name in ("nbf", "iat"):
            if name in claims and claims[name] > now + self._leeway:
                raise ChatError(Code.INVALID_TOKEN, f"the token is not yet valid ({name})")


def mint(
    config: AuthConfig,
    user_id: str,
    name: str | None = None,
    ttl: int = 86400,
    username: str | None = None,
) -> str:
    """A signed token for development and tests, with the first allowed algorithm. Raises
    ChatError(INVALID_PAYLOAD) for a username the verifier would refuse, ValueError (ConfigError among
    them) when the settings cannot sign."""
    if username is not None:
        check_username(username)
    algorithm = allowed_algorithms(config)[0]
    key = config.jwt_secret if algorithm.startswith("HS") else _pem(config.jwt_private_key, "JWT_PRIVATE_KEY")
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


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _optional_text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
