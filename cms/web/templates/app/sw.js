/* The driver app's service worker: keeps the app shell available offline. Live data (/api/v1) and map tiles
   always come from the network, so nothing stale is ever shown as current; the app says when it is offline. */
const CACHE = "driver-app-{{ version }}";
const SHELL = {{ assets | tojson }};
const HOME = {{ assets[0] | tojson }};

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith("driver-app-") && k !== CACHE)
      .map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin || !url.pathname.startsWith(HOME)) {
    return;  // the API, tiles and everything else: straight to the network
  }
  if (request.mode === "navigate") {
    // Every screen is the same shell: the network first (fresh), the cached shell when offline.
    event.respondWith(fetch(request).catch(() => caches.match(HOME)));
    return;
  }
  event.respondWith(caches.match(request).then((hit) => hit || fetch(request)));
});
