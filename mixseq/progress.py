"""A minimal progress bar on standard error, silent when not on a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")


class ProgressBar:
    """Draws ``desc [#####     ] 5/10 1.2s`` on one line of ``stream``.

    Disabled when ``enabled`` is ``False`` or the stream is not a terminal, so logs and
    pipes stay clean (``--quiet`` passes ``enabled=False``).
    """

    def __init__(
        self, total: int | None, *, desc: str = "", enabled: bool = True, stream: TextIO | None = None
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self.total = total
        self.desc = desc
        self.count = 0
        self.postfix = ""
        self._start = time.perf_counter()

    def update(self, n: int = 1, *, postfix: str = "") -> None:
        """Advance by ``n`` steps and redraw."""
        self.count += n
        self.postfix = postfix or self.postfix
        if self.enabled:
            self._draw()

    def _draw(self) -> None:
        elapsed = time.perf_counter() - self._start
        if self.total:
            filled = int(20 * min(self.count, self.total) / self.total)
            bar = f"[{'#' * filled}{' ' * (20 - filled)}] {self.count}/{self.total}"
        else:
            bar = f"{self.count}"
        self.stream.write(f"\r{self.desc} {bar} {elapsed:.1f}s {self.postfix}".rstrip() + " ")
        self.stream.flush()

    def close(self) -> None:
        """Finish the line."""
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress(iterable: Iterable[T], *, total: int | None = None, desc: str = "", enabled: bool = True) -> Iterator[T]:
    """Iterate over ``iterable`` with a :class:`ProgressBar`."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with ProgressBar(total, desc=desc, enabled=enabled) as bar:
        for item in iterable:
            yield item
            bar.update()
