"""The terms every access check is written in: the resource kinds, the `Access` a route declares, and the
PERMISSION_DENIED error a refused check raises.

A module of its own so that `rules.py` and the checks kept beside it (`genai_access.py`) share these terms without
importing each other; `rules.py` re-exports them, and routes keep reaching them there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from server.errors import ErrorCode, MlflowError
from server.permissions import Permission

Resource = Literal[
    "experiment",
    "experiment_name",
    "experiments",
    "run",
    "runs",
    "logged_model",
    "registered_model",
    "signed_in",
    "person",
    "admin",
    "user",
    "named_resource",
    "trace",
    "traces",
    "trace_start",
    "trace_locations",
    "scorer_list",
    "scorer_ids",
    "issue",
    "issue_search",
    "genai_job",
    "label_schema",
    "review_queue",
    "review_queue_view",
    "review_queue_view_by_name",
    "review_queue_shape",
    "review_queue_prune",
    "review_queue_review",
    "dataset",
    "dataset_create",
    "dataset_link",
    "dataset_search",
    "role",
    "roles",
    "user_roles",
    "skill",
    "skill_version_update",
    "skill_create",
    "skill_register",
    "skill_search",
    "mcp_server",
    "mcp_server_version",
    "mcp_server_version_update",
    "mcp_server_alias",
    "mcp_server_endpoint",
    "mcp_server_sweep",
    "mcp_server_create",
    "mcp_server_register",
    "mcp_server_search",
    "mcp_endpoint_search",
]


@dataclass(frozen=True, slots=True)
class Access:
    resource: Resource
    need: Permission = Permission.READ
    field: str = ""
    grants_creator: bool = False  # the caller gets MANAGE on what the request creates


def permission_denied(what: str = "") -> MlflowError:
    return MlflowError(f"Permission denied{': ' + what if what else ''}.", ErrorCode.PERMISSION_DENIED)


# What each level lets a caller do with a registry resource, as MLflow's auth lists it in `allowed_actions` (levels
# are MLflow's permission names; READ, DENY and NO_PERMISSIONS allow none of these).
_ALLOWED_ACTIONS = {
    "MANAGE": ("USE", "UPDATE", "DELETE", "MANAGE"),
    "EDIT": ("USE", "UPDATE"),
    "USE": ("USE",),
}


def allowed_actions(level: str) -> list[str]:
    return list(_ALLOWED_ACTIONS.get(level, ()))
