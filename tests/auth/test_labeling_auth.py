"""Label schemas and review queues with `--auth`, through the stock client, on both databases: they follow their
experiment, as MLflow's basic-auth app rules. READ to see schemas, MANAGE to change them; a queue is seen by its
users, its owner and the experiment's managers, shaped by its owner or the managers, and its items are closed by its
users, under their own names."""

from __future__ import annotations

from collections.abc import Callable

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.genai import label_schemas, review_queues
from mlflow.genai.label_schemas import InputText

from tests.auth.conftest import ADMIN, AuthServer, User


def _refused(call: Callable[[], object]) -> tuple[str, str]:
    with pytest.raises(MlflowException) as refused:
        call()
    body = getattr(refused.value, "json", None)
    assert body is not None, f"refused by the client, not the server: {refused.value}"
    return body["error_code"], body["message"]


def _denied(call: Callable[[], object]) -> None:
    assert _refused(call)[0] == "PERMISSION_DENIED"


def _trace(experiment_id: str) -> str:
    mlflow.set_experiment(experiment_id=experiment_id)
    with mlflow.start_span("answer") as span:
        span.set_outputs("42")
    return span.trace_id


def test_label_schemas_need_read_to_see_and_manage_to_change(
    auth_server: AuthServer, as_user: Callable[[User], MlflowClient], request: pytest.FixtureRequest
) -> None:
    suffix = request.node.name[-40:]
    alice, bob = auth_server.add_user(f"alice-{suffix}"), auth_server.add_user(f"bob-{suffix}")
    experiment_id = as_user(alice).create_experiment(f"labels-{suffix}")
    schema = label_schemas.create_label_schema(
        "helpful", type="feedback", input=InputText(), experiment_id=experiment_id
    )
    assert schema.created_by == alice[0]  # the signed-in creator

    as_user(bob)
    _denied(lambda: label_schemas.get_label_schema(schema_id=schema.schema_id))
    _denied(lambda: label_schemas.get_label_schema("helpful", experiment_id=experiment_id))
    _denied(lambda: label_schemas.list_label_schemas(experiment_id))

    for level in ("READ", "EDIT"):
        auth_server.runyard("users", "grant", bob[0], level, "--experiment-id", experiment_id)
        assert label_schemas.get_label_schema(schema_id=schema.schema_id) == schema
        assert [s.name for s in label_schemas.list_label_schemas(experiment_id)] == ["Feedback", "helpful"]
        _denied(
            lambda: label_schemas.create_label_schema(
                "mine", type="feedback", input=InputText(), experiment_id=experiment_id
            )
        )
        _denied(lambda: label_schemas.update_label_schema(schema.schema_id, instruction="x"))
        _denied(lambda: label_schemas.delete_label_schema(schema_id=schema.schema_id))

    auth_server.runyard("users", "grant", bob[0], "MANAGE", "--experiment-id", experiment_id)
    assert label_schemas.update_label_schema(schema.schema_id, instruction="x").instruction == "x"
    label_schemas.delete_label_schema(schema_id=schema.schema_id)


