"""Registry webhooks through the stock client: CRUD in MLflow's shapes and words, signed deliveries of registry
events from the outbox, retries, disabling, and `test_webhook`.

Disabling a webhook drops the events that happen while it is disabled (MLflow sends nothing for them either);
events recorded before it was disabled wait and go out once it is active again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from mlflow import MlflowClient
from mlflow.entities.webhook import WebhookEvent, WebhookStatus
from mlflow.exceptions import MlflowException

from tests.webhooks.conftest import WAIT_SECONDS, Received, Receiver

API = "/api/2.0/mlflow/webhooks"


def _signed_by(secret: str, request: Received) -> bool:
    delivery_id = request.headers["X-MLflow-Delivery-Id"]
    timestamp = request.headers["X-MLflow-Timestamp"]
    signed = f"{delivery_id}.{timestamp}.{request.body.decode()}".encode()
    expected = "v1," + base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, request.headers["X-MLflow-Signature"])


def _error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    assert "error_code" in body, f"{response.request.method} {response.request.url}: {response.text}"
    return response.status_code, body["error_code"], body["message"]


def test_crud_round_trip_with_the_client(wh_client: MlflowClient, receiver: Receiver, unique: str) -> None:
    url = f"{receiver.base_url}/crud"
    created = wh_client.create_webhook(
        name=unique[:60], url=url, events=["model_version.created"], description="first", secret="s3cret"
    )
    assert uuid.UUID(created.webhook_id).version == 4
    assert (created.name, created.url, created.description, created.status) == (
        unique[:60],
        url,
        "first",
        WebhookStatus.ACTIVE,
    )
    assert [(e.entity.value, e.action.value) for e in created.events] == [("model_version", "created")]
    assert created.creation_timestamp == created.last_updated_timestamp > 0

    fetched = wh_client.get_webhook(created.webhook_id)
    assert (fetched.webhook_id, fetched.name, fetched.url) == (created.webhook_id, created.name, url)
    assert created.webhook_id in [w.webhook_id for w in wh_client.list_webhooks(max_results=1000)]

    updated = wh_client.update_webhook(
        created.webhook_id,
        description="second",
        status=WebhookStatus.DISABLED,
        events=[WebhookEvent("model_version_alias", "created"), "model_version_tag.set"],
    )
    assert (updated.name, updated.url, updated.description, updated.status) == (
        created.name,
        url,
        "second",
        WebhookStatus.DISABLED,
    )
    assert sorted((e.entity.value, e.action.value) for e in updated.events) == [
        ("model_version_alias", "created"),
        ("model_version_tag", "set"),
    ]
    assert updated.last_updated_timestamp >= created.last_updated_timestamp

    wh_client.delete_webhook(created.webhook_id)
    with pytest.raises(MlflowException) as missing:
        wh_client.get_webhook(created.webhook_id)
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert missing.value.message == f"RESOURCE_DOES_NOT_EXIST: Webhook with ID {created.webhook_id} not found."
    assert created.webhook_id not in [w.webhook_id for w in wh_client.list_webhooks(max_results=1000)]


def test_list_pages_newest_first(webhook_server: str, receiver: Receiver, unique: str) -> None:
    ids = []
    for i in range(3):
        body = {
            "name": f"{unique[:50]}-{i}",
            "url": receiver.base_url,
            "events": [{"entity": "PROMPT", "action": "CREATED"}],
        }
        response = httpx.post(webhook_server + API, json=body)
        assert response.status_code == 200, response.text
        ids.append(response.json()["webhook"]["webhook_id"])
    first = httpx.get(webhook_server + API, params={"max_results": 2}).json()
    assert len(first["webhooks"]) == 2
    second = httpx.get(webhook_server + API, params={"max_results": 2, "page_token": first["next_page_token"]}).json()
    listed = [w["webhook_id"] for w in first["webhooks"] + second["webhooks"]]
    assert listed[:3] == ids[::-1]
    for prefix in ("/api", "/ajax-api"):
        response = httpx.get(f"{webhook_server}{prefix}/2.0/mlflow/webhooks/{ids[0]}")
        assert response.status_code == 200
        assert response.json()["webhook"]["events"] == [{"entity": "PROMPT", "action": "CREATED"}]


def test_the_secret_is_never_returned(webhook_server: str, receiver: Receiver, unique: str) -> None:
    body = {
        "name": "hidden",
        "url": receiver.base_url,
        "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}],
        "secret": "never-shown-42",
    }
    created = httpx.post(webhook_server + API, json=body)
    assert created.status_code == 200, created.text
    webhook_id = created.json()["webhook"]["webhook_id"]
    answers = [
        created,
        httpx.get(f"{webhook_server}{API}/{webhook_id}"),
        httpx.get(webhook_server + API, params={"max_results": 1000}),
        httpx.patch(f"{webhook_server}{API}/{webhook_id}", json={"secret": "also-never-shown"}),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert "secret" not in answer.text
        assert "never-shown" not in answer.text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"name": "-bad-", "url": "http://127.0.0.1/x"},
            "Webhook name '-bad-' is invalid. It must start and end with a letter or digit, be less than 63 "
            "characters long, and contain only letters, digits, dots (.), underscores (_), and hyphens (-).",
        ),
        ({"name": "ok", "url": "   "}, "Webhook URL cannot be empty or just whitespace: '   '"),
        (
            {"name": "ok", "url": "ftp://example.com/x"},
            "Invalid webhook URL scheme: 'ftp'. Allowed schemes are: http, https.",
        ),
        ({"name": "ok", "url": "http:///x"}, "Webhook URL must include a hostname: 'http:///x'"),
        (
            {"name": "ok", "url": "http://127.0.0.1/x", "events": []},
            "Webhook events must be a non-empty list of WebhookEvent objects: [].",
        ),
        (
            {"name": "ok", "url": "http://127.0.0.1/x", "events": [{"entity": "MODEL_VERSION", "action": "SET"}]},
            "Invalid action 'set' for entity 'model_version'. Valid actions are: ['created']",
        ),
        (
            {"name": "ok", "url": "http://127.0.0.1/x", "events": [{"entity": "model_version", "action": "created"}]},
            "Invalid value \"model_version\" for parameter 'entity' supplied: Value must be one of REGISTERED_MODEL, "
            "MODEL_VERSION, MODEL_VERSION_TAG, MODEL_VERSION_ALIAS, PROMPT, PROMPT_VERSION, PROMPT_TAG, "
            "PROMPT_VERSION_TAG, PROMPT_ALIAS, BUDGET_POLICY. See the API docs for more information about request "
            "parameters.",
        ),
        (
            {"url": "http://127.0.0.1/x"},
            "Missing value for required parameter 'name'. See the API docs for more "
            "information about request parameters.",
        ),
    ],
)
def test_create_is_refused_in_mlflow_words(webhook_server: str, body: dict[str, Any], message: str) -> None:
    body = {"events": [{"entity": "MODEL_VERSION", "action": "CREATED"}], **body}
    assert _error(httpx.post(webhook_server + API, json=body)) == (400, "INVALID_PARAMETER_VALUE", message)


def test_lookups_and_limits_are_refused_in_mlflow_words(webhook_server: str) -> None:
    missing = str(uuid.uuid4())
    expected = (404, "RESOURCE_DOES_NOT_EXIST", f"Webhook with ID {missing} not found.")
    assert _error(httpx.get(f"{webhook_server}{API}/{missing}")) == expected
    assert _error(httpx.patch(f"{webhook_server}{API}/{missing}", json={"name": "x"})) == expected
    assert _error(httpx.delete(f"{webhook_server}{API}/{missing}")) == expected
    assert _error(httpx.post(f"{webhook_server}{API}/{missing}/test", json={})) == expected
    for bad in (-1, 1001):  # 0 is "unset" in protobuf, so the default 100, as in MLflow
        assert _error(httpx.get(webhook_server + API, params={"max_results": bad})) == (
            400,
            "INVALID_PARAMETER_VALUE",
            "max_results must be between 1 and 1000.",
        )


def test_registry_changes_are_delivered_signed(
    wh_client: MlflowClient, receiver: Receiver, hook_path: str, unique: str
) -> None:
    secret = "shared-secret-1"
    wh_client.create_webhook(
        name="signed",
        url=receiver.base_url + hook_path,
        events=["model_version.created", "model_version_alias.created"],
        secret=secret,
    )
    wh_client.create_registered_model(unique)  # not subscribed: nothing is sent for it
    wh_client.create_model_version(unique, "s3://bucket/model", tags={"team": "search"}, description="v1")
    wh_client.set_registered_model_alias(unique, "champion", "1")

    got = receiver.wait_for(hook_path, lambda found: len(found) >= 2)
    assert len(got) == 2
    for request in got:
        assert request.headers["Content-Type"] == "application/json"
        assert uuid.UUID(request.headers["X-MLflow-Delivery-Id"])
        assert request.headers["X-MLflow-Timestamp"].isdigit()
        assert _signed_by(secret, request)
    bodies = [json.loads(request.body) for request in got]
    assert [(b["entity"], b["action"]) for b in bodies] == [
        ("model_version", "created"),
        ("model_version_alias", "created"),
    ]
    assert bodies[0]["data"] == {
        "name": unique,
        "version": "1",
        "source": "s3://bucket/model",
        "run_id": None,
        "tags": {"team": "search"},
        "description": "v1",
    }
    assert bodies[1]["data"] == {"name": unique, "alias": "champion", "version": "1"}
    assert bodies[0]["timestamp"].endswith("+00:00")


def test_a_503_is_retried_then_delivered_once(
    wh_client: MlflowClient, webhook_server: str, receiver: Receiver, hook_path: str, unique: str
) -> None:
    receiver.fail(hook_path, 2, headers={"Retry-After": "0"})
    hook = wh_client.create_webhook(
        name="retried", url=receiver.base_url + hook_path, events=["registered_model.created"]
    )
    wh_client.create_registered_model(f"{unique}-a", description="first")
    wh_client.create_registered_model(f"{unique}-b")
    # Deliveries of one webhook go out in commit order, so b's arrival means a's is finished.
    got = receiver.wait_for(hook_path, lambda found: any(b"-b" in r.body and r.answered == 200 for r in found))
    first = [r for r in got if json.loads(r.body)["data"]["name"] == f"{unique}-a"]
    assert [r.answered for r in first] == [503, 503, 200]
    assert len({r.headers["X-MLflow-Delivery-Id"] for r in first}) == 1
    assert len({r.body for r in first}) == 1  # the bytes were fixed at commit
    assert json.loads(first[0].body)["data"] == {"name": f"{unique}-a", "tags": {}, "description": "first"}
    assert [json.loads(r.body)["data"]["name"] for r in got if r.answered == 200] == [f"{unique}-a", f"{unique}-b"]
    assert [(d["state"], d["attempts"], d["last_status"]) for d in _deliveries(webhook_server, hook.webhook_id)] == [
        ("delivered", 1, 200),
        ("delivered", 3, 200),
    ]


def _deliveries(server: str, webhook_id: str) -> list[dict[str, Any]]:
    """The webhook's deliveries once none is pending: the receiver has its answer before the server has recorded
    it, so a test that saw the request arrive waits for the record too."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        response = httpx.get(f"{server}/runyard/api/webhooks/{webhook_id}/deliveries")
        assert response.status_code == 200, response.text
        listed = list(response.json()["deliveries"])
        if all(d["state"] != "pending" for d in listed) or time.monotonic() > deadline:
            return listed
        time.sleep(0.05)


