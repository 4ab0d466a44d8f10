"""MLflow 3's roles (basic-auth RBAC) through the stock 3.17 `AuthServiceClient` and tracking client: an
administrator creates roles in a workspace, gives them grants and assigns them; a user holding a role may do what
its grants say (beside their per-user grants) until it is taken away; a workspace's administrator manages that
workspace's roles and no other's; and bad requests get MLflow's error codes and messages."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.server.auth.client import AuthServiceClient

from tests.auth.conftest import ADMIN, AuthServer
from tests.support.processes import runyard_server
from tests.support.stores import new_store_uri

User = tuple[str, str]
Use = Callable[[User], tuple[AuthServiceClient, MlflowClient]]
_numbers = itertools.count()


def _unique(prefix: str) -> str:
    return f"{prefix}-{next(_numbers)}"


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch, auth_server: AuthServer) -> Iterator[Use]:
    """Both stock clients, signed in as `user` through MLFLOW_TRACKING_USERNAME/PASSWORD."""
    yield from _signing_in(monkeypatch, auth_server.url)


def _signing_in(monkeypatch: pytest.MonkeyPatch, url: str) -> Iterator[Use]:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(url)

    def sign_in(user: User) -> tuple[AuthServiceClient, MlflowClient]:
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user[0])
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", user[1])
        client = mlflow.server.get_app_client("basic-auth", tracking_uri=url)
        assert isinstance(client, AuthServiceClient)
        return client, MlflowClient(url)

    yield sign_in
    mlflow.set_workspace(None)
    mlflow.set_tracking_uri(None)


def _error(call: Callable[[], object]) -> tuple[str, str]:
    """The error code and the server's message (the client shows it after "<code>: ")."""
    with pytest.raises(MlflowException) as raised:
        call()
    code = str(raised.value.error_code)
    return code, raised.value.message.removeprefix(f"{code}: ")


def _code(call: Callable[[], object]) -> str:
    return _error(call)[0]


def test_an_admin_creates_reads_lists_updates_and_deletes_a_role(use: Use) -> None:
    admin, _ = use(ADMIN)
    name = _unique("readers")
    role = admin.create_role("default", name, description="reads every experiment")
    assert role.to_json() == {
        "id": role.id,
        "name": name,
        "workspace": "default",
        "description": "reads every experiment",
        "permissions": [],
    }
    assert admin.get_role(role.id).to_json() == role.to_json()
    assert role.id in [r.id for r in admin.list_roles("default")]
    assert role.id in [r.id for r in admin.list_all_roles()]

    renamed = admin.update_role(role.id, name=f"{name}-renamed")
    assert (renamed.name, renamed.description) == (f"{name}-renamed", "reads every experiment")
    described = admin.update_role(role.id, description="reads less")
    assert (described.name, described.description) == (f"{name}-renamed", "reads less")

    admin.delete_role(role.id)
    assert _error(lambda: admin.get_role(role.id)) == ("RESOURCE_DOES_NOT_EXIST", f"Role with id={role.id} not found")
    assert role.id not in [r.id for r in admin.list_all_roles()]


def test_a_roles_permissions_are_added_listed_updated_and_removed(use: Use) -> None:
    admin, _ = use(ADMIN)
    role = admin.create_role("default", _unique("editors"))
    on_experiments = admin.add_role_permission(role.id, "experiment", "*", "READ")
    on_model = admin.add_role_permission(role.id, "registered_model", "churn-model", "EDIT")
    assert on_experiments.to_json() == {
        "id": on_experiments.id,
        "role_id": role.id,
        "resource_type": "experiment",
        "resource_pattern": "*",
        "permission": "READ",
    }
    assert [p.to_json() for p in admin.list_role_permissions(role.id)] == [on_experiments.to_json(), on_model.to_json()]
    assert [p.id for p in admin.get_role(role.id).permissions] == [on_experiments.id, on_model.id]

    updated = admin.update_role_permission(on_experiments.id, "EDIT")
    assert (updated.id, updated.resource_pattern, updated.permission) == (on_experiments.id, "*", "EDIT")
    admin.remove_role_permission(on_model.id)
    assert [(p.resource_type, p.permission) for p in admin.list_role_permissions(role.id)] == [("experiment", "EDIT")]
    assert _error(lambda: admin.remove_role_permission(on_model.id)) == (
        "RESOURCE_DOES_NOT_EXIST",
        f"Role permission with id={on_model.id} not found",
    )


