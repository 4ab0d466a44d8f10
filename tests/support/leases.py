"""The tests' clock for job leases: instead of waiting for a lease to run out (which a loaded machine can make
happen early, to a live worker, or late), a test ends one itself, in the database, and waits for the server to
notice. Every test server uses leases long enough that a live worker never loses one."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from server.store.engine import normalise_url


def expire_lease(store_uri: str, job_id: str) -> None:
    """Make the job's lease as good as run out, as if its holder had stopped heartbeating long ago."""
    url = normalise_url(store_uri)
    engine = create_engine(url, connect_args={"timeout": 120} if url.startswith("sqlite") else {})
    try:
        with engine.begin() as connection:
            changed = connection.execute(
                text("UPDATE jobs SET lease_expires_at = 0 WHERE job_id = :job_id AND status IN ('LEASED', 'RUNNING')"),
                {"job_id": job_id},
            ).rowcount
    finally:
        engine.dispose()
    assert changed == 1, f"job {job_id} holds no lease"
