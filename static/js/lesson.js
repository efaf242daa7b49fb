// The lesson page (/app/lesson, development only): sets up each design, runs the injected
// script (lesson-attacker.js) against it, and shows what it got. Dummy tokens only.
"use strict";

(() => {
  const root = document.getElementById("lesson");
  if (!root || !window.injected) return;
  const attacker = window.injected;
  // This page's own dummy access token: random, opens nothing, never shown whole.
  const DUMMY = `lesson-dummy-access.${Array.from(crypto.getRandomValues(new Uint8Array(18)), (b) => b.toString(16).padStart(2, "0")).join("")}`;
  const violations = [];
  document.addEventListener("securitypolicyviolation", (event) => {
    const where = (event.blockedURI || "inline code").replace(/\?.*$/, "?t=…");
    violations.push(`${event.violatedDirective} blocked ${where}`);
  });

  const mask = (value) => (typeof value === "string" && value.length > 16 ? `${value.slice(0, 16)}…(${value.length} characters)` : value);
  const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function output(name) {
    const log = root.querySelector(`[data-log=${name}]`);
    const verdict = root.querySelector(`[data-verdict=${name}]`);
    log.textContent = "";
    return {
      line(text) {
        log.textContent += `${text}\n`;
      },
      verdict(kind, text) {
        verdict.className = `verdict ${kind}`;
        verdict.dataset.outcome = kind;
        verdict.textContent = text;
      },
    };
  }

  // The little app of case 3: its token lives in this closure, as app.js keeps its own.
  const memoryApp = (() => {
    const token = DUMMY;
    return {
      callApi() {
        // The real API answers 401: a dummy opens nothing.
        return fetch("/api/me", { headers: { Authorization: `Bearer ${token}` } }).then((r) => r.status);
      },
    };
  })();

  const cases = {
    async localstorage(out) {
      const key = "lesson_access_token";
      out.line(`set-up: localStorage.setItem("${key}", ${mask(DUMMY)})`);
      window.localStorage.setItem(key, DUMMY);
      try {
        const { found, answer } = await attacker.stealStorage();
        out.line(`injected script: read localStorage keys ${JSON.stringify(found)}`);
        out.line(`injected script: POST /app/lesson/collect → the server received ${JSON.stringify(answer.received)}`);
        const taken = Object.values(answer.received || {}).some((value) => value && value.startsWith(DUMMY.slice(0, 16)));
        out.verdict(taken ? "taken" : "safe", taken ? "Taken: read and sent away." : "Not taken.");
      } finally {
        window.localStorage.removeItem(key); // leave no token-shaped thing behind for other pages of this origin
        out.line(`clean-up: localStorage.removeItem("${key}")`);
      }
    },

    async cookie(out) {
      await fetch("/app/lesson/cookie", { method: "POST" });
      out.line("set-up: POST /app/lesson/cookie → Set-Cookie: authdemo_lesson_refresh=…; HttpOnly; SameSite=Strict; Path=/app/lesson");
      const seen = attacker.readCookies();
      const readable = seen.includes("authdemo_lesson_refresh");
      out.line(`injected script: document.cookie = ${JSON.stringify(seen)}`);
      const used = await attacker.useRefreshCookie();
      out.line(`injected script: POST /app/lesson/refresh → ${used.status}, access_token ${mask(used.body.access_token) || "none"}`);
      if (readable) out.verdict("taken", "Taken: the cookie was readable.");
      else if (used.status === 200) out.verdict("partly", "Not readable, so it cannot be carried away; but the script used it to get an access token while it ran.");
      else out.verdict("safe", "Not readable, and not usable.");
    },

    async memory(out) {
      const stored = { ...window.localStorage, ...window.sessionStorage };
      out.line(`injected script: Web Storage holds ${JSON.stringify(Object.keys(stored))}`);
      out.line(`injected script: document.cookie = ${JSON.stringify(attacker.readCookies())}`);
      out.line(`injected script: global variables holding a token: ${JSON.stringify(attacker.scanGlobals())}`);
      let captured = null;
      const unwrap = attacker.wrapFetch((value) => {
        captured = value;
      });
      try {
        out.line("injected script: wrapped window.fetch; now the app makes its next API call…");
        const status = await memoryApp.callApi();
        out.line(`app: GET /api/me → ${status} (the dummy opens nothing)`);
      } finally {
        unwrap();
      }
      out.line(`injected script: saw Authorization: ${captured ? `Bearer ${mask(captured.slice(7))}` : "nothing"}`);
      if (captured) out.verdict("partly", "Not in any storage; but a script running in the page saw it on the app's next request.");
      else out.verdict("safe", "Not found.");
    },

    async csp(out) {
      violations.length = 0;
      delete window.lessonInlineRan;
      delete window.lessonHandlerRan;
      attacker.injectInline(root.querySelector("#case-csp"));
      const sent = await attacker.exfiltrate(DUMMY);
      await pause(300); // the image's error event and the violation reports are asynchronous
      out.line(`inline <script>: ${window.lessonInlineRan ? "RAN" : "did not run"}`);
      out.line(`onerror= attribute: ${window.lessonHandlerRan ? "RAN" : "did not run"}`);
      out.line(`fetch to http://127.0.0.1:9: ${sent}`);
      out.line(`violations the browser reported: ${violations.length ? "" : "none"}`);
      violations.forEach((text) => out.line(`  - ${text}`));
      const blockedOut = violations.some((text) => /connect-src|default-src/.test(text) && text.includes("127.0.0.1:9"));
      const stopped = !window.lessonInlineRan && !window.lessonHandlerRan && blockedOut;
      out.verdict(stopped ? "safe" : "taken", stopped ? "Stopped: no inline code ran, and nothing left for another origin." : "Not stopped: this page has no effective CSP.");
    },
  };

  root.querySelectorAll("button[data-case]").forEach((button) => {
    button.addEventListener("click", async () => {
      const name = button.dataset.case;
      button.disabled = true;
      try {
        await cases[name](output(name));
      } finally {
        button.disabled = false;
      }
    });
  });

  fetch(window.location.pathname, { method: "HEAD", cache: "no-store" }).then((response) => {
    document.getElementById("csp-header").textContent = response.headers.get("Content-Security-Policy") || "none: this response has no Content-Security-Policy header";
  });
})();