def test_other_4xx_fail_at_once(
    wh_client: MlflowClient, webhook_server: str, receiver: Receiver, hook_path: str, unique: str
) -> None:
    receiver.fail(hook_path, 1, status=410)
    hook = wh_client.create_webhook(
        name="gone-away", url=receiver.base_url + hook_path, events=["registered_model.created"]
    )
    wh_client.create_registered_model(f"{unique}-a")
    wh_client.create_registered_model(f"{unique}-b")
    got = receiver.wait_for(hook_path, lambda found: any(r.answered == 200 for r in found))
    assert [(json.loads(r.body)["data"]["name"], r.answered) for r in got] == [
        (f"{unique}-a", 410),
        (f"{unique}-b", 200),
    ]
    newest, oldest = _deliveries(webhook_server, hook.webhook_id)
    assert (oldest["state"], oldest["attempts"], oldest["last_status"]) == ("failed", 1, 410)
    assert oldest["last_error"] == "HTTP 410: try later"
    assert oldest["delivery_id"] == got[0].headers["X-MLflow-Delivery-Id"]
    assert (newest["state"], newest["attempts"], newest["last_status"], newest["last_error"]) == (
        "delivered",
        1,
        200,
        None,
    )

    # An admin asks again: the same delivery, byte for byte, under the same id.
    redo = httpx.post(
        f"{webhook_server}/runyard/api/webhooks/{hook.webhook_id}/deliveries/{oldest['delivery_id']}/redeliver",
        json={},
    )
    assert redo.status_code == 200, redo.text
    assert redo.json()["delivery"]["state"] == "pending"
    again = receiver.wait_for(hook_path, lambda found: len(found) == 3)[2]
    assert (again.answered, again.body) == (200, got[0].body)
    assert again.headers["X-MLflow-Delivery-Id"] == oldest["delivery_id"]
    assert _deliveries(webhook_server, hook.webhook_id)[1]["state"] == "delivered"
    unknown = httpx.post(f"{webhook_server}/runyard/api/webhooks/{hook.webhook_id}/deliveries/nope/redeliver", json={})
    refusal = unknown.json()
    assert (unknown.status_code, refusal["error_code"], refusal["message"]) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
        f"Delivery nope of webhook {hook.webhook_id} not found.",
    )


