"""Wire rules shared by the label schema and review queue RPCs, as MLflow's handlers apply them.

An enum field that is absent, unspecified or not a value of its enum reads as 0: MLflow's protobuf parser leaves an
unparseable value unset, and the handler then refuses 0 in the field's own words (or, for a filter, ignores it).
"""

from __future__ import annotations

from collections.abc import Mapping

from server.api.wire import API_DOCS_HINT, Fields
from server.errors import MlflowError

MAX_RESULTS_LIMIT = 50000  # MLflow's SEARCH_MAX_RESULTS_THRESHOLD


def enum_number(fields: Fields, name: str, names: Mapping[str, int]) -> int:
    value = fields.raw(name)
    if isinstance(value, list):
        value = value[-1] if value else None
    if isinstance(value, str):
        if value in names:
            return names[value]
        value = int(value) if value.isdigit() else None
    if isinstance(value, int) and not isinstance(value, bool) and value in names.values():
        return value
    return 0


def page_size(fields: Fields, default: int) -> int:
    """`max_results`: between 1 and 50,000 when given (MLflow's handler check and words), else `default`."""
    max_results = fields.integer("max_results")
    if max_results is None:
        return default
    if not 1 <= max_results <= MAX_RESULTS_LIMIT:
        raise MlflowError.invalid_parameter(f"max_results must be between 1 and {MAX_RESULTS_LIMIT}. {API_DOCS_HINT}")
    return max_results
