"""The progress bar every phase of `runyard import` and `runyard export` shows."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import click

T = TypeVar("T")


@contextmanager
def progress(items: Iterable[T], label: str) -> Iterator[Iterable[T]]:
    """click's progress bar on stderr, so stdout keeps the tables and summaries; without a terminal it prints just
    the label with the count."""
    items = list(items)
    with click.progressbar(items, label=f"{label} ({len(items):,})", file=sys.stderr, show_pos=True) as bar:
        yield bar
