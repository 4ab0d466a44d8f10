"""Evaluation datasets with `--auth`: a dataset follows the experiments it belongs to, as in MLflow's basic-auth app.
Reading it needs READ on every one of them, writing EDIT, deleting MANAGE; creating one needs EDIT on the experiments
it is created in, and adding it to an experiment needs EDIT there too. Searches only find what the caller may read.
Driven through the stock client with each user's credentials, as a user would switch them."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.genai.datasets import (
    add_dataset_to_experiments,
    create_dataset,
    delete_dataset,
    get_dataset,
    remove_dataset_from_experiments,
    search_datasets,
    set_dataset_tags,
)

from tests.auth.conftest import ADMIN, AuthServer, User

API = "/api/3.0/mlflow/datasets"


def _denied(call: Callable[[], object]) -> str:
    with pytest.raises(MlflowException) as caught:
        call()
    assert caught.value.error_code == "PERMISSION_DENIED", caught.value.message
    return caught.value.message.removeprefix("PERMISSION_DENIED: ")  # the client prefixes the code


def _ids(datasets: object) -> list[str]:
    return [d.dataset_id for d in datasets]  # type: ignore[attr-defined]


def test_a_dataset_follows_its_experiments(
    auth_server: AuthServer, as_user: Callable[[User], MlflowClient], request: pytest.FixtureRequest
) -> None:
    name = request.node.name
    alice, bob = auth_server.add_user(f"alice-{name}"), auth_server.add_user(f"bob-{name}")
    as_alice = as_user(alice)
    experiment = as_alice.create_experiment(f"alice-{name}")  # Alice manages it, as its creator
    dataset = create_dataset(name="private", experiment_id=[experiment], tags={"k": "v"})
    dataset.merge_records([{"inputs": {"q": "secret"}, "expectations": {"a": "b"}}])

    as_bob = as_user(bob)
    message = _denied(lambda: get_dataset(dataset_id=dataset.dataset_id))
    assert message == f"Permission denied: READ on dataset {dataset.dataset_id} required."
    _denied(lambda: search_datasets(experiment_ids=[experiment]))
    assert dataset.dataset_id not in _ids(search_datasets())  # no experiment named: only what Bob may read
    _denied(lambda: set_dataset_tags(dataset.dataset_id, {"k": "stolen"}))
    with auth_server.http(bob) as http:
        upsert = http.post(f"{API}/{dataset.dataset_id}/records", json={"records": '[{"inputs": {}}]'})
        assert (upsert.status_code, upsert.json()["error_code"]) == (403, "PERMISSION_DENIED")
        assert http.get(f"{API}/{dataset.dataset_id}/records").status_code == 403
        assert http.get(f"{API}/{dataset.dataset_id}/experiment-ids").status_code == 403

    auth_server.runyard("users", "grant", bob[0], "READ", "--experiment-id", experiment)
    assert get_dataset(dataset_id=dataset.dataset_id).to_df()["inputs"].tolist() == [{"q": "secret"}]
    assert _ids(search_datasets(experiment_ids=[experiment])) == [dataset.dataset_id]
    assert dataset.dataset_id in _ids(search_datasets())
    _denied(lambda: set_dataset_tags(dataset.dataset_id, {"k": "stolen"}))
    with auth_server.http(bob) as http:
        upsert = http.post(f"{API}/{dataset.dataset_id}/records", json={"records": '[{"inputs": {}}]'})
        assert upsert.status_code == 403

    auth_server.runyard("users", "grant", bob[0], "EDIT", "--experiment-id", experiment)
    get_dataset(dataset_id=dataset.dataset_id).merge_records([{"inputs": {"q": "mine"}}])
    set_dataset_tags(dataset.dataset_id, {"reviewed": "yes"})
    _denied(lambda: delete_dataset(dataset_id=dataset.dataset_id))  # deleting needs MANAGE

    # Bob's own experiment: adding the dataset there needs EDIT on it, which he has as its creator.
    bobs = as_bob.create_experiment(f"bob-{name}")
    assert sorted(add_dataset_to_experiments(dataset.dataset_id, [bobs]).experiment_ids) == sorted([experiment, bobs])
    # Now in two experiments: Alice, who cannot read Bob's, can no longer read the dataset, nor find it.
    as_user(alice)
    _denied(lambda: get_dataset(dataset_id=dataset.dataset_id))
    assert _ids(search_datasets(experiment_ids=[experiment])) == []
    as_user(bob)
    remove_dataset_from_experiments(dataset.dataset_id, [bobs])
    as_user(alice)
    assert get_dataset(dataset_id=dataset.dataset_id).tags["reviewed"] == "yes"
    delete_dataset(dataset_id=dataset.dataset_id)


def test_creating_and_linking_need_edit_on_the_experiments(
    auth_server: AuthServer, as_user: Callable[[User], MlflowClient], request: pytest.FixtureRequest
) -> None:
    name = request.node.name
    alice, bob = auth_server.add_user(f"alice-{name}"), auth_server.add_user(f"bob-{name}")
    alices = as_user(alice).create_experiment(f"alice-{name}")
    as_bob = as_user(bob)
    bobs = as_bob.create_experiment(f"bob-{name}")
    _denied(lambda: create_dataset(name="intruder", experiment_id=[alices]))
    _denied(lambda: create_dataset(name="two", experiment_id=[bobs, alices]))
    message = _denied(lambda: as_bob.create_dataset(name="nowhere", experiment_id=[]))
    assert message == "Permission denied: a dataset must be created in an experiment the caller may edit."
    auth_server.runyard("users", "grant", bob[0], "READ", "--experiment-id", alices)
    mine = create_dataset(name="mine", experiment_id=[bobs])
    _denied(lambda: add_dataset_to_experiments(mine.dataset_id, [alices]))  # READ there is not enough
    assert get_dataset(dataset_id=mine.dataset_id).experiment_ids == [bobs]

    # An administrator may make a dataset in no experiment; nobody else can see it.
    as_user(ADMIN)
    orphan = create_dataset(name="orphan", experiment_id=[])
    assert orphan.experiment_ids == []
    as_user(bob)
    _denied(lambda: get_dataset(dataset_id=orphan.dataset_id))
    assert orphan.dataset_id not in _ids(search_datasets())


def test_unknown_datasets_answer_as_without_auth(auth_server: AuthServer, request: pytest.FixtureRequest) -> None:
    """A dataset id names no experiment until it exists, so its requests go to the handler, which answers as MLflow
    does: 404 for a read, nothing to do for a delete."""
    user = auth_server.add_user(f"carol-{request.node.name}")
    missing = "d-" + "0" * 32
    with auth_server.http(user) as http:
        response = http.get(f"{API}/{missing}")
        assert (response.status_code, response.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
        assert http.delete(f"{API}/{missing}").json() == {}
        records = http.post(f"{API}/{missing}/records", json={"records": json.dumps([{"inputs": {}}])})
        assert records.status_code == 404


def test_searches_show_only_readable_datasets(auth_server: AuthServer, request: pytest.FixtureRequest) -> None:
    """Naming only experiments the caller cannot read is refused, as for run searches; naming none finds only
    what the caller may read."""
    user = auth_server.add_user(f"dave-{request.node.name}")
    with auth_server.http(ADMIN) as admin, auth_server.http(user) as dave:
        experiment = admin.post("/api/2.0/mlflow/experiments/create", json={"name": f"admin-{request.node.name}"})
        experiment_id = experiment.json()["experiment_id"]
        made = admin.post(f"{API}/create", json={"name": "admins", "experiment_ids": [experiment_id]})
        assert made.status_code == 200, made.text
        refused = dave.post(f"{API}/search", json={"experiment_ids": [experiment_id]})
        assert (refused.status_code, refused.json()["error_code"]) == (403, "PERMISSION_DENIED")
        unscoped = dave.get(f"{API}/search")
        assert unscoped.status_code == 200
        assert made.json()["dataset"]["dataset_id"] not in unscoped.text
