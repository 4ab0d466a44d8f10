// The job list: filters live in the address (so a filtered view can be shared or reloaded), and the first pages
// are re-read every few seconds, so a job's status moves without reloading.
import {
  API,
  TERMINAL,
  backendLabel,
  call,
  cancelJob,
  element,
  experimentHref,
  formatDuration,
  formatTime,
  jobHref,
  runLink,
  showError,
  statusBadge,
} from "./common.js";

const REFRESH_MS = 2000;
const PAGE_SIZE = 50;
const FILTERS = ["status", "backend", "experiment_id"];

const form = document.getElementById("filters");
const rows = document.getElementById("rows");
const empty = document.getElementById("empty");
const more = document.getElementById("more");
let pages = 1;
let nextToken = null;
let timer = null;

function filtersFromAddress() {
  const query = new URLSearchParams(location.search);
  for (const name of FILTERS) form.elements[name].value = query.get(name) || "";
}

function addressFromFilters() {
  const query = new URLSearchParams();
  for (const name of FILTERS) if (form.elements[name].value) query.set(name, form.elements[name].value);
  const search = query.toString();
  history.replaceState(null, "", search ? `?${search}` : location.pathname);
}

async function loadExperiments() {
  const wanted = new URLSearchParams(location.search).get("experiment_id");
  const body = await call("/ajax-api/2.0/mlflow/experiments/search?max_results=1000");
  const select = form.elements.experiment_id;
  for (const experiment of body.experiments || []) {
    select.append(element("option", { text: experiment.name, attrs: { value: experiment.experiment_id } }));
  }
  if (wanted) select.value = wanted;
}

function row(job) {
  const cancel = element("button", { text: "Cancel", className: "danger", attrs: { type: "button" } });
  cancel.hidden = TERMINAL.has(job.status) || job.cancel_requested;
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      await cancelJob(job.job_id);
      await refresh();
    } catch (error) {
      showError(error);
      cancel.disabled = false;
    }
  });
  const cells = [
    element("td", { className: "mono" }, [element("a", { text: job.job_id.slice(0, 8), href: jobHref(job.job_id) })]),
    element("td", {}, [statusBadge(job)]),
    element("td", {}, [runLink(job)]),
    element("td", {}, [element("a", { text: job.experiment_name || job.experiment_id, href: experimentHref(job) })]),
    element("td", { text: job.user_id || "–" }),
    element("td", { text: job.entry_point, className: "mono" }),
    element("td", { text: backendLabel(job) }),
    element("td", { text: `${job.attempt} / ${job.max_attempts}` }),
    element("td", { text: formatTime(job.created_at) }),
    element("td", { text: formatDuration(job) }),
    element("td", {}, [cancel]),
  ];
  return element("tr", { attrs: { "data-job-id": job.job_id, "data-status": job.status } }, cells);
}

async function fetchPages() {
  const jobs = [];
  let token = null;
  for (let page = 0; page < pages; page++) {
    const query = new URLSearchParams({ max_results: String(PAGE_SIZE) });
    for (const name of FILTERS) if (form.elements[name].value) query.set(name, form.elements[name].value);
    if (token) query.set("page_token", token);
    const body = await call(`${API}/jobs?${query}`);
    jobs.push(...body.jobs);
    token = body.next_page_token || null;
    if (!token) break;
  }
  return { jobs, token };
}

async function refresh() {
  clearTimeout(timer);
  try {
    const { jobs, token } = await fetchPages();
    nextToken = token;
    rows.replaceChildren(...jobs.map(row));
    empty.hidden = jobs.length > 0;
    more.hidden = !nextToken;
    showError(null);
  } catch (error) {
    showError(error);
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

form.addEventListener("change", () => {
  pages = 1;
  addressFromFilters();
  refresh();
});
more.addEventListener("click", () => {
  pages += 1;
  refresh();
});

filtersFromAddress();
loadExperiments().catch(showError);
refresh();