def test_users_are_assigned_and_unassigned_and_see_their_own_roles(use: Use, auth_server: AuthServer) -> None:
    member = auth_server.add_user(_unique("roles-member"))
    admin, _ = use(ADMIN)
    role = admin.create_role("default", _unique("members"))
    admin.add_role_permission(role.id, "experiment", "*", "READ")
    assignment = admin.assign_role(member[0], role.id)
    member_id = admin.get_user(member[0]).id
    assert (assignment.user_id, assignment.role_id) == (member_id, role.id)
    assert [a.to_json() for a in admin.list_role_users(role.id)] == [assignment.to_json()]
    assert [r.to_json() for r in admin.list_user_roles(member[0])] == [admin.get_role(role.id).to_json()]

    mine, _ = use(member)
    assert [r.id for r in mine.list_user_roles(member[0])] == [role.id]  # one's own roles
    seen = mine.get_role(role.id)  # a role of a workspace one holds a role in, with its grants
    assert (seen.name, [p.resource_type for p in seen.permissions]) == (role.name, ["experiment"])
    assert role.id in [r.id for r in mine.list_roles("default")]
    assert _code(lambda: mine.list_user_roles(ADMIN[0])) == "PERMISSION_DENIED"
    assert _code(lambda: mine.list_all_roles()) == "PERMISSION_DENIED"
    assert _code(lambda: mine.list_role_users(role.id)) == "PERMISSION_DENIED"  # for the workspace's managers
    with auth_server.http(member) as http:  # what the web UI reads: the roster and one's own grants
        roster = http.get("/ajax-api/2.0/mlflow/users/list").json()["users"]
        rows = http.get("/ajax-api/3.0/mlflow/users/current/permissions").json()["permissions"]
    assert next(u["roles"] for u in roster if u["username"] == member[0]) == [seen.to_json()]
    assert {
        "role_id": role.id,
        "role_name": role.name,
        "workspace": "default",
        "resource_type": "experiment",
    }.items() <= (rows[-1].items())

    admin, _ = use(ADMIN)
    admin.unassign_role(member[0], role.id)
    assert admin.list_user_roles(member[0]) == []
    assert admin.list_role_users(role.id) == []
    mine, _ = use(member)
    assert mine.list_user_roles(member[0]) == []
    assert _code(lambda: mine.get_role(role.id)) == "PERMISSION_DENIED"  # no longer in the workspace


def test_a_role_lets_a_user_read_experiments_until_it_is_taken_away(use: Use, auth_server: AuthServer) -> None:
    reader = auth_server.add_user(_unique("roles-reader"))
    _, admin_tracking = use(ADMIN)
    experiment_id = admin_tracking.create_experiment(_unique("roles-private"))
    admin_tracking.create_registered_model(model := _unique("roles-model"))

    _, tracking = use(reader)
    assert _code(lambda: tracking.get_experiment(experiment_id)) == "PERMISSION_DENIED"
    assert experiment_id not in [e.experiment_id for e in tracking.search_experiments()]
    assert _code(lambda: tracking.get_registered_model(model)) == "PERMISSION_DENIED"

    admin, _ = use(ADMIN)
    role = admin.create_role("default", _unique("readers"))
    admin.add_role_permission(role.id, "experiment", "*", "READ")
    admin.add_role_permission(role.id, "registered_model", model, "READ")
    admin.assign_role(reader[0], role.id)

    _, tracking = use(reader)
    assert tracking.get_experiment(experiment_id).experiment_id == experiment_id
    assert experiment_id in [e.experiment_id for e in tracking.search_experiments()]
    assert tracking.get_registered_model(model).name == model
    assert model in [m.name for m in tracking.search_registered_models()]
    assert _code(lambda: tracking.set_experiment_tag(experiment_id, "k", "v")) == "PERMISSION_DENIED"  # READ only

    admin, _ = use(ADMIN)
    admin.unassign_role(reader[0], role.id)
    _, tracking = use(reader)
    assert _code(lambda: tracking.get_experiment(experiment_id)) == "PERMISSION_DENIED"
    assert experiment_id not in [e.experiment_id for e in tracking.search_experiments()]
    assert model not in [m.name for m in tracking.search_registered_models()]


