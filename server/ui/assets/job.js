// One job: its facts (re-read every few seconds until it ends), cancel and retry, and its log followed live over
// server-sent events from the job API (resuming where it left off if the connection drops).
import {
  API,
  workspaceHeaders,
  TERMINAL,
  backendLabel,
  call,
  cancelJob,
  element,
  experimentHref,
  formatDuration,
  formatTime,
  runLink,
  showError,
  shownValue,
  statusBadge,
} from "./common.js";

const REFRESH_MS = 2000;
const jobId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
const base = `${API}/jobs/${encodeURIComponent(jobId)}`;
const log = document.getElementById("log");
const follow = document.getElementById("follow");
const cancel = document.getElementById("cancel");
const retry = document.getElementById("retry");
let current = null;
let timer = null;
let source = null;
let lastAttempt = null;

function fact(name, value) {
  const detail = value instanceof Node ? value : element("span", { text: value ?? "–" });
  return [element("dt", { text: name }), element("dd", {}, [detail])];
}

function render(job) {
  current = job;
  document.title = `${job.run_name || job.job_id} · Job · Runyard`;
  document.getElementById("crumb").textContent = job.job_id;
  document.getElementById("title").textContent = job.run_name || job.job_id;
  document.getElementById("status").replaceWith(Object.assign(statusBadge(job), { id: "status" }));
  const facts = [
    ...fact("Run", runLink(job)),
    ...fact("Experiment", element("a", { text: job.experiment_name || job.experiment_id, href: experimentHref(job) })),
    ...fact("Submitted by", job.user_id),
    ...fact(job.kind === "genai" ? "Job function" : "Entry point", job.entry_point),
    ...fact("Backend", backendLabel(job)),
    ...(job.external_id ? fact(job.backend === "azureml" ? "Azure ML job" : "External id", job.external_id) : []),
    ...fact("Attempt", `${job.attempt} of ${job.max_attempts}`),
    ...(job.lease_owner ? fact("Worker", job.lease_owner) : []),
    ...fact("Submitted", formatTime(job.created_at)),
    ...fact("Started", formatTime(job.started_at)),
    ...fact("Finished", formatTime(job.finished_at)),
    ...fact("Duration", formatDuration(job)),
    ...(job.exit_code !== null ? fact("Exit code", String(job.exit_code)) : []),
    ...(job.error ? fact("Error", element("span", { text: job.error, className: "mono" })) : []),
    ...(job.result != null ? fact("Result", element("span", { text: shownValue(job.result), className: "mono" })) : []),
    ...fact("Job id", element("span", { text: job.job_id, className: "mono" })),
  ];
  document.getElementById("facts").replaceChildren(...facts);
  const params = Object.entries(job.parameters || {});
  document.getElementById("params").replaceChildren(
    ...params.map(([name, value]) =>
      element("tr", {}, [element("td", { text: name, className: "mono" }), element("td", { text: shownValue(value) })]),
    ),
  );
  document.getElementById("no-params").hidden = params.length > 0;
  cancel.hidden = TERMINAL.has(job.status);
  cancel.disabled = job.cancel_requested;
  cancel.textContent = job.cancel_requested ? "Canceling…" : "Cancel job";
  retry.hidden = !(job.status === "FAILED" || job.status === "CANCELED");
}

async function refresh() {
  clearTimeout(timer);
  try {
    render(await call(base));
    showError(null);
  } catch (error) {
    showError(error);
  }
  if (!current || !TERMINAL.has(current.status)) timer = setTimeout(refresh, REFRESH_MS);
}

function append(entry) {
  if (entry.attempt !== lastAttempt) {
    if (lastAttempt !== null) log.append(element("span", { text: `\n── attempt ${entry.attempt} ──\n`, className: "attempt" }));
    lastAttempt = entry.attempt;
  }
  log.append(entry.stream === "stderr" ? element("span", { text: entry.text, className: "stderr" }) : entry.text);
  if (follow.checked) log.scrollTop = log.scrollHeight;
}

async function tail() {
  // EventSource resends Last-Event-ID on its own reconnects, so a dropped connection resumes without duplicates.
  // EventSource sends no headers of its own: the workspace goes in the query, which the job routes also read.
  const workspace = (await workspaceHeaders())["X-MLFLOW-WORKSPACE"];
  source = new EventSource(`${base}/logs/stream${workspace ? `?workspace=${encodeURIComponent(workspace)}` : ""}`);
  source.addEventListener("log", (event) => append(JSON.parse(event.data)));
  source.addEventListener("end", () => {
    source.close();
    refresh();
  });
}

cancel.addEventListener("click", async () => {
  cancel.disabled = true;
  try {
    render(await cancelJob(jobId));
    refresh();
  } catch (error) {
    showError(error);
    cancel.disabled = false;
  }
});
retry.addEventListener("click", async () => {
  retry.disabled = true;
  try {
    render(await call(`${base}/retry`, { method: "POST" }));
    log.replaceChildren();
    lastAttempt = null;
    source?.close();
    tail();
    refresh();
  } catch (error) {
    showError(error);
  } finally {
    retry.disabled = false;
  }
});
workspaceHeaders().then((headers) => {
  const workspace = headers["X-MLFLOW-WORKSPACE"];
  document.getElementById("full-log").href = `${base}/logs${workspace ? `?workspace=${encodeURIComponent(workspace)}` : ""}`;
});

refresh();
tail();
