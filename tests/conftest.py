"""Shared fixtures for every test directory (the real servers in ``tests/fixtures``)."""

pytest_plugins = ["tests.fixtures.servers", "tests.fixtures.cli"]