def test_role_grants_fold_with_per_user_grants(use: Use, auth_server: AuthServer) -> None:
    """As in MLflow: the highest grant wins, and a DENY on an experiment vetoes the others on it."""
    user = auth_server.add_user(_unique("roles-folded"))
    admin, admin_tracking = use(ADMIN)
    edited, denied = (admin_tracking.create_experiment(_unique("roles-fold")) for _ in range(2))
    admin.grant_user_permission(user[0], "experiment", edited, "READ")
    admin.grant_user_permission(user[0], "experiment", denied, "MANAGE")
    role = admin.create_role("default", _unique("folded"))
    admin.add_role_permission(role.id, "experiment", edited, "EDIT")
    admin.add_role_permission(role.id, "experiment", denied, "DENY")
    admin.add_role_permission(role.id, "experiment", "*", "READ")
    admin.assign_role(user[0], role.id)

    _, tracking = use(user)
    tracking.set_experiment_tag(edited, "k", "v")  # the role's EDIT over the user's own READ
    assert _code(lambda: tracking.get_experiment(denied)) == "PERMISSION_DENIED"  # DENY over the user's MANAGE
    found = [e.experiment_id for e in tracking.search_experiments()]
    assert edited in found
    assert denied not in found
    mine, _ = use(user)
    assert mine.get_user_permission(user[0], "experiment", edited).permission == "EDIT"


def test_a_user_without_a_role_in_the_workspace_cannot_manage_roles(use: Use, auth_server: AuthServer) -> None:
    user = auth_server.add_user(_unique("roles-nobody"))
    admin, _ = use(ADMIN)
    role = admin.create_role("default", _unique("guarded"))
    mine, _ = use(user)
    assert _error(lambda: mine.create_role("default", "mine")) == (
        "PERMISSION_DENIED",
        "Permission denied: roles of a workspace are managed by administrators and the workspace's administrators.",
    )
    assert _code(lambda: mine.add_role_permission(role.id, "experiment", "*", "MANAGE")) == "PERMISSION_DENIED"
    assert _code(lambda: mine.assign_role(user[0], role.id)) == "PERMISSION_DENIED"
    assert _code(lambda: mine.delete_role(role.id)) == "PERMISSION_DENIED"
    assert _code(lambda: mine.get_role(role.id)) == "PERMISSION_DENIED"
    assert _code(lambda: mine.list_roles("default")) == "PERMISSION_DENIED"
    assert _code(lambda: mine.get_role(10**6)) == "PERMISSION_DENIED"  # an unknown role is not reported to them


def test_a_workspace_administrator_manages_its_roles(use: Use, auth_server: AuthServer) -> None:
    """A role with MANAGE on the workspace makes its holders administrators of the workspace: they manage its
    roles, and hold MANAGE on everything in it."""
    boss, worker = auth_server.add_user(_unique("roles-boss")), auth_server.add_user(_unique("roles-worker"))
    admin, admin_tracking = use(ADMIN)
    experiment_id = admin_tracking.create_experiment(_unique("roles-admins"))
    admins = admin.create_role("default", _unique("admins"))
    admin.add_role_permission(admins.id, "workspace", "*", "MANAGE")
    admin.assign_role(boss[0], admins.id)
    worker_id = admin.get_user(worker[0]).id

    mine, tracking = use(boss)
    tracking.set_experiment_tag(experiment_id, "k", "v")
    team = mine.create_role("default", _unique("team"))
    mine.add_role_permission(team.id, "experiment", experiment_id, "READ")
    mine.assign_role(worker[0], team.id)
    assert [a.user_id for a in mine.list_role_users(team.id)] == [worker_id]
    assert [r.id for r in mine.list_user_roles(worker[0])] == [team.id]
    _, worker_tracking = use(worker)
    assert worker_tracking.get_experiment(experiment_id).experiment_id == experiment_id
    mine, _ = use(boss)
    mine.delete_role(team.id)
    assert _code(lambda: mine.list_all_roles()) == "PERMISSION_DENIED"  # across workspaces: administrators only


