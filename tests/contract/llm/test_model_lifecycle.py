"""The Claude model: a current one by default, a warning at start-up for a deprecated one."""

from __future__ import annotations

import logging
import typing
from pathlib import Path

import pytest
from anthropic._data import DEPRECATED_MODELS
from anthropic.types import Model
from pydantic import SecretStr

from shared.adapters.llm.anthropic import ClaudeProposer, deprecated_until
from shared.adapters.store.sqlite import SqliteStore
from shared.settings import Settings


def known_models() -> set[str]:
    literal = next(
        arg for arg in typing.get_args(Model) if typing.get_origin(arg) is typing.Literal
    )
    return set(typing.get_args(literal))


def test_the_default_model_is_known_to_the_sdk_and_not_deprecated(tmp_path: Path) -> None:
    model = Settings(home=tmp_path).anthropic_model
    assert model in known_models()
    assert model not in DEPRECATED_MODELS
    assert deprecated_until(model) is None


def test_the_retired_default_is_what_the_sdk_deprecates() -> None:
    assert deprecated_until("claude-sonnet-4-5") == DEPRECATED_MODELS["claude-sonnet-4-5"]


@pytest.mark.parametrize(("model", "warned"), [("claude-sonnet-4-5", True), (None, False)])
def test_building_the_adapter_warns_about_a_deprecated_model(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, model: str | None, warned: bool
) -> None:
    extra = {"anthropic_model": model} if model else {}
    settings = Settings(home=tmp_path, anthropic_api_key=SecretStr("k"), **extra)
    store = SqliteStore(tmp_path / "s.sqlite3")
    caplog.set_level(logging.WARNING, logger="shared.adapters.llm.anthropic")
    try:
        ClaudeProposer.from_settings(settings, store).close()
    finally:
        store.close()
    messages = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert bool(messages) is warned
    if warned:
        assert "claude-sonnet-4-5" in messages[0] and "November 30th, 2026" in messages[0]
