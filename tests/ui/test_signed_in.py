"""With `--auth` the browser signs in (HTTP Basic, the browser's own prompt) and the UI shows only what that user
may read: the pages go through the same permission checks as the API. (Anonymous requests get the 401 that makes
the browser prompt; the route walk in tests/auth checks that for every route.)"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.auth.conftest import ADMIN, AuthServer
from tests.support.processes import runyard_server
from tests.ui.conftest import covered_sidebar_items, signed_in

API = "/api/2.0/mlflow"


@dataclass(frozen=True)
class Private:
    server: AuthServer
    alice: tuple[str, str]
    bob: tuple[str, str]
    experiment_id: str
    run_id: str


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Private]:
    """Alice's experiment and run on a server where nobody may read what is not theirs."""
    base = tmp_path_factory.mktemp("ui-auth")
    store = f"sqlite:///{base / 'db.sqlite'}"
    env = {
        "RUNYARD_ADMIN_USERNAME": ADMIN[0],
        "RUNYARD_ADMIN_PASSWORD": ADMIN[1],
        "RUNYARD_AUTH_DEFAULT_PERMISSION": "NO_PERMISSIONS",
    }
    with runyard_server(store, base / "mlartifacts", "--auth", env=env) as url:
        server = AuthServer(url, store)
        alice, bob = server.add_user("alice-ui"), server.add_user("bob-ui")
        with server.http(alice) as http:
            experiment_id = http.post(f"{API}/experiments/create", json={"name": "alice-secret"}).json()[
                "experiment_id"
            ]
            run = http.post(f"{API}/runs/create", json={"experiment_id": experiment_id, "run_name": "alice-run"})
            run_id = run.json()["run"]["info"]["run_id"]
            params = {"run_id": run_id, "key": "secret-param", "value": "42"}
            assert http.post(f"{API}/runs/log-parameter", json=params).status_code == 200
        with server.http(bob) as http:
            assert http.post(f"{API}/experiments/create", json={"name": "bob-own"}).status_code == 200
        yield Private(server, alice, bob, experiment_id, run_id)


def test_the_owner_sees_her_experiment_and_run(private: Private, browser: Browser, screenshots: Path) -> None:
    page = signed_in(browser, private.alice)
    page.goto(f"{private.server.url}/#/experiments")
    expect(page.get_by_role("link", name="alice-secret", exact=True)).to_be_visible()
    page.goto(f"{private.server.url}/#/experiments/{private.experiment_id}/runs/{private.run_id}")
    expect(page.get_by_role("cell", name="secret-param", exact=True)).to_be_visible()
    page.screenshot(path=str(screenshots / "test_signed_in-owner-run.png"))
    page.context.close()


def test_another_user_sees_none_of_it(private: Private, browser: Browser, screenshots: Path) -> None:
    page = signed_in(browser, private.bob)
    page.goto(f"{private.server.url}/#/experiments")
    expect(page.get_by_role("link", name="bob-own", exact=True)).to_be_visible()
    expect(page.get_by_text("alice-secret")).to_have_count(0)
    page.goto(f"{private.server.url}/#/experiments/{private.experiment_id}/runs/{private.run_id}")
    expect(page.get_by_text("Permission denied").first).to_be_visible()
    expect(page.get_by_text("secret-param")).to_have_count(0)
    page.screenshot(path=str(screenshots / "test_signed_in-other-user-run.png"))
    page.context.close()


