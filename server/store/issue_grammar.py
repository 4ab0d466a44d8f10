"""The `filter_string` of SearchIssues: AND-ed `status` and `source_run_id` equalities, worded as MLflow's
`SearchIssuesUtils` words its refusals (its sets are listed sorted here, as elsewhere in Runyard)."""

from __future__ import annotations

from server.store.search_grammar import Comparison, _clauses, _invalid, _set_text, _strip

ISSUE_FILTER_KEYS = frozenset({"status", "source_run_id"})
ISSUE_FILTER_OPS = frozenset({"=", "!="})


def parse_issue_filter(filter_string: str | None) -> list[Comparison]:
    comparisons = []
    for clause in _clauses(filter_string, "issues"):
        if clause.left.kind != "ident":
            raise _invalid(f"Invalid comparison: left side must be an identifier, got {clause.left.text}")
        key = _strip(clause.left.text, "'\"`").strip()
        if key not in ISSUE_FILTER_KEYS:
            raise _invalid(f"Invalid filter field '{key}'. Supported fields: {_set_text(ISSUE_FILTER_KEYS)}")
        if clause.op not in ISSUE_FILTER_OPS or clause.value is None:
            raise _invalid(f"Invalid comparator '{clause.op}'. Supported comparators: {_set_text(ISSUE_FILTER_OPS)}")
        value = _strip(clause.value.text).strip()  # MLflow takes the value quoted or bare
        comparisons.append(Comparison("attribute", key, clause.op, value))
    return comparisons
