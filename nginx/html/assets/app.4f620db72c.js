// zufang front page: hot cities and the first estates on open; drill province -> city ->
// district, filter estates. No build step, no dependencies; DOM text is set with textContent
// only (API data is never parsed as HTML).
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  // Requests can finish out of order (a city's estates after its district's): each view keeps a
  // sequence number and ignores answers to anything but its latest request.
  const state = { district: null, estatesUrl: null, navSeq: 0, estatesSeq: 0 };

  // Pages of /api/ answer {count,next,previous,results}; a plain array is accepted too.
  const rows = (data) => (Array.isArray(data) ? data : (data && data.results) || []);

  // `next`/`previous` may be absolute URLs built by a replica: keep only path and query so the
  // browser always stays on the edge it came from.
  const relative = (url) => {
    if (!url) return null;
    const u = new URL(url, window.location.href);
    return u.pathname + u.search;
  };

  function showError(message) {
    const el = $("error");
    el.textContent = message;
    el.hidden = false;
  }

  function clearError() {
    $("error").hidden = true;
    $("error").textContent = "";
  }

  // Fetch JSON; API errors {"error":{"code","message","fields"}} become thrown Errors whose
  // message is the API's own (with field details), so the page can show them as they are.
  async function api(path) {
    let response;
    try {
      response = await fetch(path, { headers: { Accept: "application/json" } });
    } catch (e) {
      throw new Error("The API cannot be reached (" + e.message + ").");
    }
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = null;
    }
    if (!response.ok) {
      const err = body && body.error;
      let message = err && err.message ? err.message : "HTTP " + response.status;
      if (err && err.fields && typeof err.fields === "object") {
        const details = Object.entries(err.fields).map(([k, v]) => k + ": " + [].concat(v).join(", "));
        if (details.length) message += " (" + details.join("; ") + ")";
      }
      throw new Error(message);
    }
    return body;
  }

  function fillList(listId, items, onPick) {
    const list = $(listId);
    list.replaceChildren();
    list.removeAttribute("aria-busy");
    if (!items.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = "None.";
      list.append(li);
      return;
    }
    for (const item of items) {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = item.name;
      button.dataset.id = String(item.id);
      button.setAttribute("aria-pressed", "false");
      button.addEventListener("click", () => {
        for (const b of list.querySelectorAll("button")) b.setAttribute("aria-pressed", "false");
        button.setAttribute("aria-pressed", "true");
        onPick(item);
      });
      li.append(button);
      list.append(li);
    }
  }

  function placeholder(listId, text) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = text;
    $(listId).replaceChildren(li);
  }

  const trail = [];
  function setTrail(level, name) {
    trail.length = level;
    trail.push(name);
    const ol = $("breadcrumb");
    ol.replaceChildren(...trail.map((t) => {
      const li = document.createElement("li");
      li.textContent = t;
      return li;
    }));
  }

  async function openDistrict(item, level) {
    clearError();
    setTrail(level, item.name);
    const seq = ++state.navSeq;
    try {
      const detail = await api("/api/districts/" + encodeURIComponent(item.id) + "/");
      if (seq !== state.navSeq) return;
      const intro = $("intro");
      intro.textContent = detail.intro || "";
      intro.hidden = !detail.intro;
      const children = detail.children || [];
      if (level === 0) {
        placeholder("districts", "Pick a city.");
        fillList("cities", children, (c) => openDistrict(c, 1));
      } else if (level === 1) {
        fillList("districts", children, (d) => openDistrict(d, 2));
      }
      if (level >= 1) {
        state.district = detail.id;
        $("estate-district").textContent = detail.name;
        await loadEstates(estatesQuery());
      }
    } catch (e) {
      if (seq === state.navSeq) showError(e.message);
    }
  }

  function estatesQuery() {
    const params = new URLSearchParams();
    if (state.district !== null) params.set("dist", String(state.district));
    const name = $("name").value.trim();
    if (name) params.set("name", name);
    const minhot = $("minhot").value.trim();
    if (minhot) params.set("minhot", minhot);
    const maxhot = $("maxhot").value.trim();
    if (maxhot) params.set("maxhot", maxhot);
    const qs = params.toString();
    return "/api/estates/" + (qs ? "?" + qs : "");
  }

  async function loadEstates(url) {
    clearError();
    const body = $("estates-results");
    $("estate-count").textContent = "Loading…";
    const seq = ++state.estatesSeq;
    try {
      const page = await api(url);
      if (seq !== state.estatesSeq) return;
      state.estatesUrl = url;
      const list = rows(page);
      body.replaceChildren(...list.map((estate) => {
        const tr = document.createElement("tr");
        for (const value of [estate.name, estate.hot, estate.district_id]) {
          const td = document.createElement("td");
          td.textContent = value === undefined || value === null ? "" : String(value);
          tr.append(td);
        }
        return tr;
      }));
      const count = typeof page.count === "number" ? page.count : list.length;
      $("estate-count").textContent = count + (count === 1 ? " estate" : " estates");
      $("estates").dataset.loaded = url;
      const next = relative(page.next);
      const previous = relative(page.previous);
      $("next").disabled = !next;
      $("prev").disabled = !previous;
      $("next").dataset.url = next || "";
      $("prev").dataset.url = previous || "";
    } catch (e) {
      if (seq !== state.estatesSeq) return;
      $("estate-count").textContent = "";
      body.replaceChildren();
      $("estates").dataset.loaded = "error";
      showError(e.message);
    }
  }

  // A hot city opens like a city picked in the drill-down, under a "Hot cities" crumb.
  function openHotCity(city) {
    setTrail(0, "Hot cities");
    placeholder("cities", "Pick a province.");
    return openDistrict(city, 1);
  }

  async function start() {
    $("estates-form").addEventListener("submit", (event) => {
      event.preventDefault();
      loadEstates(estatesQuery());
    });
    $("next").addEventListener("click", (e) => loadEstates(e.currentTarget.dataset.url));
    $("prev").addEventListener("click", (e) => loadEstates(e.currentTarget.dataset.url));
    // The page opens with something to look at: the first page of all estates and the hot
    // cities, beside the province list (three requests in parallel).
    const estates = loadEstates(estatesQuery());
    const hot = api("/api/hot-cities/").then(
      (cities) => fillList("hot-cities", rows(cities), openHotCity),
      (e) => { placeholder("hot-cities", "Unavailable."); showError(e.message); });
    try {
      const provinces = rows(await api("/api/districts/"));
      fillList("provinces", provinces, (p) => openDistrict(p, 0));
    } catch (e) {
      placeholder("provinces", "Unavailable.");
      showError(e.message);
    }
    await Promise.all([estates, hot]);
  }

  start();
})();
