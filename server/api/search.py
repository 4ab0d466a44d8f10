"""SearchRuns: MLflow's filter/order_by grammar over runs, with page tokens."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server.api import convert
from server.api.routing import Rpc
from server.api.wire import Fields
from server.auth import rules
from server.services import run_search as service
from server.services import validation
from server.services.experiments import VIEW_TYPES
from server.web.context import Context


def search_runs(fields: Fields, session: Session, _: Context) -> dict[str, Any]:
    experiment_ids = [validation.parse_experiment_id(e) for e in fields.string_list("experiment_ids")]
    max_results = service.check_page_size(fields.integer("max_results", default=service.DEFAULT_MAX_RESULTS))
    if not experiment_ids:
        return {}  # nothing to search: the rest of the request is not read
    page, data = service.search_runs(
        session,
        experiment_ids=experiment_ids,
        filter_string=fields.string("filter"),
        order_by=fields.string_list("order_by"),
        view_type=fields.enum("run_view_type", VIEW_TYPES, default="ACTIVE_ONLY") or "ACTIVE_ONLY",
        max_results=max_results,
        page_token=fields.string("page_token"),
    )
    runs = [convert.run_json(run, data[run.run_uuid]) for run in page.items]
    return convert.page_json("runs", runs, page.next_page_token)


RPCS = [Rpc("POST", "/mlflow/runs/search", search_runs, writes=False, access=rules.READABLE_EXPERIMENTS)]