def test_tag_and_alias_changes_fire_their_events(
    wh_client: MlflowClient, receiver: Receiver, hook_path: str, unique: str
) -> None:
    wh_client.create_registered_model(unique)
    wh_client.create_model_version(unique, "s3://bucket/model")
    wh_client.create_webhook(
        name="tags",
        url=receiver.base_url + hook_path,
        events=["model_version_tag.set", "model_version_tag.deleted", "model_version_alias.deleted"],
    )
    wh_client.set_model_version_tag(unique, "1", "stage", "qa")
    wh_client.delete_model_version_tag(unique, "1", "stage")
    wh_client.set_registered_model_alias(unique, "champion", "1")  # not subscribed
    wh_client.delete_registered_model_alias(unique, "champion")
    got = receiver.wait_for(hook_path, lambda found: len(found) >= 3)
    assert [(json.loads(r.body)["entity"], json.loads(r.body)["action"], json.loads(r.body)["data"]) for r in got] == [
        ("model_version_tag", "set", {"name": unique, "version": "1", "key": "stage", "value": "qa"}),
        ("model_version_tag", "deleted", {"name": unique, "version": "1", "key": "stage"}),
        ("model_version_alias", "deleted", {"name": unique, "alias": "champion"}),
    ]


def test_disabling_stops_deliveries(wh_client: MlflowClient, receiver: Receiver, hook_path: str, unique: str) -> None:
    hook = wh_client.create_webhook(
        name="paused", url=receiver.base_url + hook_path, events=["registered_model.created"]
    )
    wh_client.update_webhook(hook.webhook_id, status=WebhookStatus.DISABLED)
    wh_client.create_registered_model(f"{unique}-while-disabled")
    wh_client.update_webhook(hook.webhook_id, status=WebhookStatus.ACTIVE)
    wh_client.create_registered_model(f"{unique}-after")
    got = receiver.wait_for(hook_path, lambda found: len(found) >= 1)
    assert [json.loads(r.body)["data"]["name"] for r in got] == [f"{unique}-after"]