def test_the_ui_knows_who_is_signed_in_and_gets_no_errors(
    private: Private, browser: Browser, screenshots: Path
) -> None:
    page = signed_in(browser, private.alice)
    failed: list[str] = []
    page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.status} {r.request.method} {r.url}"))
    with page.expect_response(lambda r: r.url.endswith("/users/current")) as current:
        page.goto(f"{private.server.url}/#/experiments")
    user = current.value.json()
    assert user["user"]["username"] == private.alice[0]
    assert (user["user"]["is_admin"], user["is_basic_auth"]) == (False, True)
    with private.server.http(private.alice) as http:  # what the UI asks before enabling trace and review controls
        answer = http.get("/ajax-api/3.0/mlflow/users/current/permissions").json()
    grants = {(g["resource_type"], g["resource_pattern"]): g["permission"] for g in answer["permissions"]}
    assert grants[("experiment", private.experiment_id)] == "MANAGE"  # she created it
    assert grants[("experiment", "*")] == "NO_PERMISSIONS"  # the server's default
    expect(page.get_by_role("link", name="alice-secret", exact=True)).to_be_visible()
    expect(page.get_by_text(private.alice[0], exact=True)).to_be_visible()  # the sidebar's account menu
    page.goto(f"{private.server.url}/#/experiments/{private.experiment_id}")
    page.goto(f"{private.server.url}/#/experiments/{private.experiment_id}/runs/{private.run_id}")
    expect(page.get_by_role("cell", name="secret-param", exact=True)).to_be_visible()
    page.screenshot(path=str(screenshots / "test_signed_in-no-errors.png"))
    page.context.close()
    assert not failed, f"the UI got errors: {failed}"


def test_a_user_changes_her_password_on_the_account_page(private: Private, browser: Browser, screenshots: Path) -> None:
    user = private.server.add_user("carol-ui")
    new_password = "a-new-passphrase-1"
    page = signed_in(browser, user)
    page.goto(f"{private.server.url}/#/account")
    expect(page.get_by_text("Logged in as")).to_contain_text(user[0])
    expect(page.get_by_text("No roles")).to_be_visible()  # she holds none
    page.get_by_role("button", name="Change password").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_placeholder("Enter current password").fill(user[1])
    dialog.get_by_placeholder("Enter new password").fill(new_password)
    dialog.get_by_placeholder("Confirm new password").fill(new_password)
    with page.expect_response(lambda r: r.url.endswith("/users/update-password")) as changed:
        dialog.get_by_role("button", name="Update password").click()
    assert changed.value.status == 200
    page.screenshot(path=str(screenshots / "test_signed_in-password-changed.png"))
    # The page would go on polling with the old password; leaving it first keeps its context's close from waiting on
    # those refused requests (a loaded run hung there until the test's timeout).
    page.goto("about:blank")
    page.context.close()
    with private.server.http((user[0], new_password)) as http:
        assert http.get("/ajax-api/2.0/mlflow/users/current").json()["user"]["username"] == user[0]
    with private.server.http(user) as http:
        assert http.get("/ajax-api/2.0/mlflow/users/current").status_code == 401


def test_the_admin_page_lists_every_user_and_a_user_reads_only_her_own_roles(
    private: Private, browser: Browser, screenshots: Path
) -> None:
    page = signed_in(browser, ADMIN)
    page.goto(f"{private.server.url}/#/admin")
    users = page.get_by_role("table")
    for name in (ADMIN[0], private.alice[0], private.bob[0]):
        expect(users.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(users.get_by_role("row").filter(has_text=ADMIN[0])).to_contain_text("Admin")
    # Signed in, the sidebar ends with the account menu; the Jobs link must sit above its links, covering none.
    expect(page.get_by_role("navigation", name="Runyard").get_by_role("link", name="Jobs")).to_be_visible()
    assert covered_sidebar_items(page) == []
    page.screenshot(path=str(screenshots / "test_signed_in-admin-users.png"))
    page.context.close()
    with private.server.http(private.bob) as http:
        assert http.get("/ajax-api/3.0/mlflow/users/roles/list", params={"username": private.bob[0]}).json() == {
            "roles": []
        }
        assert (
            http.get("/ajax-api/3.0/mlflow/users/roles/list", params={"username": private.alice[0]}).status_code == 403
        )
        assert http.get("/ajax-api/3.0/mlflow/roles/list").status_code == 403  # administrators only
