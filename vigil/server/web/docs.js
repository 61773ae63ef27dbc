// Vigil API reference: Swagger UI over /api/openapi.json, from the server's own files.
// This page holds no data. The schema sits behind the API key like every /api/ route, so the
// page sends the key the dashboard keeps in this tab's session storage (or asks for it, and
// keeps it there too) with every request it makes, the schema's own fetch included.
"use strict";

(function () {
  let key = sessionStorage.getItem("vigil-key") || "";
  const form = document.getElementById("keyform");
  const status = document.getElementById("docs-state");

  function withKey(req) {
    if (key) req.headers["Authorization"] = "Bearer " + key;
    return req;
  }

  async function load() {
    status.textContent = "loading…";
    let resp;
    try {
      resp = await fetch("/api/openapi.json", { headers: key ? { Authorization: "Bearer " + key } : {} });
    } catch (err) {
      status.textContent = "server unreachable";
      return;
    }
    if (resp.status === 401) {
      status.textContent = "needs key";
      form.hidden = false;
      document.getElementById("key").focus();
      return;
    }
    form.hidden = true;
    const spec = await resp.json();
    // eslint-disable-next-line no-undef -- defined by swagger-ui-bundle.js
    SwaggerUIBundle({ spec: spec, dom_id: "#swagger-ui", requestInterceptor: withKey, deepLinking: false,
                      tryItOutEnabled: false });
    status.textContent = "API " + (spec.info && spec.info.version ? spec.info.version : "");
    status.classList.add("live");
    document.body.dataset.loaded = "true";
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    key = document.getElementById("key").value.trim();
    sessionStorage.setItem("vigil-key", key);
    load();
  });
  load();
})();
