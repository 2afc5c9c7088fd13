// genhook dashboard: live updates from the event stream (/api/events, SSE).
// The server renders everything; this only asks it again when something changed.
(function () {
  "use strict";

  const body = document.body;
  const page = body.dataset.page;
  const eventTypes = (body.dataset.eventTypes || "").split(",").filter(Boolean);

  function setLive(state, text) {
    const indicator = document.querySelector("[data-live-indicator]");
    if (!indicator) return;
    indicator.dataset.state = state;
    indicator.querySelector("[data-live-text]").textContent = text;
  }

  // One EventSource; the browser reconnects by itself and resumes with Last-Event-ID.
  function listen(url, onEvent) {
    const source = new EventSource(url);
    source.onopen = () => setLive("open", "live");
    source.onerror = () => setLive("error", "reconnecting…");
    for (const type of eventTypes) {
      source.addEventListener(type, (message) => {
        let payload = null;
        try {
          payload = JSON.parse(message.data);
        } catch (err) {
          return;
        }
        onEvent(payload);
      });
    }
    return source;
  }

  function streamUrl(params) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value) query.set(key, value);
    }
    const text = query.toString();
    return "/api/events" + (text ? "?" + text : "");
  }

  async function fetchHtml(url) {
    // No "text/html" in Accept: an expired session answers 401 instead of a login page.
    const response = await fetch(url, { headers: { Accept: "text/x-fragment" }, cache: "no-store" });
    if (!response.ok) return null;
    return response.text();
  }

  // ---- the task list -------------------------------------------------------
  function startList() {
    const list = document.querySelector("[data-task-list]");
    const empty = document.querySelector("[data-empty]");
    const firstPage = body.dataset.firstPage === "true";
    const hasMore = body.dataset.hasMore === "true";
    const wantStatus = body.dataset.filterStatus;
    const wantProvider = body.dataset.filterProvider;
    const pending = new Map(); // task id -> timer: coalesce bursts of events per task

    function rowFor(id) {
      return list.querySelector(`tr[data-task-id="${CSS.escape(id)}"]`);
    }

    function place(row) {
      const id = row.dataset.taskId;
      const existing = rowFor(id);
      const matches =
        (!wantStatus || row.dataset.status === wantStatus) &&
        (!wantProvider || row.dataset.provider === wantProvider);
      if (existing) {
        if (matches) existing.replaceWith(row);
        else existing.remove();
      } else {
        if (!matches || !firstPage) return;
        // Task ids sort by creation: keep the list newest first.
        // Events can arrive in any order across tasks: insert by id, and put a task
        // older than every row at the end unless older tasks fill later pages.
        const older = Array.from(list.children).find((r) => r.dataset.taskId < id);
        if (older) list.insertBefore(row, older);
        else if (!hasMore) list.appendChild(row);
        else return;
      }
      row.classList.add("flash");
      if (empty) empty.hidden = list.children.length > 0;
    }

    async function refresh(id) {
      pending.delete(id);
      const html = await fetchHtml(`/tasks/${encodeURIComponent(id)}/row`);
      if (html === null) return;
      const template = document.createElement("template");
      template.innerHTML = html.trim();
      const row = template.content.firstElementChild;
      if (row) place(row);
    }

    listen(streamUrl({ last_event_id: body.dataset.eventsAfter }), (event) => {
      const id = event && event.data && event.data.id;
      if (!id || pending.has(id)) return;
      pending.set(id, setTimeout(() => refresh(id), 150));
    });

    const filters = document.querySelector("form[data-autosubmit]");
    if (filters) {
      for (const select of filters.querySelectorAll("select")) {
        select.addEventListener("change", () => filters.submit());
      }
    }
  }

  // ---- one task ------------------------------------------------------------
  function startTask() {
    const id = body.dataset.taskId;
    let timer = null;

    async function refresh() {
      timer = null;
      const html = await fetchHtml(window.location.pathname);
      if (html === null) return;
      const next = new DOMParser().parseFromString(html, "text/html");
      const fresh = next.querySelector("[data-task-detail]");
      const current = document.querySelector("[data-task-detail]");
      if (fresh && current) current.replaceWith(fresh);
    }

    listen(streamUrl({ task_id: id, last_event_id: body.dataset.eventsAfter }), () => {
      if (timer === null) timer = setTimeout(refresh, 150);
    });
  }

  // ---- relative times ("12 s ago") ----------------------------------------
  function ago(seconds) {
    if (seconds < 5) return "just now";
    if (seconds < 60) return `${Math.floor(seconds)} s ago`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
    if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
    return `${Math.floor(seconds / 86400)} d ago`;
  }

  function tickTimes() {
    const now = Date.now();
    for (const element of document.querySelectorAll("time[data-relative]")) {
      const at = Date.parse(element.getAttribute("datetime"));
      if (!Number.isNaN(at)) element.textContent = ago((now - at) / 1000);
    }
  }

  if (page === "list") startList();
  if (page === "task") startTask();
  setInterval(tickTimes, 10000);
})();