def test_bad_requests_get_mlflows_errors(use: Use, auth_server: AuthServer) -> None:
    admin, _ = use(ADMIN)
    invalid = "INVALID_PARAMETER_VALUE"
    assert _error(lambda: admin.create_role("default", "")) == (invalid, "Role name cannot be empty.")
    assert _error(lambda: admin.create_role("default", "__user_7__")) == (
        invalid,
        "Role name '__user_7__' uses the reserved '__user_' prefix, which is held for the per-user permission "
        "representation. Choose a different name.",
    )
    name = _unique("twice")
    role = admin.create_role("default", name)
    assert _error(lambda: admin.create_role("default", name)) == (
        "RESOURCE_ALREADY_EXISTS",
        f"Role (name={name}, workspace=default) already exists.",
    )
    other = admin.create_role("default", _unique("other"))
    assert _error(lambda: admin.update_role(other.id, name=name)) == (
        "RESOURCE_ALREADY_EXISTS",
        f"Role with name={name} already exists in workspace=default",
    )
    assert _error(lambda: admin.update_role(role.id)) == (
        invalid,
        "At least one of 'name' or 'description' must be provided to update a role.",
    )
    assert _error(lambda: admin.create_role("team-x", _unique("elsewhere"))) == (
        "FEATURE_DISABLED",
        "Workspace 'team-x' is not available: workspaces are not enabled on this server, so roles live in "
        "workspace 'default'.",
    )
    for call in (lambda: admin.get_role(999_999), lambda: admin.list_role_users(999_999)):
        assert _error(call) == ("RESOURCE_DOES_NOT_EXIST", "Role with id=999999 not found")

    assert _error(lambda: admin.add_role_permission(role.id, "experiment", "*", "WRITE")) == (
        invalid,
        "Invalid permission 'WRITE'. Valid permissions are: ('READ', 'USE', 'EDIT', 'MANAGE', 'NO_PERMISSIONS', "
        "'DENY')",
    )
    assert _error(lambda: admin.add_role_permission(role.id, "experiment", "*", "NO_PERMISSIONS")) == (
        invalid,
        "Invalid permission 'NO_PERMISSIONS' for resource_type='experiment'. Resource-level grants accept only: "
        "('DENY', 'EDIT', 'MANAGE', 'READ', 'USE').",
    )
    assert _error(lambda: admin.add_role_permission(role.id, "workspace", "*", "READ")) == (
        invalid,
        "Invalid permission 'READ' for resource_type='workspace'. Workspace-wide grants accept only: "
        "('MANAGE', 'USE').",
    )
    assert _error(lambda: admin.add_role_permission(role.id, "run", "r-1", "READ")) == (
        invalid,
        "Invalid resource_pattern 'r-1' for resource_type='run'. This resource type supports only wildcard ('*') "
        "grants.",
    )
    code, message = _error(lambda: admin.add_role_permission(role.id, "model", "*", "READ"))
    assert (code, message.split(". ")[0]) == (invalid, "Invalid resource type 'model'")
    assert message.endswith("'scorer_version', 'skill', 'trace', 'workspace')")
    assert _error(lambda: admin.add_role_permission(999_999, "experiment", "*", "READ")) == (
        "RESOURCE_DOES_NOT_EXIST",
        "Role with id=999999 not found",
    )
    granted = admin.add_role_permission(role.id, "experiment", "*", "READ")
    assert _error(lambda: admin.add_role_permission(role.id, "experiment", "*", "EDIT")) == (
        "RESOURCE_ALREADY_EXISTS",
        f"Role permission (role_id={role.id}, resource_type=experiment, resource_pattern=*) already exists.",
    )
    assert _error(lambda: admin.update_role_permission(granted.id, "OWNER")) == (
        invalid,
        "Invalid permission 'OWNER'. Valid permissions are: ('READ', 'USE', 'EDIT', 'MANAGE', 'NO_PERMISSIONS', "
        "'DENY')",
    )

    user = auth_server.add_user(_unique("roles-assignee"))
    user_id = admin.get_user(user[0]).id
    assert _error(lambda: admin.assign_role("roles-nobody-at-all", role.id)) == (
        "RESOURCE_DOES_NOT_EXIST",
        "User with username=roles-nobody-at-all not found",
    )
    admin.assign_role(user[0], role.id)
    assert _error(lambda: admin.assign_role(user[0], role.id)) == (
        "RESOURCE_ALREADY_EXISTS",
        f"User role assignment (user_id={user_id}, role_id={role.id}) already exists",
    )
    assert _error(lambda: admin.unassign_role(user[0], other.id)) == (
        "RESOURCE_DOES_NOT_EXIST",
        f"User role assignment (user_id={user_id}, role_id={other.id}) not found",
    )
    with auth_server.http(ADMIN) as http:
        answer = http.get("/api/3.0/mlflow/roles/get", params={"role_id": "abc"})
    assert (answer.status_code, answer.json()["error_code"], answer.json()["message"]) == (
        400,
        invalid,
        "Parameter 'role_id' must be an integer. Got: 'abc'",
    )


