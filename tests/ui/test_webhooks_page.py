"""The Webhooks page in Chromium: each webhook with its events, what was delivered to it with the receiver's last
answer, and Redeliver sending a failed delivery again, to a real receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mlflow import MlflowClient
from playwright.sync_api import Page, expect

from tests.support.processes import runyard_server
from tests.webhooks.conftest import WEBHOOK_ENV, Receiver

HOOK = "/hook/ui"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    listening = Receiver()
    yield listening
    listening.close()


@pytest.fixture(scope="module")
def hook_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("ui-webhooks")
    with runyard_server(f"sqlite:///{base / 'runyard.db'}", base / "mlartifacts", env=WEBHOOK_ENV) as url:
        yield url


def test_a_failed_delivery_is_shown_and_sent_again(page: Page, hook_server: str, receiver: Receiver) -> None:
    client = MlflowClient(hook_server)
    client.create_webhook(name="deploys", url=receiver.base_url + HOOK, events=["registered_model.created"])
    receiver.fail(HOOK, 1, status=410)
    client.create_registered_model("churn")
    delivery_id = receiver.wait_for(HOOK, lambda found: len(found) == 1)[0].headers["X-MLflow-Delivery-Id"]

    page.goto(f"{hook_server}/runyard/webhooks")
    webhook = page.locator("#webhooks tr")
    expect(webhook).to_have_count(1)
    expect(webhook).to_contain_text("deploys")
    expect(webhook).to_contain_text("registered_model.created")
    delivery = page.locator(f'#deliveries tr[data-delivery-id="{delivery_id}"]')
    expect(delivery).to_have_attribute("data-state", "failed")
    expect(delivery).to_contain_text("HTTP 410: try later")

    delivery.get_by_role("button", name="Redeliver").click()
    expect(delivery).to_have_attribute("data-state", "delivered")
    expect(delivery.get_by_role("button", name="Redeliver")).to_be_visible()  # delivered ones can go again too
    sent = receiver.wait_for(HOOK, lambda found: len(found) == 2)
    assert [r.answered for r in sent] == [410, 200]
    assert sent[1].headers["X-MLflow-Delivery-Id"] == delivery_id
