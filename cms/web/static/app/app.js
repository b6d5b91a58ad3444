/* The drivers' web app: a small router over the History API and one function per screen. It talks to the
   server only through the documented JSON API (/api/v1) with Bearer tokens, like a native app would. No
   framework: the screens are short HTML strings built with an escaping template tag, and forms post JSON.
   Configuration comes from data- attributes of <body> (the Content-Security-Policy allows no inline script). */
"use strict";

(() => {
  const body = document.body;
  const CFG = {
    api: body.dataset.api,
    base: body.dataset.base,
    currency: body.dataset.currency || "EUR",
    tilesUrl: body.dataset.tilesUrl || "",
    tilesAttribution: body.dataset.tilesAttribution || "",
    leafletJs: body.dataset.leafletJs,
    leafletCss: body.dataset.leafletCss,
    sw: body.dataset.sw,
  };
  const main = document.getElementById("main");
  const offlineBanner = document.getElementById("offline");
  const LIVE_POLL_MS = 2000;
  const START_WAIT_MS = 90000;

  // ------------------------------------------------------------------------------------------------------------
  // HTML with every interpolated value escaped (raw() marks trusted fragments)
  // ------------------------------------------------------------------------------------------------------------
  class Raw { constructor(s) { this.s = s; } toString() { return this.s; } }
  const raw = (s) => new Raw(s);
  const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ESC[c]);
  const part = (v) => (v instanceof Raw ? v.s : Array.isArray(v) ? v.map(part).join("") : esc(v));
  function html(strings, ...values) {
    let out = strings[0];
    values.forEach((v, i) => { out += part(v) + strings[i + 1]; });
    return raw(out);
  }
  const url = (path) => CFG.base + path;

  // ------------------------------------------------------------------------------------------------------------
  // Formatting
  // ------------------------------------------------------------------------------------------------------------
  const money = (v, cur) => new Intl.NumberFormat("en", { style: "currency", currency: cur || CFG.currency })
    .format(Number(v) || 0);
  const kwh = (v, digits = 2) => `${(Number(v) || 0).toFixed(digits)} kWh`;
  const kw = (v) => `${(Number(v) || 0).toFixed(1)} kW`;
  const when = (iso) => (iso ? new Date(iso).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" })
    : "");
  const time = (iso) => (iso ? new Date(iso).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" })
    : "");
  const pad = (n) => String(n).padStart(2, "0");
  const clock = (s) => `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(Math.floor(s % 60))}`;
  function duration(s) {
    if (s < 60) return `${Math.round(s)} s`;
    const h = Math.floor(s / 3600);
    const m = Math.round((s % 3600) / 60);
    return h ? `${h} h ${pad(m)} min` : `${m} min`;
  }
  const AVAILABILITY = { operative: "Available", in_use: "In use", reserved: "Reserved", inoperative: "Out of order" };
  const priceText = (p) => (p ? `${money(p.pricePerKwh, p.currency)}/kWh now (${p.label || "tariff"}, until ${p.until})`
    : "Free: no tariff");

  // ------------------------------------------------------------------------------------------------------------
  // Tokens and the API
  // ------------------------------------------------------------------------------------------------------------
  const tokens = {
    get access() { return localStorage.getItem("cms.driver.access"); },
    get refresh() { return localStorage.getItem("cms.driver.refresh"); },
    save(pair) {
      localStorage.setItem("cms.driver.access", pair.accessToken);
      localStorage.setItem("cms.driver.refresh", pair.refreshToken);
    },
    clear() { localStorage.removeItem("cms.driver.access"); localStorage.removeItem("cms.driver.refresh"); },
  };
  const loggedIn = () => Boolean(tokens.access);

  class ApiError extends Error {
    constructor(status, code, message, details) {
      super(message);
      this.status = status;
      this.code = code;
      this.details = details || {};
    }
  }

  function setOffline(off) {
    offlineBanner.hidden = !off;
    body.classList.toggle("is-offline", off);
  }
  window.addEventListener("offline", () => setOffline(true));
  window.addEventListener("online", () => setOffline(false));

  let refreshing = null;
  function refreshTokens() {
    if (!tokens.refresh) return Promise.resolve(false);
    refreshing = refreshing || (async () => {
      try {
        const res = await fetch(`${CFG.api}/auth/refresh`, {
          method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify({ refreshToken: tokens.refresh }),
        });
        if (!res.ok) return false;
        tokens.save(await res.json());
        return true;
      } catch (e) {
        return false;
      } finally {
        setTimeout(() => { refreshing = null; }, 0);
      }
    })();
    return refreshing;
  }

  /** Call the API; resolves to the JSON body, rejects with an ApiError (code "offline" without network,
      "session_expired" when the tokens no longer work). */
  async function api(method, path, { body: payload, auth = true, headers = {}, retried = false } = {}) {
    const opts = { method, headers: { Accept: "application/json", ...headers } };
    if (payload !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(payload);
    }
    if (auth) {
      if (!tokens.access) throw new ApiError(401, "login_required", "Log in to do this.");
      opts.headers.Authorization = `Bearer ${tokens.access}`;
    }
    let res;
    try {
      res = await fetch(CFG.api + path, opts);
    } catch (e) {
      setOffline(true);
      throw new ApiError(0, "offline", "There is no network connection. Try again when you are back online.");
    }
    setOffline(false);
    if (res.status === 401 && auth) {
      if (!retried && await refreshTokens()) return api(method, path, { body: payload, auth, headers, retried: true });
      tokens.clear();
      updateTabs();
      throw new ApiError(401, "session_expired", "Your session has expired. Log in again to continue.");
    }
    let data = null;
    if (res.status !== 204) {
      try { data = await res.json(); } catch (e) { data = null; }
    }
    if (!res.ok) {
      throw new ApiError(res.status, (data && data.error) || "error",
        (data && data.message) || `The server answered ${res.status}. Please try again.`, data && data.details);
    }
    return data;
  }

  // ------------------------------------------------------------------------------------------------------------
  // Messages: every refusal becomes a clear message where it happened
  // ------------------------------------------------------------------------------------------------------------
  const TITLES = {
    insufficient_balance: "Your balance is too low.",
    charger_not_connected: "This charger is offline.",
    charger_refused: "The charger said no.",
    charger_timeout: "The charger did not answer in time.",
    charger_call_error: "The charger reported an error.",
    conflict: "Not possible right now.",
    session_expired: "Your session has expired.",
    login_required: "Please log in.",
    offline: "You are offline.",
    not_found: "Not found.",
    invalid_input: "Please check what you entered.",
    too_many_attempts: "Too many attempts.",
    email_not_verified: "Your email address is not confirmed yet.",
    unauthorized: "Not accepted.",
  };
  const HINTS = {
    charger_not_connected: "It is not connected to us right now: try another charger or come back later.",
    charger_timeout: "It may have a poor connection. Please try again in a moment.",
    charger_refused: "The connector may be in use, reserved or not ready: try another one, or again in a moment.",
  };

  function loginLink() {
    return html`<a class="button" href="${url("/login")}?next=${encodeURIComponent(location.pathname + location.search)}">Log in</a>`;
  }

  function alertBox(err, kind = "error") {
    if (!(err instanceof ApiError)) {
      console.warn(err); // eslint-disable-line no-console
      err = new ApiError(0, "error", "Something went wrong. Please try again.");
    }
    let action = "";
    if (err.code === "insufficient_balance") action = html`<a class="button" href="${url("/wallet")}">Top up your wallet</a>`;
    if (err.code === "session_expired" || err.code === "login_required") action = loginLink();
    let message = err.message;
    if (err.code === "charger_refused" && err.details.status && !message.includes(err.details.status)) {
      message += ` (${err.details.status})`;
    }
    if (!/[.!?]$/.test(message)) message += ".";
    return html`<div class="alert ${kind}" role="alert" data-error="${err.code}">
      <strong>${TITLES[err.code] || "That did not work."}</strong> ${message} ${HINTS[err.code] || ""} ${action}</div>`;
  }
  const note = (text, kind = "success") => html`<div class="alert ${kind}" role="status">${text}</div>`;

  function showIn(el, content) {
    if (el) el.innerHTML = part(content);
  }

  // ------------------------------------------------------------------------------------------------------------
  // Router
  // ------------------------------------------------------------------------------------------------------------
  let renderId = 0;
  let cleanups = [];

  function view() {
    const id = ++renderId;
    return {
      get alive() { return id === renderId; },
      show(content) {
        if (id !== renderId) return false;
        main.innerHTML = part(content);
        const h1 = main.querySelector("h1");
        document.title = `${h1 ? h1.textContent.trim() : "EV Charging"} · EV Charging`;
        return true;
      },
      every(ms, fn) {
        const timer = setInterval(() => { if (id === renderId) fn(); }, ms);
        cleanups.push(() => clearInterval(timer));
      },
    };
  }

  function go(path, { replace = false } = {}) {
    history[replace ? "replaceState" : "pushState"](null, "", path);
    render(true);
  }

  function updateTabs() {
    const path = location.pathname.slice(CFG.base.length);
    const tab = /^\/(charge|c|sessions)\b/.test(path) ? "charge"
      : /^\/history/.test(path) ? "history" : /^\/wallet/.test(path) ? "wallet"
        : /^\/(profile|reservations)/.test(path) ? "profile"
          : /^\/?$|^\/(search|stations)/.test(path) ? "find" : "";
    document.querySelectorAll(".tabs a").forEach((a) => {
      if (a.dataset.tab === tab) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    });
    body.classList.toggle("logged-in", loggedIn());
  }

  async function render(focus) {
    cleanups.forEach((fn) => fn());
    cleanups = [];
    updateTabs();
    const path = location.pathname.slice(CFG.base.length).replace(/\/+$/, "");
    const query = new URLSearchParams(location.search);
    const v = view();
    for (const [pattern, screen, title] of ROUTES) {
      const m = path.match(pattern);
      if (!m) continue;
      try {
        await screen(v, m.slice(1).map(decodeURIComponent), query);
      } catch (err) {
        // The screen could not load: its title and why, with the way out (log in, top up, find a charger).
        v.show(html`<h1>${title}</h1>${alertBox(err)}<p><a href="${url("/")}">Find a charger</a></p>`);
      }
      if (focus && v.alive) main.focus({ preventScroll: false });
      return;
    }
    v.show(html`<h1>Page not found</h1><p>There is no such screen. <a href="${url("/")}">Find a charger</a></p>`);
  }

  document.addEventListener("click", (e) => {
    const a = e.target.closest("a[href]");
    if (!a || a.target || a.hasAttribute("download") || e.defaultPrevented || e.button !== 0
        || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const target = new URL(a.href, location.href);
    if (target.origin !== location.origin || !(target.pathname + "/").startsWith(CFG.base + "/")) return;
    e.preventDefault();
    go(target.pathname + target.search);
  });
  window.addEventListener("popstate", () => render(true));

  /** Handle a form's submit: JSON of its fields to ``handler``; errors appear in the form's .msg area. */
  function onSubmit(form, handler) {
    if (!form) return;
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const msg = form.querySelector(".msg");
      const button = form.querySelector("button[type=submit], button:not([type])");
      const data = Object.fromEntries(new FormData(form).entries());
      showIn(msg, "");
      if (button) button.disabled = true;
      try {
        await handler(data, msg, form);
      } catch (err) {
        showIn(msg, alertBox(err));
      } finally {
        if (button) button.disabled = false;
      }
    });
  }

  function onClick(el, handler) {
    if (!el) return;
    el.addEventListener("click", async (e) => {
      e.preventDefault();
      const msg = el.closest("[data-msg-scope]")?.querySelector(".msg") || main.querySelector(".msg");
      el.disabled = true;
      try {
        await handler(msg);
      } catch (err) {
        showIn(msg, alertBox(err));
      } finally {
        el.disabled = false;
      }
    });
  }

  const $ = (sel, root = main) => root.querySelector(sel);
  const $$ = (sel, root = main) => Array.from(root.querySelectorAll(sel));

  // ------------------------------------------------------------------------------------------------------------
  // Finding stations: near a position (GPS or a typed place), free-text search, the map
  // ------------------------------------------------------------------------------------------------------------
  function stationCard(s) {
    const total = s.connectors.length;
    return html`<li class="card station" data-testid="station-${s.id}">
      <h2><a href="${url(`/stations/${s.id}`)}">${s.name}</a></h2>
      ${s.address ? html`<p class="muted">${s.address}</p>` : ""}
      <p><span class="badge ${s.availableConnectors ? "a-operative" : "a-inoperative"}">${s.availableConnectors} of ${total} available</span>
      ${s.distanceKm !== undefined ? html` <span class="distance">${s.distanceKm.toFixed(1)} km</span>` : ""}</p>
      <p class="price">${priceText(s.priceNow)}</p></li>`;
  }

  let leaflet = null;
  function loadLeaflet() {
    if (window.L) return Promise.resolve(window.L);
    leaflet = leaflet || new Promise((resolve, reject) => {
      const css = document.createElement("link");
      css.rel = "stylesheet";
      css.href = CFG.leafletCss;
      document.head.append(css);
      const script = document.createElement("script");
      script.src = CFG.leafletJs;
      script.onload = () => resolve(window.L);
      script.onerror = () => { leaflet = null; reject(new Error("the map library did not load")); };
      document.head.append(script);
    });
    return leaflet;
  }

  async function drawMap(v, centre, stations) {
    const box = $("#map");
    if (!CFG.tilesUrl || !box) return;
    try {
      const L = await loadLeaflet();
      if (!v.alive) return;
      box.hidden = false;
      const map = L.map(box, { zoomControl: true }).setView([centre.lat, centre.lon], 13);
      cleanups.push(() => map.remove());
      L.tileLayer(CFG.tilesUrl, { maxZoom: 19, attribution: CFG.tilesAttribution }).addTo(map);
      L.circleMarker([centre.lat, centre.lon], { radius: 6, color: "#1d4ed8", fillOpacity: 0.9 }).addTo(map)
        .bindTooltip("You are here");
      const points = [[centre.lat, centre.lon]];
      for (const s of stations) {
        if (s.latitude == null) continue;
        points.push([s.latitude, s.longitude]);
        const free = s.availableConnectors > 0;
        const popup = document.createElement("div");
        popup.innerHTML = part(html`<a href="${url(`/stations/${s.id}`)}">${s.name}</a><br>${s.availableConnectors} available · ${priceText(s.priceNow)}`);
        L.circleMarker([s.latitude, s.longitude], { radius: 9, color: free ? "#0f5132" : "#6b7280",
          fillColor: free ? "#198754" : "#9ca3af", fillOpacity: 0.9 }).addTo(map).bindPopup(popup);
      }
      if (points.length > 1) map.fitBounds(points, { padding: [24, 24], maxZoom: 15 });
    } catch (err) {
      box.hidden = true;
      showIn($("#find-msg"), note("The map is not available right now; the list below works without it.", "info"));
    }
  }

  async function nearbyFrom(centre) {
    for (const radius of [10, 50, 200]) {
      const found = await api("GET", `/stations/nearby?lat=${centre.lat}&lon=${centre.lon}&radiusKm=${radius}&limit=50`,
        { auth: false });
      if (found.length || radius === 200) return { stations: found, radius };
    }
    return { stations: [], radius: 200 };
  }

  async function screenFind(v, _params, query) {
    const q = query.get("q") || "";
    v.show(html`<h1>Find a charger</h1>
      <form id="place-form" class="search-row" role="search" data-testid="place-form">
        <label for="place">Where are you? A town, street or station, or coordinates</label>
        <div class="row"><input id="place" name="q" value="${q}" placeholder="e.g. Amsterdam or 52.37, 4.89"
          autocomplete="off" required maxlength="100"><button type="submit">Show</button></div>
        <div class="msg" id="find-msg"></div>
      </form>
      <p><button type="button" id="locate" class="link-button">Use my location</button>
         · <a href="${url("/search")}">Search by name or charger number</a></p>
      <div id="map" class="map" role="region" aria-label="Map of the stations" hidden></div>
      <p id="from" class="muted"></p>
      <ul id="stations" class="cards" aria-label="Stations, nearest first"></ul>`);
    onSubmit($("#place-form"), async (data) => go(`${url("/")}?q=${encodeURIComponent(data.q.trim())}`));
    onClick($("#locate"), async (msg) => {
      if (!navigator.geolocation) throw new ApiError(0, "no_location", "This browser cannot tell where you are: type a place instead.");
      showIn(msg, note("Finding where you are…", "info"));
      navigator.geolocation.getCurrentPosition(
        (pos) => go(`${url("/")}?lat=${pos.coords.latitude.toFixed(5)}&lon=${pos.coords.longitude.toFixed(5)}`),
        () => showIn(msg, note("Your location is not available (permission refused or no signal). Type a place instead.", "info")),
        { timeout: 10000, maximumAge: 60000 });
    });
    let centre = null;
    let label = "";
    if (query.get("lat") && query.get("lon")) {
      centre = { lat: Number(query.get("lat")), lon: Number(query.get("lon")) };
      label = "your location";
    } else if (q) {
      const places = await api("GET", `/places?q=${encodeURIComponent(q)}`, { auth: false });
      if (!places.length) {
        showIn($("#find-msg"), note(`We know no place called “${q}”: places are known by the addresses of our stations. Try a town or street with a station, or coordinates like 52.37, 4.89.`, "info"));
        return;
      }
      centre = { lat: places[0].latitude, lon: places[0].longitude };
      label = places[0].label;
    } else {
      const permission = navigator.permissions ? await navigator.permissions.query({ name: "geolocation" })
        .catch(() => null) : null;
      if (permission && permission.state === "granted") $("#locate").click();
      return;
    }
    const { stations, radius } = await nearbyFrom(centre);
    if (!v.alive) return;
    showIn($("#from"), stations.length ? `${stations.length} station(s) within ${radius} km of ${label}, nearest first.`
      : `No station within ${radius} km of ${label}.`);
    showIn($("#stations"), stations.map(stationCard));
    drawMap(v, centre, stations);
  }

  async function screenSearch(v, _params, query) {
    const q = query.get("q") || "";
    v.show(html`<h1>Search stations</h1>
      <form id="search-form" role="search">
        <label for="search-q">Station name, address or charger number</label>
        <div class="row"><input id="search-q" name="q" value="${q}" required maxlength="100"><button type="submit">Search</button></div>
        <div class="msg"></div>
      </form>
      <ul id="results" class="cards" aria-label="Matching stations"></ul>`);
    onSubmit($("#search-form"), async (data) => go(`${url("/search")}?q=${encodeURIComponent(data.q.trim())}`));
    if (!q) return;
    const found = await api("GET", `/stations/search?q=${encodeURIComponent(q)}`, { auth: false });
    if (!v.alive) return;
    showIn($("#results"), found.length ? found.map(stationCard) : html`<li class="muted">Nothing matches “${q}”.</li>`);
  }

  // ------------------------------------------------------------------------------------------------------------
  // A station: connectors, tariff, reserving
  // ------------------------------------------------------------------------------------------------------------
  const ACTIVE_RESERVATION = ["Requested", "Accepted"];

  function connectorItem(c) {
    const id = `${c.chargePointId}-${c.connectorId}`;
    const free = c.availability === "operative";
    return html`<li class="card connector" data-testid="connector-${id}" data-msg-scope>
      <p class="connector-head"><strong>${c.chargePointId}</strong> · connector ${c.connectorId}
        <span class="badge a-${c.availability}" data-testid="availability">${AVAILABILITY[c.availability] || c.availability}</span></p>
      <p class="muted">${c.connectorType || "Type not given"} · ${c.maxPowerKw ? `${c.maxPowerKw} kW` : "power not given"}</p>
      <div class="actions">
        <a class="button ${free ? "primary" : ""}" href="${url(`/c/${encodeURIComponent(c.chargePointId)}/${c.connectorId}`)}">Charge here</a>
        <form class="reserve" data-cp="${c.chargePointId}" data-connector="${c.connectorId}">
          <label>Hold for <select name="minutes"><option value="15">15 min</option><option value="30" selected>30 min</option>
            <option value="60">1 hour</option><option value="120">2 hours</option></select></label>
          <button type="submit">Reserve</button>
          <div class="msg"></div>
        </form>
      </div></li>`;
  }

  function reservationItem(r) {
    const active = ACTIVE_RESERVATION.includes(r.status);
    return html`<li class="card" data-testid="reservation-${r.id}" data-msg-scope>
      <p><strong>${r.chargePointId}</strong> · connector ${r.connectorId} · <span class="badge r-${r.status.toLowerCase()}">${r.status}</span></p>
      <p class="muted">${active ? `Held until ${time(r.expiresAt)}` : `Until ${when(r.expiresAt)}`}</p>
      ${r.status === "Accepted" ? html`<button type="button" class="danger" data-cancel="${r.id}">Cancel reservation</button>` : ""}
      <div class="msg"></div></li>`;
  }

  function wireCancel(afterCancel) {
    $$("[data-cancel]").forEach((b) => onClick(b, async (msg) => {
      await api("DELETE", `/reservations/${b.dataset.cancel}`);
      await afterCancel(msg);
    }));
  }

  async function screenStation(v, [id], _query, flash) {
    const s = await api("GET", `/stations/${id}`, { auth: false });
    const mine = loggedIn() ? await api("GET", "/reservations?limit=20").catch(() => []) : [];
    const cps = new Set(s.connectors.map((c) => c.chargePointId));
    const held = mine.filter((r) => ACTIVE_RESERVATION.includes(r.status) && cps.has(r.chargePointId));
    v.show(html`<h1>${s.name}</h1>
      ${s.address ? html`<p class="muted">${s.address}</p>` : ""}
      <div class="msg" id="station-msg">${flash || ""}</div>
      <p class="price" data-testid="price-now">${priceText(s.priceNow)}</p>
      ${held.length ? html`<h2>Your reservation</h2><ul class="cards">${held.map(reservationItem)}</ul>` : ""}
      <h2>Connectors</h2>
      <ul class="cards">${s.connectors.length ? s.connectors.map(connectorItem) : html`<li class="muted">No connectors reported yet.</li>`}</ul>
      <h2>Tariff</h2>
      ${s.tariff.length ? html`<table class="tariff"><caption class="sr-only">Price per kWh by time of day (${s.timezone})</caption>
        <thead><tr><th scope="col">From</th><th scope="col">To</th><th scope="col">Band</th><th scope="col">Price per kWh</th></tr></thead>
        <tbody>${s.tariff.map((b) => html`<tr><td>${b.start}</td><td>${b.end}</td><td>${b.label}</td><td>${money(b.pricePerKwh, s.currency)}</td></tr>`)}</tbody>
        </table><p class="muted small">Times are local (${s.timezone}). Energy is priced by the band it was charged in.</p>`
      : html`<p>Charging here is free: the station has no tariff.</p>`}`);
    $$("form.reserve").forEach((form) => onSubmit(form, async (data) => {
      const r = await api("POST", "/reservations", { body: { chargePointId: form.dataset.cp,
        connectorId: Number(form.dataset.connector), durationMinutes: Number(data.minutes) } });
      await screenStation(view(), [id], null, note(`Reserved: ${r.chargePointId} connector ${r.connectorId} is held for you until ${time(r.expiresAt)}.`));
    }));
    wireCancel(async () => screenStation(view(), [id], null, note("Your reservation is cancelled.")));
  }

  async function screenReservations(v) {
    const list = await api("GET", "/reservations?limit=50");
    v.show(html`<h1>Reservations</h1><div class="msg"></div>
      <ul class="cards">${list.length ? list.map(reservationItem) : html`<li class="muted">You have no reservations. Reserve a connector on a station's page.</li>`}</ul>`);
    wireCancel(async () => { await screenReservations(view()); showIn($(".msg"), note("Your reservation is cancelled.")); });
  }

  // ------------------------------------------------------------------------------------------------------------
  // Charging: start (by number or from a station's QR code), the live session, stop
  // ------------------------------------------------------------------------------------------------------------
  async function connectorStatus(cp, connector) {
    const found = await api("GET", `/stations/search?q=${encodeURIComponent(cp)}&limit=5`, { auth: false });
    for (const s of found) {
      const c = s.connectors.find((x) => x.chargePointId === cp && x.connectorId === connector);
      if (c) return { station: s, connector: c };
    }
    return null;
  }

  async function screenCharge(v, [cp, connector]) {
    v.show(html`<h1>Start charging</h1>
      <div id="charge-info" class="msg"></div>
      <form id="start-form" class="stack" data-testid="start-form">
        <p class="muted">Plug in your car, then enter the charger number printed on the charger and the connector you used.</p>
        <label for="cp">Charger number</label>
        <input id="cp" name="chargePointId" required maxlength="48" autocomplete="off" autocapitalize="characters" value="${cp || ""}">
        <label for="connector">Connector</label>
        <input id="connector" name="connectorId" type="number" inputmode="numeric" min="1" max="100" required value="${connector || 1}">
        <button type="submit" class="primary big">Start charging</button>
        <div class="msg" id="start-msg"></div>
      </form>
      <p id="wallet-hint" class="muted"></p>`);
    onSubmit($("#start-form"), async (data, msg) => {
      const started = await api("POST", "/sessions", { body: { chargePointId: data.chargePointId.trim(),
        connectorId: Number(data.connectorId) } });
      showIn(msg, note("The charger accepted. Waiting for it to start the session…", "info"));
      const deadline = Date.now() + START_WAIT_MS;
      while (v.alive && Date.now() < deadline) {
        const [active] = await api("GET", "/sessions?status=active&limit=1");
        if (active && active.chargePointId === started.chargePointId) {
          if (v.alive) go(url(`/sessions/${active.id}`));
          return;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
      if (v.alive) showIn(msg, note("The charger has not started yet. Check that the cable is plugged in; the session appears under History once it starts.", "info"));
    });
    if (cp && connector) {
      connectorStatus(cp, Number(connector)).then((found) => {
        if (!v.alive) return;
        showIn($("#charge-info"), found ? html`<p class="card">${found.station.name}: ${cp} connector ${connector} is
          <span class="badge a-${found.connector.availability}">${AVAILABILITY[found.connector.availability]}</span>
          · ${priceText(found.station.priceNow)}</p>` : "");
      }).catch(() => {});
    }
    if (!loggedIn()) {
      showIn($("#wallet-hint"), html`You need an account to charge. ${loginLink()}`);
      return;
    }
    let active;
    let wallet;
    try {
      [[active], wallet] = await Promise.all([api("GET", "/sessions?status=active&limit=1"), api("GET", "/wallet")]);
    } catch (err) {
      showIn($("#wallet-hint"), alertBox(err));
      return;
    }
    if (!v.alive) return;
    if (active) {
      showIn($("#charge-info"), html`<p class="alert info">You are charging at ${active.chargePointId}.
        <a href="${url(`/sessions/${active.id}`)}">Open your session</a></p>`);
    }
    showIn($("#wallet-hint"), wallet.canCharge ? `Balance ${money(wallet.balance, wallet.currency)}.`
      : html`Balance ${money(wallet.balance, wallet.currency)}: starting needs at least ${money(wallet.minimumToCharge, wallet.currency)}. <a href="${url("/wallet")}">Top up</a>`);
  }

  function breakdownTable(s) {
    if (!s.breakdown.length) return html`<p class="muted">No energy charged in any tariff band yet.</p>`;
    return html`<table class="breakdown" data-testid="breakdown"><caption class="sr-only">Energy and cost per tariff band</caption>
      <thead><tr><th scope="col">Band</th><th scope="col">Time</th><th scope="col">Energy</th><th scope="col">Cost</th></tr></thead>
      <tbody>${s.breakdown.map((b) => html`<tr><td>${b.label} (${money(b.pricePerKwh, s.currency)}/kWh)</td>
        <td>${time(b.from)}–${time(b.to)}</td><td>${kwh(b.energyKwh, 3)}</td><td>${money(b.cost, s.currency)}</td></tr>`)}</tbody></table>`;
  }

  async function screenSession(v, [id], _query, flash) {
    let s = await api("GET", `/sessions/${id}`);
    const active = s.status === "active";
    v.show(html`<h1>${active ? "Charging" : "Charging session"}</h1>
      <p class="muted">${s.stationName || "Station"} · ${s.chargePointId} connector ${s.connectorId} · started ${when(s.startedAt)}</p>
      <div class="msg" id="session-msg">${flash || ""}</div>
      <dl class="figures" aria-live="off">
        <div><dt>Energy</dt><dd data-testid="energy">${kwh(s.energyKwh, 3)}</dd></div>
        <div><dt>${active ? "Power" : "Ended"}</dt><dd data-testid="power">${active ? kw(s.powerKw) : time(s.stoppedAt)}</dd></div>
        <div><dt>${active ? "Time" : "Duration"}</dt><dd data-testid="elapsed">${active ? clock(s.durationSeconds) : duration(s.durationSeconds)}</dd></div>
        <div><dt>${active ? "Cost so far" : "Cost"}</dt><dd data-testid="cost">${money(s.cost, s.currency)}</dd></div>
      </dl>
      ${active ? html`<button type="button" id="stop" class="danger big">Stop charging</button>` : html`<p>Stopped: ${s.stopReason || "—"}</p>`}
      <h2>By tariff band</h2><div id="breakdown">${breakdownTable(s)}</div>
      <p><a href="${url("/history")}">All your sessions</a></p>`);
    if (!active) return;
    const startedAt = Date.now() - s.durationSeconds * 1000;
    v.every(1000, () => { $("[data-testid=elapsed]").textContent = clock((Date.now() - startedAt) / 1000); });
    let stopping = false;
    let failures = 0;
    v.every(LIVE_POLL_MS, async () => {
      try {
        s = await api("GET", `/sessions/${id}`);
        failures = 0;
      } catch (err) {
        failures += 1;
        if (err.code !== "offline" || failures === 1) showIn($("#session-msg"), alertBox(err));
        return;
      }
      if (!v.alive) return;
      if (s.status !== "active") {
        screenSession(view(), [id], null, note(`Charging has stopped. ${kwh(s.energyKwh)} for ${money(s.cost, s.currency)}.`));
        return;
      }
      $("[data-testid=energy]").textContent = kwh(s.energyKwh, 3);
      $("[data-testid=power]").textContent = kw(s.powerKw);
      $("[data-testid=cost]").textContent = money(s.cost, s.currency);
      showIn($("#breakdown"), breakdownTable(s));
      if (!stopping) showIn($("#session-msg"), "");
    });
    onClick($("#stop"), async () => {
      await api("POST", `/sessions/${id}/stop`);
      stopping = true;
      showIn($("#session-msg"), note("Stopping: the charger is ending the session…", "info"));
    });
  }

  async function screenHistory(v) {
    v.show(html`<h1>History</h1><ul id="history" class="cards" aria-label="Your charging sessions, newest first"></ul>
      <div class="msg"></div><button type="button" id="more" hidden>Show older sessions</button>`);
    let offset = 0;
    const more = async () => {
      const page = await api("GET", `/sessions?limit=20&offset=${offset}`);
      if (!v.alive) return;
      offset += page.length;
      if (!offset) {
        showIn($("#history"), html`<li class="muted">No sessions yet. <a href="${url("/")}">Find a charger</a></li>`);
      }
      $("#history").insertAdjacentHTML("beforeend", part(page.map((s) => html`<li class="card session" data-testid="session-${s.id}">
        <h2><a href="${url(`/sessions/${s.id}`)}">${when(s.startedAt)}</a></h2>
        <p>${s.stationName || s.chargePointId} · connector ${s.connectorId}${s.status === "active" ? html` · <span class="badge a-in_use">charging now</span>` : ""}</p>
        <p><span>${kwh(s.energyKwh)}</span> · <span>${duration(s.durationSeconds)}</span> · <strong data-testid="cost">${money(s.cost, s.currency)}</strong></p>
        ${s.breakdown.length ? html`<p class="muted small" data-testid="bands">${s.breakdown.map((b) => `${b.label}: ${kwh(b.energyKwh)} ${money(b.cost, s.currency)}`).join(" · ")}</p>` : ""}
        </li>`)));
      $("#more").hidden = page.length < 20;
    };
    onClick($("#more"), more);
    await more();
  }

  // ------------------------------------------------------------------------------------------------------------
  // Wallet
  // ------------------------------------------------------------------------------------------------------------
  function idempotencyKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);  // works on plain http too (randomUUID needs a secure context)
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function screenWallet(v, _params, _query, flash) {
    const [w, ledger] = await Promise.all([api("GET", "/wallet"), api("GET", "/wallet/ledger?limit=20")]);
    let key = idempotencyKey();
    v.show(html`<h1>Wallet</h1>
      <p class="balance"><span class="muted">Balance</span> <strong data-testid="balance">${money(w.balance, w.currency)}</strong></p>
      <p class="${w.canCharge ? "muted" : "alert info"}">${w.canCharge ? `Starting to charge needs at least ${money(w.minimumToCharge, w.currency)}.`
        : `Top up: starting to charge needs at least ${money(w.minimumToCharge, w.currency)}.`}</p>
      <form id="topup" class="stack" data-testid="topup-form">
        <h2>Top up</h2>
        <div class="presets" role="group" aria-label="Amounts">${[10, 20, 50].map((a) => html`<button type="button" data-amount="${a}">${money(a, w.currency)}</button>`)}</div>
        <label for="amount">Amount (${w.currency})</label>
        <input id="amount" name="amount" type="number" inputmode="decimal" min="1" max="500" step="0.01" required>
        <button type="submit" class="primary">Top up</button>
        <div class="msg">${flash || ""}</div>
      </form>
      <h2>Movements</h2>
      <ul class="ledger" data-testid="ledger">${ledger.length ? ledger.map((e) => html`<li>
        <span class="what">${e.description || e.kind}<br><span class="muted small">${when(e.createdAt)}</span></span>
        <span class="amount ${e.amount < 0 ? "debit" : "credit"}">${e.amount > 0 ? "+" : ""}${money(e.amount, e.currency)}</span></li>`)
      : html`<li class="muted">No movements yet.</li>`}</ul>`);
    $$("[data-amount]").forEach((b) => b.addEventListener("click", () => { $("#amount").value = b.dataset.amount; }));
    onSubmit($("#topup"), async (data, msg) => {
      const payment = await api("POST", "/wallet/top-ups", { body: { amount: Number(data.amount) },
        headers: { "Idempotency-Key": key } });
      key = idempotencyKey();
      if (payment.status === "succeeded") {
        await screenWallet(view(), [], null, note(`Topped up ${money(payment.amount, payment.currency)}.`));
      } else if (payment.status === "pending") {
        showIn(msg, payment.checkoutUrl ? html`<div class="alert info" role="status">Complete the payment with the payment provider:
          <a href="${payment.checkoutUrl}" rel="noopener">Pay ${money(payment.amount, payment.currency)}</a>. Your balance grows once it is confirmed.</div>`
          : note("The payment is waiting for the provider's confirmation; your balance grows once it is confirmed.", "info"));
      } else {
        showIn(msg, alertBox(new ApiError(402, "payment_failed", payment.failureReason || "The payment failed.")));
      }
    });
  }

  // ------------------------------------------------------------------------------------------------------------
  // Profile, vehicles, log out
  // ------------------------------------------------------------------------------------------------------------
  const CONNECTOR_TYPES = ["Type1", "Type2", "CCS1", "CCS2", "CHAdeMO", "Tesla", "GBT", "Schuko"];

  async function screenProfile(v, _params, _query, flash) {
    const [me, vehicles] = await Promise.all([api("GET", "/me"), api("GET", "/me/vehicles")]);
    v.show(html`<h1>Profile</h1>
      <div class="msg" id="profile-msg">${flash || ""}</div>
      <p>${me.email}<br><span class="muted small">Your charging id: <span class="mono">${me.idTag || "none"}</span></span></p>
      <form id="details" class="stack"><h2>Your details</h2>
        <label for="name">Name</label><input id="name" name="name" maxlength="120" value="${me.name}" autocomplete="name">
        <label for="phone">Phone</label><input id="phone" name="phone" maxlength="40" value="${me.phone}" type="tel" autocomplete="tel">
        <button type="submit">Save</button><div class="msg"></div></form>
      <form id="password" class="stack"><h2>Password</h2>
        <label for="current">Current password</label><input id="current" name="currentPassword" type="password" required autocomplete="current-password">
        <label for="new">New password (at least 8 characters)</label><input id="new" name="newPassword" type="password" minlength="8" required autocomplete="new-password">
        <button type="submit">Change password</button><div class="msg"></div></form>
      <section aria-labelledby="vehicles-h"><h2 id="vehicles-h">Vehicles</h2>
        <ul class="cards" data-testid="vehicles">${vehicles.length ? vehicles.map((x) => html`<li class="card" data-msg-scope>
          <p><strong>${x.name || `${x.make} ${x.model}`}</strong> ${x.plate ? html`<span class="mono">${x.plate}</span>` : ""}</p>
          <p class="muted">${[x.make, x.model, x.connectorType, x.batteryKwh ? `${x.batteryKwh} kWh` : ""].filter(Boolean).join(" · ")}</p>
          <button type="button" class="danger small" data-remove="${x.id}">Remove</button><div class="msg"></div></li>`)
        : html`<li class="muted">No vehicles yet.</li>`}</ul>
        <form id="vehicle" class="stack"><h3>Add a vehicle</h3>
          <label for="v-name">Name</label><input id="v-name" name="name" maxlength="80" placeholder="e.g. Family car">
          <div class="row"><div><label for="v-make">Make</label><input id="v-make" name="make" maxlength="60"></div>
          <div><label for="v-model">Model</label><input id="v-model" name="model" maxlength="60"></div></div>
          <div class="row"><div><label for="v-plate">Plate</label><input id="v-plate" name="plate" maxlength="20"></div>
          <div><label for="v-battery">Battery (kWh)</label><input id="v-battery" name="batteryKwh" type="number" min="1" max="1000" step="0.1"></div></div>
          <label for="v-type">Connector</label><select id="v-type" name="connectorType"><option value="">Not given</option>
            ${CONNECTOR_TYPES.map((t) => html`<option>${t}</option>`)}</select>
          <button type="submit">Add vehicle</button><div class="msg"></div></form></section>
      <h2>More</h2>
      <ul class="links"><li><a href="${url("/reservations")}">Your reservations</a></li><li><a href="${url("/help")}">Help and questions</a></li></ul>
      <button type="button" id="logout" class="big">Log out</button>`);
    onSubmit($("#details"), async (data) => {
      await api("PATCH", "/me", { body: { name: data.name, phone: data.phone } });
      await screenProfile(view(), [], null, note("Your details are saved."));
    });
    onSubmit($("#password"), async (data) => {
      await api("PATCH", "/me", { body: data });
      await screenProfile(view(), [], null, note("Your password is changed."));
    });
    onSubmit($("#vehicle"), async (data) => {
      const payload = { name: data.name, make: data.make, model: data.model, plate: data.plate,
        connectorType: data.connectorType || null, batteryKwh: data.batteryKwh ? Number(data.batteryKwh) : null };
      await api("POST", "/me/vehicles", { body: payload });
      await screenProfile(view(), [], null, note("Vehicle added."));
    });
    $$("[data-remove]").forEach((b) => onClick(b, async () => {
      await api("DELETE", `/me/vehicles/${b.dataset.remove}`);
      await screenProfile(view(), [], null, note("Vehicle removed."));
    }));
    $("#logout").addEventListener("click", logOut);
  }

  async function logOut() {
    const { access, refresh } = tokens;
    // Revoke both tokens on the server (best effort: offline, they simply expire), then forget them here.
    for (const token of [refresh, access]) {
      if (!token) continue;
      try {
        await fetch(`${CFG.api}/auth/revoke`, { method: "POST", headers: { "Content-Type": "application/json",
          Authorization: `Bearer ${access}` }, body: JSON.stringify({ token }) });
      } catch (e) { /* offline: nothing more to do */ }
    }
    tokens.clear();
    go(`${url("/login")}?bye=1`);
  }

  // ------------------------------------------------------------------------------------------------------------
  // Help
  // ------------------------------------------------------------------------------------------------------------
  async function screenHelp(v, _params, query) {
    const q = query.get("q") || "";
    const entries = await api("GET", `/help${q ? `?q=${encodeURIComponent(q)}` : ""}`, { auth: false });
    const groups = {};
    entries.forEach((e) => { (groups[e.category] = groups[e.category] || []).push(e); });
    v.show(html`<h1>Help</h1>
      <form id="help-form" role="search"><label for="help-q">Search the questions</label>
        <div class="row"><input id="help-q" name="q" value="${q}" maxlength="100"><button type="submit">Search</button></div><div class="msg"></div></form>
      ${Object.keys(groups).length ? Object.entries(groups).map(([cat, list]) => html`<section><h2>${cat[0].toUpperCase() + cat.slice(1)}</h2>
        ${list.map((e) => html`<details class="card faq"><summary>${e.question}</summary><p>${e.answer}</p></details>`)}</section>`)
      : html`<p class="muted">${q ? `No answer mentions “${q}”.` : "No questions answered here yet."}</p>`}
      <section><h2>Using this app</h2>
        <details class="card faq"><summary>How do I start charging?</summary><p>Plug in, then scan the QR code on the charger or
          open Charge and enter the charger number and connector. Your wallet needs the minimum balance shown there.</p></details>
        <details class="card faq"><summary>Can I use it offline?</summary><p>The app opens without a network, but finding
          chargers, charging and payments need a connection; a bar at the top says when you are offline.</p></details>
        <details class="card faq"><summary>How do I put it on my home screen?</summary><p>Open your browser's menu and choose
          “Add to Home screen” or “Install app”.</p></details>
      </section>`);
    onSubmit($("#help-form"), async (data) => go(`${url("/help")}${data.q.trim() ? `?q=${encodeURIComponent(data.q.trim())}` : ""}`));
  }

  // ------------------------------------------------------------------------------------------------------------
  // Accounts: log in, register, confirm email, forgotten password
  // ------------------------------------------------------------------------------------------------------------
  const safeNext = (n) => (n && n.startsWith(`${CFG.base}/`) && !n.startsWith("//") ? n : url("/"));

  function resendButton(email) {
    return html`<button type="button" id="resend" data-email="${email}">Send the confirmation link again</button>`;
  }
  function wireResend(msgEl) {
    const b = $("#resend");
    if (!b) return;
    b.addEventListener("click", async () => {
      try {
        await api("POST", "/auth/resend-verification", { auth: false, body: { email: b.dataset.email } });
        showIn(msgEl, note(`We sent the link again to ${b.dataset.email}.`));
      } catch (err) {
        showIn(msgEl, alertBox(err));
      }
    });
  }

  async function screenLogin(v, _params, query) {
    const flash = query.get("expired") ? alertBox(new ApiError(401, "session_expired", "Log in again to continue."))
      : query.get("bye") ? note("You are logged out.") : query.get("verified") ? note("Your email address is confirmed. Log in.")
        : query.get("reset") ? note("Your password is changed. Log in with the new one.") : "";
    v.show(html`<h1>Log in</h1>
      <form id="login" class="stack" data-testid="login-form">
        <div class="msg">${flash}</div>
        <label for="email">Email</label><input id="email" name="email" type="email" required autocomplete="username" value="${query.get("email") || ""}">
        <label for="password">Password</label><input id="password" name="password" type="password" required autocomplete="current-password">
        <button type="submit" class="primary big">Log in</button>
      </form>
      <p><a href="${url("/forgot")}">Forgot your password?</a></p>
      <p>New here? <a href="${url("/register")}">Create an account</a></p>`);
    onSubmit($("#login"), async (data, msg) => {
      try {
        tokens.save(await api("POST", "/auth/login", { auth: false, body: data }));
      } catch (err) {
        if (err.code !== "email_not_verified") throw err;
        showIn(msg, html`${alertBox(err)}${resendButton(data.email)}`);
        wireResend(msg);
        return;
      }
      go(safeNext(query.get("next")), { replace: true });
    });
  }

  async function screenRegister(v) {
    v.show(html`<h1>Create an account</h1>
      <form id="register" class="stack" data-testid="register-form">
        <label for="r-name">Name</label><input id="r-name" name="name" maxlength="120" autocomplete="name">
        <label for="r-email">Email</label><input id="r-email" name="email" type="email" required maxlength="255" autocomplete="email">
        <label for="r-phone">Phone (optional)</label><input id="r-phone" name="phone" type="tel" maxlength="40" autocomplete="tel">
        <label for="r-password">Password (at least 8 characters)</label><input id="r-password" name="password" type="password" minlength="8" required autocomplete="new-password">
        <button type="submit" class="primary big">Create account</button>
        <div class="msg"></div>
      </form>
      <p>Have an account? <a href="${url("/login")}">Log in</a></p>`);
    onSubmit($("#register"), async (data) => {
      const payload = { email: data.email.trim(), password: data.password };
      if (data.name.trim()) payload.name = data.name.trim();
      if (data.phone.trim()) payload.phone = data.phone.trim();
      await api("POST", "/auth/register", { auth: false, body: payload });
      v.show(html`<h1>Check your mail</h1><div class="msg">${note(`We sent a link to ${payload.email}. Open it to confirm your address, then log in.`)}</div>
        <p>${resendButton(payload.email)}</p><p><a href="${url("/login")}?email=${encodeURIComponent(payload.email)}">Log in</a></p>`);
      wireResend($(".msg"));
    });
  }

  async function screenVerify(v, _params, query) {
    const token = query.get("token") || "";
    v.show(html`<h1>Confirming your email address</h1><div class="msg">${note("One moment…", "info")}</div>`);
    try {
      const me = await api("POST", "/auth/verify", { auth: false, body: { token } });
      go(`${url("/login")}?verified=1&email=${encodeURIComponent(me.email)}`, { replace: true });
    } catch (err) {
      v.show(html`<h1>Confirming your email address</h1><div class="msg">${alertBox(err)}</div>
        <form id="resend-form" class="stack"><label for="re-email">Your email address, to get a new link</label>
          <input id="re-email" name="email" type="email" required><button type="submit">Send a new link</button><div class="msg"></div></form>`);
      onSubmit($("#resend-form"), async (data, msg) => {
        await api("POST", "/auth/resend-verification", { auth: false, body: { email: data.email } });
        showIn(msg, note(`If ${data.email} waits for confirmation, a new link is on its way.`));
      });
    }
  }

  async function screenForgot(v) {
    v.show(html`<h1>Forgotten password</h1>
      <form id="forgot" class="stack"><p>We mail you a link to choose a new password.</p>
        <label for="f-email">Email</label><input id="f-email" name="email" type="email" required autocomplete="email">
        <button type="submit" class="primary">Send the link</button><div class="msg"></div></form>`);
    onSubmit($("#forgot"), async (data, msg) => {
      await api("POST", "/auth/password-reset", { auth: false, body: { email: data.email.trim() } });
      showIn(msg, note(`If a driver account has the address ${data.email.trim()}, a link to choose a new password is on its way.`));
    });
  }

  async function screenReset(v, _params, query) {
    v.show(html`<h1>Choose a new password</h1>
      <form id="reset" class="stack">
        <label for="n-password">New password (at least 8 characters)</label><input id="n-password" name="newPassword" type="password" minlength="8" required autocomplete="new-password">
        <label for="n-again">The same again</label><input id="n-again" name="again" type="password" minlength="8" required autocomplete="new-password">
        <button type="submit" class="primary">Set the new password</button><div class="msg"></div></form>`);
    onSubmit($("#reset"), async (data) => {
      if (data.newPassword !== data.again) throw new ApiError(422, "invalid_input", "The two passwords differ.");
      await api("POST", "/auth/password-reset/confirm", { auth: false,
        body: { token: query.get("token") || "", newPassword: data.newPassword } });
      tokens.clear();
      go(`${url("/login")}?reset=1`, { replace: true });
    });
  }

  const ROUTES = [
    [/^$/, screenFind, "Find a charger"], [/^\/search$/, screenSearch, "Search stations"],
    [/^\/stations\/(\d+)$/, screenStation, "Station"], [/^\/charge$/, screenCharge, "Start charging"],
    [/^\/c\/([^/]+)\/(\d+)$/, screenCharge, "Start charging"], [/^\/sessions\/(\d+)$/, screenSession, "Charging session"],
    [/^\/history$/, screenHistory, "History"], [/^\/wallet$/, screenWallet, "Wallet"],
    [/^\/profile$/, screenProfile, "Profile"], [/^\/reservations$/, screenReservations, "Reservations"],
    [/^\/help$/, screenHelp, "Help"], [/^\/login$/, screenLogin, "Log in"],
    [/^\/register$/, screenRegister, "Create an account"], [/^\/verify$/, screenVerify, "Confirming your email address"],
    [/^\/forgot$/, screenForgot, "Forgotten password"], [/^\/reset$/, screenReset, "Choose a new password"],
  ];

  if (!navigator.onLine) setOffline(true);
  if ("serviceWorker" in navigator && CFG.sw) {
    navigator.serviceWorker.register(CFG.sw, { scope: `${CFG.base}/` }).catch(() => { /* no offline shell */ });
  }
  render(false);
})();
