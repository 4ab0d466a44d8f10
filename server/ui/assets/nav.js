// Loaded into MLflow's own UI: a link to Runyard's Jobs page, and on the page of a run a job started, a link to
// that job with its status. It adds one fixed-position box and reads nothing of MLflow's markup but the page's
// sidebar (an <aside>) and where its links sit, so it can stay inside the sidebar, above its bottom links.
(() => {
  const RUN_PAGE = /^#\/experiments\/[^/]+\/runs\/([0-9a-f]{32})/;
  const COLLAPSED_SIDEBAR_PX = 120;
  const GAP_PX = 8;
  const GROUP_GAP_PX = 24;
  const DEFAULT_BOTTOM_PX = 76;
  const box = document.createElement("nav");
  box.id = "runyard-nav";
  box.setAttribute("aria-label", "Runyard");
  const boxStyle =
    "position:fixed;z-index:10;display:flex;font:600 13px -apple-system,'Segoe UI',Roboto,Arial,sans-serif;";
  const linkStyle =
    "border-radius:16px;background:#fff;border:1px solid #d1d9e1;color:#2272b4;text-decoration:none;" +
    "box-shadow:0 1px 3px rgba(0,0,0,.12);white-space:nowrap;";
  const jobs = Object.assign(document.createElement("a"), { href: "/runyard/jobs", textContent: "Jobs" });
  const job = document.createElement("a");
  job.hidden = true;
  box.append(jobs, job);
  let shownFor = null;
  let jobLabel = "";
  let placed = "";
  let compact = false;

  // Just above the sidebar's bottom group of links (docs, settings, the account menu): the links that follow the
  // lowest one up the sidebar with no wide gap between them. Any link higher up (a registry's sub-pages, opened on a
  // short screen) belongs to the navigation above, which the box must not cover.
  function bottomOffset(sidebar) {
    const rects = [...sidebar.querySelectorAll("a, button")]
      .map((item) => item.getBoundingClientRect())
      .filter((rect) => rect.height > 0)
      .sort((a, b) => a.top - b.top);
    if (!rects.length) return DEFAULT_BOTTOM_PX;
    let top = rects[rects.length - 1].top;
    for (let i = rects.length - 2; i >= 0 && top - rects[i].bottom <= GROUP_GAP_PX; i--) {
      top = Math.min(top, rects[i].top);
    }
    return Math.round(window.innerHeight - top + GAP_PX);
  }

  // Beside an open sidebar the links sit in a row; a collapsed sidebar is an icon strip, so they stack inside it
  // with short labels (the job link keeps its full name for screen readers and as a tooltip).
  function layout() {
    const sidebar = document.querySelector("aside");
    const narrow = Boolean(sidebar) && sidebar.getBoundingClientRect().width < COLLAPSED_SIDEBAR_PX;
    const bottom = sidebar ? bottomOffset(sidebar) : DEFAULT_BOTTOM_PX;
    if (`${narrow}/${bottom}` === placed) return;
    placed = `${narrow}/${bottom}`;
    compact = narrow;
    box.dataset.compact = String(narrow);
    const shape = narrow ? "left:3px;flex-direction:column;gap:4px;font-size:11px;" : "left:12px;gap:8px;";
    box.style.cssText = `${boxStyle}${shape}bottom:${bottom}px;`;
    const padding = narrow ? "padding:4px 3px;" : "padding:6px 12px;";
    jobs.style.cssText = linkStyle + padding;
    job.style.cssText = linkStyle + padding;
    labelJob();
  }

  function labelJob() {
    job.textContent = compact ? "Job" : jobLabel;
    job.title = jobLabel;
    job.setAttribute("aria-label", jobLabel);
  }

  let workspaceHeader;
  // The workspace MLflow's UI is in (its switcher keeps it in localStorage), when the server has workspaces.
  async function workspaceHeaders() {
    if (workspaceHeader === undefined) {
      workspaceHeader = {};
      try {
        const info = await (await fetch("/ajax-api/3.0/mlflow/server-info", { credentials: "same-origin" })).json();
        const active = info.workspaces_enabled && localStorage.getItem("mlflow.activeWorkspace");
        if (active) workspaceHeader = { "X-MLFLOW-WORKSPACE": active };
      } catch {
        // Without server-info, the default workspace.
      }
    }
    return workspaceHeader;
  }

  async function update() {
    const match = location.hash.match(RUN_PAGE);
    const runId = match ? match[1] : null;
    if (runId === shownFor) return;
    shownFor = runId;
    job.hidden = true;
    if (!runId) return;
    try {
      const response = await fetch(`/runyard/api/jobs?run_id=${runId}&max_results=1`, {
        credentials: "same-origin",
        headers: await workspaceHeaders(),
      });
      const found = response.ok ? (await response.json()).jobs[0] : null;
      if (!found || shownFor !== runId) return;
      job.href = `/runyard/jobs/${found.job_id}`;
      jobLabel = `Job · ${found.status.charAt(0)}${found.status.slice(1).toLowerCase()}`;
      labelJob();
      job.hidden = false;
    } catch {
      // The link is a convenience; MLflow's page works without it.
    }
  }

  function mount() {
    layout();
    document.body.append(box);
    update();
    setInterval(layout, 300); // the sidebar toggles without an event of its own
  }
  window.addEventListener("hashchange", update);
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
