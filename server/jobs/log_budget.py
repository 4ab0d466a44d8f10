"""How much of a job's output is stored. A project that prints without end must not fill the metadata store: past
the budget, the attempt's log ends with a line saying it was cut, and the rest of that attempt's output is dropped
(the job itself runs on). A heartbeat the worker resends is counted once: only chunks not stored yet count."""

from __future__ import annotations

from collections.abc import Sequence

from server.jobspec.schemas import LogChunk


def truncation_marker(limit_bytes: int) -> str:
    return (
        f"\n[runyard] This attempt's log reached the {limit_bytes / 2**20:g} MiB the server keeps "
        "(RUNYARD_JOB_MAX_LOG_MB); the rest of its output is not stored.\n"
    )


def _head(text: str, size: int) -> str:
    """At most `size` bytes of `text`, ending at a line break when there is one."""
    head = text.encode()[:size].decode(errors="ignore")
    cut = head.rfind("\n")
    return head[: cut + 1] if cut >= 0 else head


def within_budget(chunks: Sequence[LogChunk], used: int, limit: int) -> tuple[list[LogChunk], int]:
    """The chunks to store and the new byte count. The chunk that crosses the budget keeps what fits, followed by
    the marker; a count above `limit` means that happened already, so everything after it is dropped."""
    kept: list[LogChunk] = []
    for chunk in chunks:
        if used > limit:
            break
        size = len(chunk.text.encode())
        if used + size <= limit:
            kept.append(chunk)
            used += size
        else:
            text = _head(chunk.text, limit - used) + truncation_marker(limit)
            kept.append(LogChunk(seq=chunk.seq, stream=chunk.stream, text=text))
            used = limit + 1
    return kept, used
