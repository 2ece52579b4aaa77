"""Bearer JWT validation with real RS256 tokens against a local JWKS server."""

from __future__ import annotations

import time

import jwt
import pytest

from shared.admin.errors import Forbidden, KeysUnavailable
from shared.admin.keys import SigningKeys
from shared.admin.tokens import Role, TokenValidator, require
from shared.errors import Unauthorized
from tests.fixtures.jwks_server import ADMIN_OID, AUDIENCE, JwksServer, SigningKey


class Ticker:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def validator(server: JwksServer, **keys: object) -> TokenValidator:
    return TokenValidator(
        issuer=server.issuer,
        audiences=[AUDIENCE],
        keys=SigningKeys(server.config_url, **keys),  # type: ignore[arg-type]
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refusal(v: TokenValidator, headers: dict[str, str]) -> str:
    with pytest.raises(Unauthorized) as caught:
        v.caller(headers)
    return caught.value.reason


def test_a_valid_token_names_the_caller_and_roles(jwks_server: JwksServer) -> None:
    v = validator(jwks_server)
    caller = v.caller(bearer(jwks_server.token(roles=("Tenants.Read",))))
    assert caller.object_id == ADMIN_OID
    assert caller.actor == f"entra:{ADMIN_OID}"
    assert caller.name == "ops@example.com"
    assert caller.roles == frozenset({"Tenants.Read"})
    require(caller, Role.READ)
    with pytest.raises(Forbidden, match=r"lacks the app role 'Tenants\.Admin'"):
        require(caller, Role.ADMIN)


def test_admin_may_read_and_no_role_may_do_nothing(jwks_server: JwksServer) -> None:
    v = validator(jwks_server)
    admin = v.caller(bearer(jwks_server.token(roles=("Tenants.Admin",))))
    require(admin, Role.READ)
    require(admin, Role.ADMIN)
    nobody = v.caller(bearer(jwks_server.token(roles=())))
    with pytest.raises(Forbidden, match=r"'Tenants.Read' \(roles held: none\)"):
        require(nobody, Role.READ)
    other = v.caller(bearer(jwks_server.token(roles=("Incidents.Admin",))))
    with pytest.raises(Forbidden, match=r"roles held: Incidents\.Admin"):
        require(other, Role.READ)


def test_header_problems_are_401_with_the_reason(jwks_server: JwksServer) -> None:
    v = validator(jwks_server)
    assert "missing Authorization header" in refusal(v, {})
    assert "is not 'Bearer <token>'" in refusal(v, {"Authorization": "Basic dXNlcjpwdw=="})
    assert "is not 'Bearer <token>'" in refusal(v, {"Authorization": "Bearer "})
    assert "malformed token" in refusal(v, bearer("not.a.jwt"))
    assert "malformed token" in refusal(v, bearer("abc"))
    assert "malformed token" in refusal(v, bearer("é.é.é"))
    assert "longer than" in refusal(v, bearer("a" * 20_000))
    assert jwks_server.requests == []  # none of these needed the keys


def test_expired_and_not_yet_valid_tokens_are_refused(jwks_server: JwksServer) -> None:
    v = validator(jwks_server)
    now = int(time.time())
    expired = jwks_server.token(exp=now - 120, iat=now - 3700, nbf=now - 3700)
    assert refusal(v, bearer(expired)) == "token expired (exp is past)"
    early = jwks_server.token(nbf=now + 600)
    assert "not valid yet" in refusal(v, bearer(early))
    # within the leeway (60 s) a little clock skew is forgiven
    v.caller(bearer(jwks_server.token(exp=now - 10, nbf=now + 10)))


def test_wrong_issuer_and_audience_are_refused(jwks_server: JwksServer) -> None:
    v = validator(jwks_server)
    foreign = jwks_server.token(iss="https://login.microsoftonline.com/other/v2.0")
    assert refusal(v, bearer(foreign)).startswith("wrong issuer")
    v1 = jwks_server.token(iss="https://sts.windows.net/11111111-2222-3333-4444-555555555555/")
    assert refusal(v, bearer(v1)).startswith("wrong issuer")
    other_app = jwks_server.token(aud="api://someone-else")
    assert refusal(v, bearer(other_app)).startswith("wrong audience")
    graph = jwks_server.token(aud=["https://graph.microsoft.com"])
    assert refusal(v, bearer(graph)).startswith("wrong audience")


def test_required_claims(jwks_server: JwksServer) -> None:
    v = validator(jwks_server)
    assert refusal(v, bearer(jwks_server.token(oid=None))) == "token has no 'oid' claim"
    assert refusal(v, bearer(jwks_server.token(exp=None))) == "token has no 'exp' claim"
    assert refusal(v, bearer(jwks_server.token(aud=None))) == "token has no 'aud' claim"
    assert "not an object id" in refusal(v, bearer(jwks_server.token(oid=42)))


def test_bad_signature_and_unknown_keys(jwks_server: JwksServer) -> None:
    v = validator(jwks_server)
    impostor = SigningKey()
    forged = jwks_server.token(key=impostor, kid=jwks_server.current.kid)  # claims a real kid
    assert refusal(v, bearer(forged)).startswith("bad signature")
    unknown = jwks_server.token(key=impostor)
    assert "unknown key" in refusal(v, bearer(unknown))
    token = jwks_server.token(roles=("Tenants.Read",))
    head, _, signature = token.split(".")
    tampered = jwt.encode(
        {**jwt.decode(token, options={"verify_signature": False}), "roles": ["Tenants.Admin"]},
        impostor.private,
        algorithm="RS256",
        headers={"kid": jwks_server.current.kid},
    ).split(".")[1]  # a reader's token with its claims rewritten to admin
    assert refusal(v, bearer(f"{head}.{tampered}.{signature}")).startswith("bad signature")
    no_kid = jwt.encode({"oid": "x"}, jwks_server.current.private, algorithm="RS256")
    assert refusal(v, bearer(no_kid)) == "token header names no signing key (kid)"


def test_only_rs256_is_accepted(jwks_server: JwksServer) -> None:
    v = validator(jwks_server)
    claims = jwt.decode(jwks_server.token(), options={"verify_signature": False})
    kid = {"kid": jwks_server.current.kid}
    hs = jwt.encode(claims, "a-shared-secret-of-32-bytes-or-more!", algorithm="HS256", headers=kid)
    assert "'HS256' is not accepted" in refusal(v, bearer(hs))
    none = jwt.encode(claims, None, algorithm="none", headers=kid)  # type: ignore[arg-type]
    assert "'none' is not accepted" in refusal(v, bearer(none))
    ps = jwt.encode(claims, jwks_server.current.private, algorithm="PS256", headers=kid)
    assert "'PS256' is not accepted" in refusal(v, bearer(ps))


def test_keys_are_cached_and_a_rotation_refetches_once(jwks_server: JwksServer) -> None:
    ticker = Ticker()
    v = validator(jwks_server, monotonic=ticker, refetch_seconds=30.0)
    for _ in range(5):
        v.caller(bearer(jwks_server.token()))
    assert jwks_server.fetched("/keys") == 1  # cached

    jwks_server.rotate(retire=True)  # Entra rolls its key mid-test
    v.caller(bearer(jwks_server.token()))  # unknown kid: one refetch finds the new key
    assert jwks_server.fetched("/keys") == 2
    v.caller(bearer(jwks_server.token()))
    assert jwks_server.fetched("/keys") == 2


def test_unknown_kids_refetch_at_most_once_per_interval(jwks_server: JwksServer) -> None:
    ticker = Ticker()
    v = validator(jwks_server, monotonic=ticker, refetch_seconds=30.0)
    v.caller(bearer(jwks_server.token()))
    for i in range(20):
        assert "unknown key" in refusal(v, bearer(jwks_server.token(kid=f"forged-{i}")))
    assert jwks_server.fetched("/keys") == 2  # the first unknown kid refetched; no other did
    ticker.now += 31
    for i in range(20):
        refusal(v, bearer(jwks_server.token(kid=f"forged-again-{i}")))
    assert jwks_server.fetched("/keys") == 3

    # a key published within the interval is found once the interval has passed
    new = jwks_server.rotate()
    assert "unknown key" in refusal(v, bearer(jwks_server.token(key=new)))
    ticker.now += 31
    v.caller(bearer(jwks_server.token(key=new)))
    assert jwks_server.fetched("/keys") == 4


def test_keys_expire_after_the_ttl(jwks_server: JwksServer) -> None:
    ticker = Ticker()
    v = validator(jwks_server, monotonic=ticker, ttl_seconds=600.0)
    v.caller(bearer(jwks_server.token()))
    ticker.now += 599
    v.caller(bearer(jwks_server.token()))
    assert jwks_server.fetched("/keys") == 1
    ticker.now += 2
    old = jwks_server.current
    jwks_server.rotate(retire=True)
    assert "unknown key" in refusal(v, bearer(jwks_server.token(key=old)))  # retired
    assert jwks_server.fetched("/keys") == 2


def test_a_down_issuer_keeps_cached_keys_and_is_503_without_them(
    jwks_server: JwksServer,
) -> None:
    ticker = Ticker()
    v = validator(jwks_server, monotonic=ticker, ttl_seconds=60.0)
    v.caller(bearer(jwks_server.token()))
    jwks_server.failing = True
    ticker.now += 120  # stale, and the refresh fails: the cached keys stay in use
    v.caller(bearer(jwks_server.token()))

    cold = validator(jwks_server)
    with pytest.raises(KeysUnavailable, match="HTTP 503"):
        cold.caller(bearer(jwks_server.token()))
    unreachable = TokenValidator(
        issuer=jwks_server.issuer,
        audiences=[AUDIENCE],
        keys=SigningKeys("http://127.0.0.1:9/.well-known/openid-configuration"),
    )
    with pytest.raises(KeysUnavailable, match="cannot fetch"):
        unreachable.caller(bearer(jwks_server.token()))


def test_a_jwks_without_usable_keys_is_unavailable() -> None:
    documents = {
        "cfg": {"jwks_uri": "keys"},
        "keys": {"keys": [{"kty": "EC", "kid": "e", "crv": "P-256"}, {"kty": "RSA", "kid": "x"}]},
    }
    keys = SigningKeys("cfg", fetch=documents.__getitem__)
    with pytest.raises(KeysUnavailable, match="no usable RS256 signing key"):
        keys.key_for("x")
    with pytest.raises(KeysUnavailable, match="no jwks_uri"):
        SigningKeys("keys", fetch=documents.__getitem__).key_for("x")