def test_deleted_webhooks_get_nothing(wh_client: MlflowClient, receiver: Receiver, hook_path: str, unique: str) -> None:
    gone = wh_client.create_webhook(
        name="gone", url=f"{receiver.base_url}{hook_path}/gone", events=["registered_model.created"]
    )
    wh_client.delete_webhook(gone.webhook_id)
    wh_client.create_webhook(name="kept", url=receiver.base_url + hook_path, events=["registered_model.created"])
    wh_client.create_registered_model(unique)
    receiver.wait_for(hook_path, lambda found: len(found) >= 1)
    assert receiver.on(f"{hook_path}/gone") == []


def test_prompts_fire_prompt_events(wh_client: MlflowClient, receiver: Receiver, hook_path: str, unique: str) -> None:
    wh_client.create_webhook(
        name="prompts",
        url=receiver.base_url + hook_path,
        events=["prompt.created", "prompt_version.created", "registered_model.created", "model_version.created"],
    )
    wh_client.register_prompt(unique, "Hello {{name}}!", tags={"team": "search"})
    got = receiver.wait_for(hook_path, lambda found: len(found) >= 2)
    bodies = [json.loads(r.body) for r in got]
    assert [(b["entity"], b["action"]) for b in bodies] == [("prompt", "created"), ("prompt_version", "created")]
    assert bodies[1]["data"]["template"] == "Hello {{name}}!"
    assert bodies[1]["data"]["name"] == unique
    assert bodies[1]["data"]["version"] == "1"


