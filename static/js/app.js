// The token front end (/app): a client of authdemo's JSON API.
//
// Where things live:
//   access token  -> the variable `accessToken` below, and nowhere else
//                    (not localStorage, not sessionStorage, not a readable cookie);
//   refresh token -> an HttpOnly, SameSite=Strict cookie with Path=/api/token/refresh,
//                    which the API sets because we send "X-Refresh-Token-Delivery: cookie".
//                    This script never sees it; the browser sends it to the refresh endpoint only.
//
// On a 401 with error="invalid_token" a request refreshes once and is sent again. Every
// request that meets the expired token waits for the same refresh (`refreshing`): the API
// rotates refresh tokens and treats a second use of one as theft, so two refreshes racing
// with the same cookie would end the login.
"use strict";

(() => {
  const root = document.getElementById("app");
  if (!root) return;

  const REFRESH_PATH = root.dataset.refreshPath || "/api/token/refresh";
  const DELIVERY = { "X-Refresh-Token-Delivery": "cookie" };
  const TASKS_SERVICE = (root.dataset.tasksUrl || "").replace(/\/+$/, "");
  const LEEWAY_SECONDS = Number(root.dataset.leeway || "0");
  const MAX_LOGGED = 30;
  const $ = (id) => document.getElementById(id);

  let accessToken = null; // the one place the access token is kept
  let claims = null;
  let refreshing = null; // the refresh in flight, shared by every request that needs it
  let refreshCount = 0;
  let autoTimer = null;
  let sequence = 0;
  const logged = [];

  class LoginEnded extends Error {}

  function ended(error) {
    showLogin(`Your login ended: ${error.message}`);
  }

  // -- what the page shows about itself ------------------------------------------------

  function mask(token) {
    return `${token.slice(0, 10)}…${token.slice(-4)} (${token.length} characters; masked)`;
  }

  function decodeClaims(token) {
    const part = (token.split(".")[1] || "").replace(/-/g, "+").replace(/_/g, "/");
    const padded = part.padEnd(Math.ceil(part.length / 4) * 4, "=");
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  }

  function describeStorage(storage) {
    const keys = Object.keys(storage);
    if (keys.length === 0) return "nothing";
    return keys.map((key) => `${key} (${String(storage.getItem(key)).length} characters)`).join(", ");
  }

  function renderHolds() {
    $("held-token").textContent = accessToken ? mask(accessToken) : "none";
    $("claims").textContent = claims ? JSON.stringify(claims, null, 2) : "none";
    if (claims) {
      const left = Math.round(claims.exp - Date.now() / 1000);
      $("time-left").textContent = left > 0 ? `${left} s` : `expired ${-left} s ago`;
    } else {
      $("time-left").textContent = "—";
    }
    $("held-localstorage").textContent = describeStorage(window.localStorage);
    $("held-sessionstorage").textContent = describeStorage(window.sessionStorage);
    $("held-cookie").textContent = document.cookie === "" ? "nothing (an empty string)" : document.cookie.split(";").map((c) => c.split("=")[0].trim()).join(", ");
  }

  function label(url) {
    return url.startsWith(TASKS_SERVICE) && TASKS_SERVICE ? `tasks service ${url.slice(TASKS_SERVICE.length)}` : url;
  }

  function renderRequests() {
    const list = $("requests");
    list.replaceChildren(
      ...logged.map((entry) => {
        const item = document.createElement("li");
        item.className = `req req-${entry.kind}`;
        const outcome = entry.status === null ? "…" : `${entry.status}${entry.error ? ` ${entry.error}` : ""}`;
        item.textContent = `#${entry.n} ${entry.method} ${entry.target} → ${outcome}${entry.note ? ` (${entry.note})` : ""}`;
        return item;
      }),
    );
  }

  function logRequest(entry) {
    logged.unshift(entry);
    logged.length = Math.min(logged.length, MAX_LOGGED);
    renderRequests();
  }

  function setStatus(text) {
    $("app-status").textContent = text;
  }

  // -- HTTP ------------------------------------------------------------------------------

  async function send(method, url, { body, auth = true, headers = {}, note = "", kind = "call" } = {}) {
    const init = { method, headers: { ...headers }, cache: "no-store", credentials: "same-origin" };
    const token = auth ? accessToken : null;
    if (token) init.headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const entry = { n: ++sequence, method, target: label(url), status: null, error: "", note, kind };
    logRequest(entry);
    let response;
    try {
      response = await fetch(url, init);
    } catch (error) {
      entry.status = "no answer";
      renderRequests();
      const message = `${label(url)} did not answer (${error.message})`;
      return { ok: false, status: 0, data: { error: "network_error", message }, challenge: "", entry, token };
    }
    let data = {};
    try {
      data = await response.json();
    } catch {
      data = {};
    }
    entry.status = response.status;
    entry.error = data && typeof data.error === "string" ? data.error : "";
    renderRequests();
    const challenge = response.headers.get("WWW-Authenticate") || "";
    return { ok: response.ok, status: response.status, data, challenge, entry, token };
  }

  function isInvalidToken(result) {
    return result.status === 401 && (/error="invalid_token"/.test(result.challenge) || result.data.error === "invalid_token");
  }

  function describe(result) {
    return `${result.status} ${result.data.error || ""}: ${result.data.message || "no message"}`;
  }

  function useTokens(data) {
    accessToken = data.access_token;
    claims = decodeClaims(accessToken);
    scheduleAutoRenew();
    renderHolds();
  }

  function dropTokens() {
    accessToken = null;
    claims = null;
    clearTimeout(autoTimer);
    renderHolds();
  }

  async function postRefresh(note) {
    refreshCount += 1;
    const result = await send("POST", REFRESH_PATH, { auth: false, headers: DELIVERY, note, kind: "refresh" });
    if (result.ok) {
      useTokens(result.data);
      return;
    }
    dropTokens();
    throw new LoginEnded(describe(result));
  }

  // One refresh at a time in this page; and, where the browser has Web Locks, across this
  // site's tabs too, so two tabs never present the same refresh cookie at once.
  function refresh(note = "refresh") {
    if (!refreshing) {
      const run = navigator.locks
        ? navigator.locks.request("authdemo-app-refresh", () => postRefresh(note))
        : postRefresh(note);
      refreshing = run.finally(() => {
        refreshing = null;
      });
    }
    return refreshing;
  }

  async function api(method, url, options = {}) {
    const first = await send(method, url, options);
    if (!isInvalidToken(first)) return first;
    if (refreshing) {
      await refreshing; // a refresh is under way: wait for it, never start a second one
    } else if (accessToken === first.token) {
      await refresh(); // the token we sent is still the one we hold: it is the expired one
    } // else: another request already replaced it while ours was on the way
    if (!accessToken) throw new LoginEnded("the login ended");
    return send(method, url, { ...options, note: `retry of #${first.entry.n}`, kind: "retry" });
  }

  // -- the views ------------------------------------------------------------------------------

  function showLogin(reason) {
    dropTokens();
    $("main-view").hidden = true;
    $("login-view").hidden = false;
    $("login-reason").hidden = !reason;
    $("login-reason").textContent = reason;
    setStatus("Not logged in.");
  }

  function showMain() {
    $("login-view").hidden = true;
    $("main-view").hidden = false;
    $("who").textContent = claims ? claims.username : "";
    $("task-error").hidden = true;
    setStatus("Logged in through the API.");
  }

  function taskItem(task, source) {
    const item = document.createElement("li");
    item.dataset.source = source;
    if (task.done) item.classList.add("done");
    const title = document.createElement("span");
    title.textContent = task.title; // text, never HTML: a title is data
    const tag = document.createElement("span");
    tag.className = "source";
    tag.textContent = source === "api" ? "/api/tasks" : "tasks service";
    item.append(title, " ", tag);
    return item;
  }

  function fetchTasks() {
    const calls = [api("GET", "/api/tasks")];
    if (TASKS_SERVICE) calls.push(api("GET", `${TASKS_SERVICE}/tasks`));
    return Promise.all(calls);
  }

  async function loadTasks() {
    let results;
    try {
      results = await fetchTasks();
    } catch (error) {
      if (error instanceof LoginEnded) {
        ended(error);
        return;
      }
      throw error;
    }
    const [own, service] = results;
    const items = [];
    const problems = [];
    if (own.ok) items.push(...own.data.tasks.map((task) => taskItem(task, "api")));
    else problems.push(`/api/tasks: ${describe(own)}`);
    if (service && service.ok) items.push(...service.data.tasks.map((task) => taskItem(task, "service")));
    else if (service) problems.push(`tasks service: ${describe(service)}`);
    $("tasks").replaceChildren(...items);
    $("tasks-status").textContent = problems.join(" · ");
  }

  async function burst() {
    const before = refreshCount;
    let results;
    try {
      results = await Promise.all(Array.from({ length: 5 }, () => api("GET", "/api/tasks")));
    } catch (error) {
      if (error instanceof LoginEnded) {
        ended(error);
        return;
      }
      throw error;
    }
    const statuses = results.map((result) => result.status).join(", ");
    $("burst-result").hidden = false;
    $("burst-result").textContent = `Five requests answered ${statuses}; refreshes they needed: ${refreshCount - before}.`;
  }

  function scheduleAutoRenew() {
    clearTimeout(autoTimer);
    if (!claims) return;
    // The API accepts a token up to its leeway past exp; one second later it answers 401.
    const due = (claims.exp + LEEWAY_SECONDS + 1) * 1000 - Date.now();
    autoTimer = setTimeout(() => {
      if ($("auto-renew").checked && accessToken) loadTasks();
    }, Math.max(due, 1000));
  }

  async function logIn(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const body = { username: form.elements.username.value, password: form.elements.password.value };
    const result = await send("POST", "/api/token", { auth: false, headers: DELIVERY, body, note: "log in", kind: "login" });
    form.elements.password.value = "";
    if (!result.ok) {
      showLogin(`Log-in refused: ${describe(result)}`);
      return;
    }
    useTokens(result.data);
    showMain();
    await loadTasks();
  }

  async function logOut() {
    await send("DELETE", REFRESH_PATH, { auth: false, headers: DELIVERY, note: "log out", kind: "logout" });
    showLogin("");
    setStatus("You logged out: this login is revoked and its cookie cleared.");
  }

  async function addTask(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const error = $("task-error");
    error.hidden = true;
    let result;
    try {
      result = await api("POST", "/api/tasks", { body: { title: form.elements.title.value } });
    } catch (failure) {
      if (failure instanceof LoginEnded) {
        ended(failure);
        return;
      }
      throw failure;
    }
    if (!result.ok) {
      error.textContent = `Refused: ${describe(result)}`;
      error.hidden = false;
      return;
    }
    form.reset();
    await loadTasks();
  }

  // A reload loses the variable: the HttpOnly cookie gets a new access token without the password.
  async function resume() {
    setStatus("Resuming the login with the refresh cookie…");
    try {
      await refresh("resume: the page was loaded, the variable is empty");
    } catch (error) {
      if (!(error instanceof LoginEnded)) throw error;
      const noCookie = /invalid_request/.test(error.message);
      if (noCookie) showLogin("");
      else ended(error);
      return;
    }
    showMain();
    await loadTasks();
  }

  $("login-form").addEventListener("submit", logIn);
  $("add-task").addEventListener("submit", addTask);
  $("logout").addEventListener("click", logOut);
  $("reload-tasks").addEventListener("click", () => loadTasks());
  $("burst").addEventListener("click", burst);
  setInterval(renderHolds, 1000);
  renderHolds();
  resume();
})();
