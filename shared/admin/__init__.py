"""The tenant admin API's core: who may call it, and what it does to tenants.

- ``keys``: the Entra ID tenant's signing keys (OpenID configuration, then
  JWKS), cached with a TTL; a token naming an unknown key triggers one
  refetch (key rotation), at most once per ``REFETCH_SECONDS``.
- ``tokens``: bearer JWT validation (RS256 signature, issuer, audience,
  expiry and not-before with a small leeway, the caller's object id) and the
  app roles ``Tenants.Admin`` (writes and reads) and ``Tenants.Read``.
- ``tenants``: the use cases: list, create (credentials returned once), read
  (secrets never: only whether set and when rotated), update, rotate
  credentials, set the remediation policy, disable; each write audited in the
  tenant's hash chain with the caller's object id.
- ``api``: the two wired together from settings, one per runtime.

Errors (the product's tree, ``shared.errors``, plus three of this package)::

    SreCopilotError
    ├── BadInput            a body or field the API cannot accept (400, names the field)
    ├── Unauthorized        missing, malformed, expired or foreign token (401, says which)
    ├── Forbidden           a valid token without the needed app role (403, names it)
    ├── NotFound            unknown tenant (404)
    │   └── AdminDisabled   no admin settings: the API is off, never open (404)
    ├── Conflict            the tenant exists already (409)
    └── KeysUnavailable     transient: the signing keys cannot be fetched (503)

Nothing here imports Azure Functions; ``functions/admin.py`` translates HTTP.
"""