def test_test_webhook_reports_the_answer(wh_client: MlflowClient, receiver: Receiver, hook_path: str) -> None:
    hook = wh_client.create_webhook(
        name="tested", url=receiver.base_url + hook_path, events=["model_version_alias.deleted"], secret="t0p"
    )
    result = wh_client.test_webhook(hook.webhook_id)
    assert (result.success, result.response_status, result.response_body, result.error_message) == (
        True,
        200,
        "ok",
        None,
    )
    request = receiver.on(hook_path)[-1]
    assert _signed_by("t0p", request)
    assert json.loads(request.body)["entity"] == "model_version_alias"

    receiver.fail(hook_path, 1)
    result = wh_client.test_webhook(hook.webhook_id, event="model_version.created")
    assert (result.success, result.response_status, result.response_body) == (False, 503, "try later")
    tested = json.loads(receiver.on(hook_path)[-1].body)
    assert (tested["entity"], tested["action"]) == ("model_version", "created")
    assert tested["data"] == {  # MLflow's example, which receivers written for `mlflow server` may check
        "name": "example_model",
        "version": "1",
        "source": "models:/123",
        "run_id": "abcd1234abcd5678",
        "tags": {"example_key": "example_value"},
        "description": "An example model version",
    }


def test_a_burst_goes_out_once_each_in_commit_order(
    wh_client: MlflowClient, receiver: Receiver, hook_path: str, unique: str
) -> None:
    wh_client.create_webhook(name="burst", url=receiver.base_url + hook_path, events=["registered_model.created"])
    names = [f"{unique}-{i}" for i in range(8)]
    for name in names:
        wh_client.create_registered_model(name)
    got = receiver.wait_for(hook_path, lambda found: any(names[-1].encode() in r.body for r in found))
    assert [json.loads(r.body)["data"]["name"] for r in got] == names
    assert len({r.headers["X-MLflow-Delivery-Id"] for r in got}) == len(names)


def test_concurrent_writes_through_two_processes_arrive_once_each_in_version_order(
    wh_client: MlflowClient, webhook_server: str, receiver: Receiver, hook_path: str, unique: str
) -> None:
    """Eight clients create 200 versions of one model through the two server processes. Versions are numbered in
    commit order, so each must be delivered exactly once, and in version order."""
    wh_client.create_registered_model(unique)
    wh_client.create_webhook(name="versions", url=receiver.base_url + hook_path, events=["model_version.created"])

    def create(count: int) -> None:
        writer = MlflowClient(webhook_server)
        for _ in range(count):
            writer.create_model_version(unique, "s3://bucket/model")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(create, [25] * 8))
    got = receiver.wait_for(hook_path, lambda found: len(found) >= 200)
    versions = [int(json.loads(r.body)["data"]["version"]) for r in got]
    assert versions == list(range(1, 201))
    assert len({r.headers["X-MLflow-Delivery-Id"] for r in got}) == 200