def test_review_queues_follow_membership_and_ownership(
    auth_server: AuthServer, as_user: Callable[[User], MlflowClient], request: pytest.FixtureRequest
) -> None:
    suffix = request.node.name[-30:]
    alice, bob, carol, dan = (auth_server.add_user(f"{n}-{suffix}") for n in ("alice", "bob", "carol", "dan"))
    experiment_id = as_user(alice).create_experiment(f"queues-{suffix}")  # Alice manages it
    traces = [_trace(experiment_id) for _ in range(3)]
    for user, level in ((bob, "EDIT"), (carol, "READ"), (dan, "EDIT")):
        auth_server.runyard("users", "grant", user[0], level, "--experiment-id", experiment_id)

    as_user(bob)
    queue = review_queues.create_review_queue(
        "Bob's batch", queue_type="custom", users=[carol[0].upper()], experiment_id=experiment_id
    )
    assert (queue.created_by, queue.users) == (bob[0], [carol[0]])  # the server names the owner
    review_queues.add_items_to_review_queue(queue.queue_id, item_ids=traces[:2])
    private = review_queues.create_review_queue("Bob's own", queue_type="custom", experiment_id=experiment_id)

    # Carol may only read the experiment: she sees the queue she is assigned to, and nothing else.
    as_user(carol)
    assert review_queues.get_review_queue(queue.queue_id).name == "Bob's batch"
    assert review_queues.get_review_queue(name="Bob's batch", experiment_id=experiment_id).queue_id == queue.queue_id
    assert len(review_queues.list_review_queue_items(queue.queue_id)) == 2
    assert [q.name for q in review_queues.list_review_queues(experiment_id=experiment_id)] == ["Bob's batch"]
    _denied(lambda: review_queues.get_review_queue(private.queue_id))
    _denied(lambda: review_queues.get_review_queue(name="Bob's own", experiment_id=experiment_id))
    _denied(lambda: review_queues.add_items_to_review_queue(queue.queue_id, item_ids=[traces[2]]))
    _denied(lambda: review_queues.get_or_create_user_queue(carol[0], experiment_id=experiment_id))
    # ... and may not close items until she may edit the experiment.
    _denied(lambda: review_queues.set_review_queue_item_status(queue.queue_id, item_id=traces[0], status="complete"))
    auth_server.runyard("users", "grant", carol[0], "EDIT", "--experiment-id", experiment_id)
    done = review_queues.set_review_queue_item_status(
        queue.queue_id, item_id=traces[0], status="complete", completed_by="somebody-else"
    )
    assert (done.status, done.completed_by) == ("complete", carol[0])  # whoever the client names
    _denied(lambda: review_queues.update_review_queue(queue.queue_id, name="Carol's now"))
    _denied(lambda: review_queues.remove_items_from_review_queue(queue.queue_id, item_ids=[traces[1]]))

    # Dan may edit the experiment but neither owns the queue nor is one of its users.
    as_user(dan)
    assert {q.name for q in review_queues.list_review_queues(experiment_id=experiment_id)} == {
        "Bob's batch",
        "Bob's own",
    }
    _denied(lambda: review_queues.get_review_queue(queue.queue_id))
    _denied(lambda: review_queues.list_review_queue_items(queue.queue_id))
    review_queues.add_items_to_review_queue(queue.queue_id, item_ids=[traces[2]])  # flagging for review is open
    _denied(lambda: review_queues.set_review_queue_item_status(queue.queue_id, item_id=traces[2], status="declined"))
    _denied(lambda: review_queues.update_review_queue(queue.queue_id, users=[dan[0]]))
    _denied(lambda: review_queues.delete_review_queue(queue.queue_id))

    # Bob owns it: he shapes and prunes it, but cannot hand it over.
    as_user(bob)
    reshaped = review_queues.update_review_queue(queue.queue_id, name="Bob's batch 2", users=[carol[0], bob[0]])
    assert reshaped.users == sorted([carol[0], bob[0]])
    review_queues.remove_items_from_review_queue(queue.queue_id, item_ids=[traces[2]])
    _denied(lambda: review_queues.update_review_queue(queue.queue_id, new_owner=dan[0]))

    # Alice manages the experiment: she sees, hands over and deletes any queue.
    as_user(alice)
    assert review_queues.update_review_queue(queue.queue_id, new_owner=dan[0]).created_by == dan[0]
    as_user(dan)
    assert review_queues.get_review_queue(queue.queue_id).created_by == dan[0]  # an owner with EDIT sees it
    as_user(alice)
    review_queues.delete_review_queue(private.queue_id)
    _denied(lambda: review_queues.set_review_queue_item_status(queue.queue_id, item_id=traces[1], status="declined"))


def test_user_queues_and_usernames(
    auth_server: AuthServer, as_user: Callable[[User], MlflowClient], request: pytest.FixtureRequest
) -> None:
    suffix = request.node.name[-30:]
    erin, frank = auth_server.add_user(f"erin-{suffix}"), auth_server.add_user(f"frank-{suffix}")
    experiment_id = as_user(erin).create_experiment(f"user-queues-{suffix}")
    auth_server.runyard("users", "grant", frank[0], "EDIT", "--experiment-id", experiment_id)

    as_user(frank)
    theirs = review_queues.get_or_create_user_queue(erin[0], experiment_id=experiment_id)
    assert (theirs.created_by, theirs.users) == (erin[0], [erin[0]])  # the user owns their own queue
    _denied(lambda: review_queues.delete_review_queue(theirs.queue_id))
    for name in (erin[0], f" {erin[0].upper()} "):
        assert _refused(
            lambda name=name: review_queues.create_review_queue(name, queue_type="custom", experiment_id=experiment_id)
        ) == (
            "INVALID_PARAMETER_VALUE",
            f"'{erin[0]}' is a registered user. A custom review queue cannot use a username as its name; "
            "assign that user to a queue instead.",
        )
    mine = review_queues.create_review_queue("Frank's", queue_type="custom", experiment_id=experiment_id)
    assert _refused(lambda: review_queues.update_review_queue(mine.queue_id, name=erin[0])) == (
        "INVALID_PARAMETER_VALUE",
        f"'{erin[0]}' is a registered user. A custom review queue cannot be renamed to a username; "
        "assign that user to a queue instead.",
    )
    review_queues.delete_review_queue(mine.queue_id)  # his own custom queue

    trace_id = _trace(experiment_id)
    review_queues.add_items_to_review_queue(theirs.queue_id, item_ids=[trace_id])
    as_user(ADMIN)  # administrators review anywhere, as MLflow's admins bypass its checks
    closed = review_queues.set_review_queue_item_status(theirs.queue_id, item_id=trace_id, status="complete")
    assert closed.completed_by == ADMIN[0]
    reopened = review_queues.set_review_queue_item_status(theirs.queue_id, item_id=trace_id, status="pending")
    assert reopened.completed_by is None
    review_queues.delete_review_queue(theirs.queue_id)