# --- with workspaces: roles belong to one, and grant only there ---------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def workspaces_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """A server with `--auth` and `--enable-workspaces`, on MLflow's defaults."""
    base = tmp_path_factory.mktemp("roles-workspaces")
    store = new_store_uri(request.param, base, "roles_workspaces", request)
    env = {
        "RUNYARD_ADMIN_USERNAME": ADMIN[0],
        "RUNYARD_ADMIN_PASSWORD": ADMIN[1],
    }  # MLflow's default permission, READ: with workspaces it reaches only a workspace's members
    with runyard_server(store, base / "mlartifacts", "--auth", "--enable-workspaces", env=env) as url:
        yield AuthServer(url, store)


@pytest.fixture
def use_teams(monkeypatch: pytest.MonkeyPatch, workspaces_server: AuthServer) -> Iterator[Use]:
    yield from _signing_in(monkeypatch, workspaces_server.url)


def test_a_role_grants_only_in_its_own_workspace(use_teams: Use, workspaces_server: AuthServer) -> None:
    admin, admin_tracking = use_teams(ADMIN)
    mine, theirs = _unique("team-a"), _unique("team-b")
    experiments = {}
    for team in (mine, theirs):
        mlflow.create_workspace(team)
        mlflow.set_workspace(team)
        experiments[team] = admin_tracking.create_experiment("churn")  # the same name in both
    readers = admin.create_role(mine, "readers")
    assert admin.create_role(theirs, "readers").workspace == theirs  # names are unique per workspace
    admin.add_role_permission(readers.id, "experiment", "*", "READ")
    reader = workspaces_server.add_user(_unique("roles-team-reader"))
    admin.assign_role(reader[0], readers.id)

    _, tracking = use_teams(reader)
    mlflow.set_workspace(mine)
    assert tracking.get_experiment(experiments[mine]).name == "churn"
    assert [e.experiment_id for e in tracking.search_experiments()] == [experiments[mine]]
    mlflow.set_workspace(theirs)
    assert _code(lambda: tracking.get_experiment(experiments[theirs])) == "PERMISSION_DENIED"
    assert tracking.search_experiments() == []

    # An administrator of one workspace manages its roles, and no other workspace's.
    boss = workspaces_server.add_user(_unique("roles-team-boss"))
    admin, _ = use_teams(ADMIN)
    bosses = admin.create_role(mine, "bosses")
    admin.add_role_permission(bosses.id, "workspace", "*", "MANAGE")
    admin.assign_role(boss[0], bosses.id)
    boss_client, _ = use_teams(boss)
    assert boss_client.create_role(mine, "writers").workspace == mine
    assert {r.name for r in boss_client.list_roles(mine)} == {"admin", "user", "readers", "bosses", "writers"}
    assert _code(lambda: boss_client.create_role(theirs, "writers")) == "PERMISSION_DENIED"
    assert _code(lambda: boss_client.list_roles(theirs)) == "PERMISSION_DENIED"

    admin, _ = use_teams(ADMIN)
    assert _error(lambda: admin.create_role("no-such-team", "readers")) == (
        "RESOURCE_DOES_NOT_EXIST",
        "Workspace 'no-such-team' not found",
    )
    mlflow.set_workspace(None)
    gone = _unique("team-gone")
    mlflow.create_workspace(gone)
    doomed = admin.create_role(gone, "readers")
    mlflow.delete_workspace(gone)  # a deleted workspace's roles go with it
    assert _code(lambda: admin.get_role(doomed.id)) == "RESOURCE_DOES_NOT_EXIST"


