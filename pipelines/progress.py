"""A tqdm progress bar as an ``on_progress(step, total, label)`` callback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from tqdm import tqdm


@contextlib.contextmanager
def progress_bar(title: str) -> Iterator:
    bar = None

    def on_progress(step: int, total: int, label: str) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=title, unit="步", leave=True)
        bar.set_postfix_str(label)
        bar.n = step
        bar.refresh()

    try:
        yield on_progress
    finally:
        if bar is not None:
            bar.close()
