"""The local JWKS server for the admin tests."""

from tests.fixtures.jwks_server import jwks_server

__all__ = ["jwks_server"]
