// Shared by the job pages: the job API, and how a job's facts read to a person. Text only ever goes into the page
// through textContent, so nothing a job prints or a user names can inject markup.

export const API = "/runyard/api";
export const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELED"]);
const STATUS_LABELS = {
  QUEUED: "Queued",
  LEASED: "Starting",
  RUNNING: "Running",
  SUCCEEDED: "Succeeded",
  FAILED: "Failed",
  CANCELED: "Canceled",
};

let workspaceHeader;

/** The workspace MLflow's UI is in, as the header the API reads: its switcher keeps the choice in localStorage,
 * and it names one only when the server has workspaces (server-info says so). */
export async function workspaceHeaders() {
  if (workspaceHeader === undefined) {
    workspaceHeader = {};
    try {
      const info = await (await fetch("/ajax-api/3.0/mlflow/server-info", { credentials: "same-origin" })).json();
      const active = info.workspaces_enabled && localStorage.getItem("mlflow.activeWorkspace");
      if (active) workspaceHeader = { "X-MLFLOW-WORKSPACE": active };
    } catch {
      // Without server-info the pages show the default workspace, as they do without workspaces.
    }
  }
  return workspaceHeader;
}

/** A JSON call; an MLflow-style error body becomes an Error carrying its message. */
export async function call(path, options = {}) {
  const headers = { ...(await workspaceHeaders()), ...(options.headers || {}) };
  const response = await fetch(path, { credentials: "same-origin", ...options, headers });
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) {
    throw new Error(body?.message || `${response.status} ${response.statusText}`);
  }
  return body;
}

export function element(tag, { text, className, href, attrs } = {}, children = []) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  if (href) node.href = href;
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

export function statusBadge(job) {
  const label = STATUS_LABELS[job.status] || job.status;
  const pending = job.cancel_requested && !TERMINAL.has(job.status) ? " (canceling)" : "";
  return element("span", { text: label + pending, className: `status ${job.status}` });
}

export function statusLabel(status) {
  return STATUS_LABELS[status] || status;
}

export function backendLabel(job) {
  const name = job.backend === "azureml" ? "Azure ML" : job.backend === "local" ? "Local" : job.backend;
  const compute = job.backend_config?.COMPUTE;
  return compute ? `${name} · ${compute}` : name;
}

export function runHref(job) {
  return `/#/experiments/${encodeURIComponent(job.experiment_id)}/runs/${encodeURIComponent(job.run_id)}`;
}

// A project job links to its run; one of MLflow's GenAI jobs (a scorer, an evaluation) has none.
export function runLink(job) {
  if (!job.run_id) return element("span", { text: "GenAI job", className: "muted" });
  return element("a", { text: job.run_name || job.run_id, href: runHref(job) });
}

// Parameter values as they were given: a project's are strings, a GenAI job's any JSON.
export function shownValue(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

export function experimentHref(job) {
  return `/#/experiments/${encodeURIComponent(job.experiment_id)}`;
}

export function jobHref(jobId) {
  return `/runyard/jobs/${encodeURIComponent(jobId)}`;
}

export function formatTime(ms) {
  return ms ? new Date(ms).toLocaleString() : "–";
}

export function formatDuration(job, now = Date.now()) {
  if (!job.started_at) return "–";
  let seconds = Math.max(0, Math.round(((job.finished_at || now) - job.started_at) / 1000));
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  seconds %= 60;
  if (hours) return `${hours}h ${minutes}m`;
  if (minutes) return `${minutes}m ${seconds}s`;
  return `${seconds}s`;
}

export async function cancelJob(jobId) {
  return call(`${API}/jobs/${encodeURIComponent(jobId)}/cancel`, { method: "POST" });
}

export function showError(error) {
  const banner = document.getElementById("error");
  banner.textContent = error ? String(error.message || error) : "";
  banner.hidden = !error;
}
