"""Progress on long commands: a rich bar on a terminal, silence everywhere else.

Commands that walk many items (``bench nab``, ``bench forecast``, ``backtest``,
``report``) take an ``on_item(name, done, total)`` callback from their core
and get it from ``progress``. The bar goes to the console's stream and is
transient; it is off with ``--json`` (``enabled=False``) and whenever that
stream is not a terminal, so piped output and tests stay clean.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

OnItem = Callable[[str, int, int], None]
"""``on_item(name, done, total)``: called by a core after each item it finished."""


def _quiet(_name: str, _done: int, _total: int) -> None:
    return None


@contextlib.contextmanager
def progress(console: Console, label: str, *, enabled: bool = True) -> Iterator[OnItem]:
    """A rich progress bar on a terminal; a no-op when not enabled or not a TTY.

    Yields the ``on_item(name, done, total)`` callback the core calls.
    """
    if not (enabled and console.is_terminal):
        yield _quiet
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[name]}", markup=False),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=None, name="")

        def advance(name: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, name=name)

        yield advance