def test_a_grant_on_a_registered_model_reaches_only_its_own_workspaces_model(
    use_teams: Use, workspaces_server: AuthServer
) -> None:
    admin, admin_tracking = use_teams(ADMIN)
    mine, theirs = _unique("team-a"), _unique("team-b")
    for team in (mine, theirs):
        mlflow.create_workspace(team)
        mlflow.set_workspace(team)
        admin_tracking.create_registered_model("ranker")  # the same name in both
    reader = workspaces_server.add_user(_unique("model-reader"))
    mlflow.set_workspace(mine)
    admin.grant_user_permission(reader[0], "registered_model", "ranker", "READ")

    _, tracking = use_teams(reader)
    mlflow.set_workspace(mine)
    assert tracking.get_registered_model("ranker").name == "ranker"
    mlflow.set_workspace(theirs)
    assert _code(lambda: tracking.get_registered_model("ranker")) == "PERMISSION_DENIED"
    assert tracking.search_registered_models() == []

    # The command line grants on a model of a named workspace, and only there.
    grant = ("users", "grant", reader[0], "READ", "--registered-model", "ranker", "--workspace", theirs)
    workspaces_server.runyard(*grant)
    assert tracking.get_registered_model("ranker").name == "ranker"
    assert [m.name for m in tracking.search_registered_models()] == ["ranker"]


def test_a_workspace_is_for_its_members(use_teams: Use, workspaces_server: AuthServer) -> None:
    """MLflow's workspace boundary: a new workspace comes with the roles `admin` and `user`; until a user holds a
    role there they neither see nor create anything in it, even where the server's default is READ; with the
    seeded `user` role they read everything and manage only what they create."""
    admin, admin_tracking = use_teams(ADMIN)
    team = _unique("team-members")
    mlflow.create_workspace(team)
    seeded = {role.name: role for role in admin.list_roles(team)}
    assert sorted(seeded) == ["admin", "user"]
    assert [
        (p.resource_type, p.resource_pattern, p.permission) for p in admin.list_role_permissions(seeded["admin"].id)
    ] == [("workspace", "*", "MANAGE")]
    assert [
        (p.resource_type, p.resource_pattern, p.permission) for p in admin.list_role_permissions(seeded["user"].id)
    ] == [("workspace", "*", "USE")]
    mlflow.set_workspace(team)
    churn = admin_tracking.create_experiment("churn")
    admin_tracking.create_registered_model("ranker")
    newcomer = workspaces_server.add_user(_unique("newcomer"))

    _, tracking = use_teams(newcomer)
    assert _code(lambda: tracking.get_experiment(churn)) == "PERMISSION_DENIED"
    assert tracking.search_experiments() == []
    assert tracking.search_registered_models() == []
    assert _code(lambda: tracking.create_experiment("mine")) == "PERMISSION_DENIED"
    assert team not in [w.name for w in mlflow.list_workspaces()]

    admin, _ = use_teams(ADMIN)
    admin.assign_role(newcomer[0], seeded["user"].id)
    _, tracking = use_teams(newcomer)
    assert tracking.get_experiment(churn).name == "churn"
    assert [e.name for e in tracking.search_experiments()] == ["churn"]
    assert [m.name for m in tracking.search_registered_models()] == ["ranker"]
    assert team in [w.name for w in mlflow.list_workspaces()]
    mine = tracking.create_experiment("mine")
    tracking.delete_experiment(mine)  # the creator manages what they create
    assert _code(lambda: tracking.delete_experiment(churn)) == "PERMISSION_DENIED"  # and only that
    assert tracking.create_registered_model("ranker-2").name == "ranker-2"
