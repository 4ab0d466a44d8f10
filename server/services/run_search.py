"""SearchRuns: how many runs a page may hold, and one page of runs with everything each run shows."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from server.services import validation
from server.store import runs as run_store
from server.store import search
from server.store.runs import RunData
from server.store.search import Page, RunRow

DEFAULT_MAX_RESULTS = 1000


def check_page_size(max_results: int | None) -> int:
    """1 to 50,000 runs a page; checked before the rest of the request is read, as it always was."""
    if max_results is None or not 0 < max_results <= validation.MAX_RUNS_PER_PAGE:
        raise validation.invalid_max_results(max_results or 0, validation.MAX_RUNS_PER_PAGE)
    return max_results


def search_runs(
    session: Session,
    *,
    experiment_ids: Sequence[int],
    filter_string: str | None,
    order_by: Sequence[str],
    view_type: str,
    max_results: int,
    page_token: str | None,
) -> tuple[Page[RunRow], dict[str, RunData]]:
    """One page of runs (of a size `check_page_size` accepted) and their data, loaded for the whole page in a fixed
    number of queries."""
    page = search.search_runs(
        session,
        experiment_ids=experiment_ids,
        filter_string=filter_string,
        order_by=order_by,
        view_type=view_type,
        max_results=max_results,
        page_token=page_token,
    )
    return page, run_store.load_run_data(session, [run.run_uuid for run in page.items])
