/* The lab heartbeat client, built from src/heartbeat-client by `npm run build:heartbeat`: do not edit. */
"use strict";
(() => {
  var __defProp = Object.defineProperty;
  var __defNormalProp = (obj, key, value) => key in obj ? __defProp(obj, key, { enumerable: true, configurable: true, writable: true, value }) : obj[key] = value;
  var __publicField = (obj, key, value) => __defNormalProp(obj, typeof key !== "symbol" ? key + "" : key, value);

  // src/heartbeat-client/scheduler.ts
  var DEFAULT_INTERVAL_MS = 3e4;
  var DEFAULT_MAX_BACKOFF_MS = 5 * 6e4;
  var HeartbeatScheduler = class {
    constructor(send, clock, options = {}) {
      __publicField(this, "send", send);
      __publicField(this, "clock", clock);
      __publicField(this, "options", options);
      __publicField(this, "intervalMs");
      __publicField(this, "maxBackoffMs");
      __publicField(this, "visible");
      /** Activity seen since the last heartbeat went out (or failed). */
      __publicField(this, "pending", false);
      __publicField(this, "inFlight", false);
      __publicField(this, "stopped", false);
      __publicField(this, "failures", 0);
      /** No heartbeat before this time (interval after the last one, or backoff after an error). */
      __publicField(this, "notBefore", -Infinity);
      __publicField(this, "timer", null);
      this.intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
      this.maxBackoffMs = options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
      this.visible = options.visible ?? true;
    }
    /** Learner input (key, pointer, scroll, touch) on the page. */
    activity() {
      if (this.stopped || !this.visible) return;
      this.pending = true;
      this.pump();
    }
    /** The page became visible (the learner is back: that is activity) or hidden (stop). */
    visibility(visible) {
      this.visible = visible;
      if (visible) return this.activity();
      this.pending = false;
      this.cancelTimer();
    }
    /** For good: the lab is gone or the token refused (and no fresh one could be had). */
    stop() {
      this.stopped = true;
      this.pending = false;
      this.cancelTimer();
    }
    get isStopped() {
      return this.stopped;
    }
    pump() {
      if (!this.pending || this.inFlight || this.stopped || !this.visible || this.timer !== null)
        return;
      const wait = this.notBefore - this.clock.now();
      if (wait > 0) {
        this.timer = this.clock.setTimeout(() => {
          this.timer = null;
          this.pump();
        }, wait);
        return;
      }
      void this.beat();
    }
    async beat() {
      this.pending = false;
      this.inFlight = true;
      this.notBefore = this.clock.now() + this.intervalMs;
      let result;
      try {
        result = await this.send();
      } catch {
        result = { ok: false, retry: true, status: null };
      }
      this.inFlight = false;
      if (result.ok) {
        this.failures = 0;
      } else if (result.retry) {
        this.failures += 1;
        const backoff = Math.min(this.maxBackoffMs, this.intervalMs * 2 ** this.failures);
        this.notBefore = this.clock.now() + backoff;
        this.pending = true;
      } else {
        this.stop();
      }
      this.options.onResult?.(result);
      this.pump();
    }
    cancelTimer() {
      if (this.timer === null) return;
      this.clock.clearTimeout(this.timer);
      this.timer = null;
    }
  };
  function resultOf(status) {
    if (status >= 200 && status < 300) return { ok: true, status };
    const retry = status === 408 || status === 429 || status >= 500;
    return { ok: false, retry, status };
  }

  // src/heartbeat-client/token.ts
  var MAX_TOKEN_RENEWALS = 3;
  function renewingSend(post, token, renew, maxRenewals = MAX_TOKEN_RENEWALS) {
    let current = token;
    let renewals = 0;
    const refused = (status) => ({
      ok: false,
      retry: renewals < maxRenewals,
      status
    });
    return async () => {
      let status = await post(current);
      if (status === 401 && renew && renewals < maxRenewals) {
        renewals += 1;
        let fresh;
        try {
          fresh = await renew();
        } catch {
          return refused(status);
        }
        if (fresh === null) return resultOf(status);
        current = fresh;
        status = await post(current);
        if (status === 401) return refused(status);
      }
      const result = resultOf(status);
      if (result.ok) renewals = 0;
      return result;
    };
  }

  // src/heartbeat-client/browser.ts
  var INPUT_EVENTS = ["keydown", "pointerdown", "pointermove", "wheel", "touchstart", "scroll"];
  function startHeartbeat(config, globals = globalThis) {
    const post = async (token) => {
      const response = await globals.fetch(config.url, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}` },
        keepalive: true,
        mode: "cors",
        credentials: "omit"
      });
      return response.status;
    };
    const send = renewingSend(post, config.token, config.renewToken);
    const clock = {
      now: () => Date.now(),
      setTimeout: (run, ms) => globals.setTimeout(run, ms),
      clearTimeout: (handle) => globals.clearTimeout(handle)
    };
    const visible = () => globals.document.visibilityState === "visible";
    const scheduler = new HeartbeatScheduler(send, clock, {
      intervalMs: config.intervalMs,
      maxBackoffMs: config.maxBackoffMs,
      visible: visible(),
      onResult: (result) => {
        if (scheduler.isStopped) detach();
        config.onResult?.(result);
      }
    });
    const onInput = () => scheduler.activity();
    const onVisibility = () => scheduler.visibility(visible());
    const onPageHide = () => scheduler.visibility(false);
    const options = { passive: true, capture: true };
    for (const type of INPUT_EVENTS) globals.addEventListener(type, onInput, options);
    globals.document.addEventListener("visibilitychange", onVisibility);
    globals.addEventListener("pagehide", onPageHide);
    function detach() {
      for (const type of INPUT_EVENTS) globals.removeEventListener(type, onInput, { capture: true });
      globals.document.removeEventListener("visibilitychange", onVisibility);
      globals.removeEventListener("pagehide", onPageHide);
    }
    scheduler.activity();
    return {
      activity: () => scheduler.activity(),
      stop() {
        scheduler.stop();
        detach();
      }
    };
  }

  // src/heartbeat-client/index.ts
  globalThis.OpenedxLabHeartbeat = {
    start: startHeartbeat,
    HeartbeatScheduler
  };
})();
