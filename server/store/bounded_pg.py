"""PostgreSQL connections whose every wait on the server is bounded on the client side too.

`statement_timeout` and `lock_timeout` are enforced by the server process that runs the statement. A server that
stops answering altogether (its process stopped or stuck, a host that froze, a network path that drops packets
while the kernel still holds the connection open) enforces nothing, and a request would wait on its socket until the
client gave up, holding a pooled connection all the while. psycopg waits for every reply of the protocol in one
place, `Connection.wait`, which takes a timeout; this subclass gives it one when psycopg does not, and on expiry
closes the connection, which SQLAlchemy then counts as a disconnect: the request fails with the retryable 503 and
the pool drops the connection.

The bound is the statement timeout plus a margin, so it fires only when the server did not cancel its own
statement in time, never in place of it.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import errors

# How long past its own statement_timeout a server may take to answer before it is taken for gone: the cancel and
# the error reply are a round trip on a loaded machine, never seconds.
MARGIN_S = 5.0


class BoundedConnection(psycopg.Connection[Any]):
    """A psycopg connection whose waits end after `limit_s` seconds (set on a subclass per engine)."""

    limit_s: float | None = None

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        bound = self.limit_s if timeout is None else timeout
        try:
            return super().wait(gen, interval=interval, timeout=bound)
        except errors._WaitTimeout:
            if timeout is not None:  # psycopg's own bounded wait (a cancel): it handles the expiry itself
                raise
            # The protocol stopped mid-exchange, so the connection cannot be used again: close it, so that the
            # error is a disconnect to SQLAlchemy and the pool discards the connection.
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"the database server did not answer within {bound:g} s; the connection was closed"
            ) from None


def bounded_connection_class(statement_timeout_s: float) -> type[BoundedConnection]:
    """A connection class whose waits end `MARGIN_S` after the server's own statement timeout would."""
    return type("BoundedConnection", (BoundedConnection,), {"limit_s": statement_timeout_s + MARGIN_S})
