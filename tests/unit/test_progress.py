"""Progress bars: on a terminal only, never with --json or into a pipe; cores report each item."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from shared.progress import progress


def test_the_bar_shows_on_a_terminal_only_and_not_with_json() -> None:
    for terminal, enabled, shown in (
        (True, True, True),
        (False, True, False),
        (True, False, False),
    ):
        buffer = io.StringIO()
        console = Console(file=buffer, force_terminal=terminal, width=80)
        with progress(console, "backtest", enabled=enabled) as advance:
            advance("s-[red]01", 1, 2)
        assert ("backtest" in buffer.getvalue()) is shown
        if shown:
            assert "s-[red]01" in buffer.getvalue()  # item names are text, not markup


def test_the_old_name_stays_importable_from_bench_nab() -> None:
    from shared.bench.nab import file_progress

    assert file_progress is progress


def test_backtest_tells_the_hook_each_bundle(tmp_path: Path) -> None:
    from shared.replay.backtest import backtest

    for name in ("b-1", "b-2"):
        bundle = tmp_path / name
        bundle.mkdir()
        (bundle / "scenario.json").write_text("{not json")
    seen: list[tuple[str, int, int]] = []
    result = backtest(tmp_path, on_bundle=lambda *item: seen.append(item))
    assert seen == [("b-1", 0, 2), ("b-2", 1, 2), ("", 2, 2)]
    assert len(result["errors"]) == 2
