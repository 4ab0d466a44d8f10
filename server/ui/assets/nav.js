// Loaded into MLflow's own UI: a link to Runyard's Jobs page, and on the page of a run a job started, a link to
// that job with its status. It only adds one fixed-position box, so it does not depend on MLflow's markup.
(() => {
  const RUN_PAGE = /^#\/experiments\/[^/]+\/runs\/([0-9a-f]{32})/;
  const box = document.createElement("nav");
  box.id = "runyard-nav";
  box.setAttribute("aria-label", "Runyard");
  box.style.cssText =
    "position:fixed;left:12px;bottom:76px;z-index:1000;display:flex;gap:8px;font:600 13px -apple-system," +
    "'Segoe UI',Roboto,Arial,sans-serif;";
  const linkStyle =
    "padding:6px 12px;border-radius:16px;background:#fff;border:1px solid #d1d9e1;color:#2272b4;" +
    "text-decoration:none;box-shadow:0 1px 3px rgba(0,0,0,.12);";
  const jobs = Object.assign(document.createElement("a"), { href: "/runyard/jobs", textContent: "Jobs" });
  const job = document.createElement("a");
  jobs.style.cssText = linkStyle;
  job.style.cssText = linkStyle;
  job.hidden = true;
  box.append(jobs, job);
  let shownFor = null;

  async function update() {
    const match = location.hash.match(RUN_PAGE);
    const runId = match ? match[1] : null;
    if (runId === shownFor) return;
    shownFor = runId;
    job.hidden = true;
    if (!runId) return;
    try {
      const response = await fetch(`/runyard/api/jobs?run_id=${runId}&max_results=1`, { credentials: "same-origin" });
      const found = response.ok ? (await response.json()).jobs[0] : null;
      if (!found || shownFor !== runId) return;
      job.href = `/runyard/jobs/${found.job_id}`;
      job.textContent = `Job · ${found.status.charAt(0)}${found.status.slice(1).toLowerCase()}`;
      job.hidden = false;
    } catch {
      // The link is a convenience; MLflow's page works without it.
    }
  }

  function mount() {
    document.body.append(box);
    update();
  }
  window.addEventListener("hashchange", update);
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
