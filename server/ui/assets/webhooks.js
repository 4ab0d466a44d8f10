// The webhooks and, for the one picked, what was delivered: each delivery's state, attempts and the receiver's last
// answer, re-read every few seconds, with a button that sends a finished delivery again. Needs an admin's sign-in,
// as the routes it reads do; anyone else sees the API's refusal in the banner.
import { API, call, element, formatTime, showError } from "./common.js";

const REFRESH_MS = 2000;
const STATE_CLASSES = { pending: "RUNNING", delivered: "SUCCEEDED", failed: "FAILED" };

const webhookRows = document.getElementById("webhooks");
const deliveryRows = document.getElementById("deliveries");
const section = document.getElementById("deliveries-section");
let selected = new URLSearchParams(location.search).get("webhook_id");
let timer = null;

function eventName(event) {
  return `${event.entity}.${event.action}`.toLowerCase();
}

function webhookRow(webhook) {
  const pick = element("a", { text: webhook.name, href: `?webhook_id=${encodeURIComponent(webhook.webhook_id)}` });
  pick.addEventListener("click", (click) => {
    click.preventDefault();
    selected = webhook.webhook_id;
    history.replaceState(null, "", pick.href);
    refresh();
  });
  const cells = [
    element("td", {}, [pick]),
    element("td", { text: webhook.status }),
    element("td", { text: webhook.url, className: "mono" }),
    element("td", { text: (webhook.events || []).map(eventName).join(", "), className: "mono" }),
    element("td", { text: formatTime(Number(webhook.creation_timestamp)) }),
  ];
  const attrs = { "data-webhook-id": webhook.webhook_id };
  if (webhook.webhook_id === selected) attrs["aria-selected"] = "true";
  return element("tr", { attrs }, cells);
}

function deliveryRow(delivery) {
  const redeliver = element("button", { text: "Redeliver", attrs: { type: "button" } });
  redeliver.hidden = delivery.state === "pending";
  redeliver.addEventListener("click", async () => {
    redeliver.disabled = true;
    try {
      const path = `${API}/webhooks/${encodeURIComponent(selected)}/deliveries/${delivery.delivery_id}/redeliver`;
      await call(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
      await refresh();
    } catch (error) {
      showError(error);
      redeliver.disabled = false;
    }
  });
  const state = element("span", { text: delivery.state, className: `status ${STATE_CLASSES[delivery.state] || ""}` });
  const cells = [
    element("td", { text: delivery.delivery_id.slice(0, 8), className: "mono" }),
    element("td", { text: `${delivery.entity}.${delivery.action}`, className: "mono" }),
    element("td", {}, [state]),
    element("td", { text: delivery.attempts }),
    element("td", { text: delivery.last_status ?? "–" }),
    element("td", { text: delivery.last_error || "–", className: "mono" }),
    element("td", { text: formatTime(delivery.created_at) }),
    element("td", { text: formatTime(delivery.next_attempt_at) }),
    element("td", {}, [redeliver]),
  ];
  return element("tr", { attrs: { "data-delivery-id": delivery.delivery_id, "data-state": delivery.state } }, cells);
}

async function refresh() {
  clearTimeout(timer);
  try {
    const listed = await call("/ajax-api/2.0/mlflow/webhooks?max_results=1000");
    const webhooks = listed.webhooks || [];
    if (!webhooks.some((webhook) => webhook.webhook_id === selected)) selected = webhooks[0]?.webhook_id || null;
    webhookRows.replaceChildren(...webhooks.map(webhookRow));
    document.getElementById("no-webhooks").hidden = webhooks.length > 0;
    section.hidden = !selected;
    if (selected) {
      const chosen = webhooks.find((webhook) => webhook.webhook_id === selected);
      document.getElementById("selected").textContent = chosen.name;
      const body = await call(`${API}/webhooks/${encodeURIComponent(selected)}/deliveries?max_results=100`);
      deliveryRows.replaceChildren(...body.deliveries.map(deliveryRow));
      document.getElementById("no-deliveries").hidden = body.deliveries.length > 0;
    }
    showError(null);
  } catch (error) {
    showError(error);
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

refresh();
