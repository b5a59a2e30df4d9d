// Installed in every frame before any page script runs. Tracks what settle detection needs:
// fetch/XHR calls in flight, short timers pending, and the time of the last DOM mutation,
// network completion or timer.
(() => {
  if (window.__wsSettle) return;
  // Absolute milliseconds, so that frames with different time origins compare.
  const now = () => performance.timeOrigin + performance.now();
  const state = { inflight: 0, lastActivity: now() };
  window.__wsSettle = state;
  const touch = () => { state.lastActivity = now(); };
  const begin = () => { state.inflight += 1; touch(); };
  const end = () => { state.inflight = Math.max(0, state.inflight - 1); touch(); };

  // Short timers set outside a timer callback (debounces, "load after a moment") are pending
  // work; timers set from timer callbacks (animation or polling chains) are not, or a page
  // with a ticking loop would never settle.
  const nativeSetTimeout = window.setTimeout.bind(window);
  const nativeClearTimeout = window.clearTimeout.bind(window);
  const SHORT_TIMER_MS = 500;
  const timers = new Set();
  let inTimer = false;
  state.timers = timers;
  window.setTimeout = function (fn, delay, ...args) {
    if (typeof fn !== 'function' || inTimer || (Number(delay) || 0) > SHORT_TIMER_MS) {
      return nativeSetTimeout(fn, delay, ...args);
    }
    const id = nativeSetTimeout((...params) => {
      timers.delete(id);
      touch();
      inTimer = true;
      try {
        fn.apply(this, params);
      } finally {
        inTimer = false;
      }
    }, delay, ...args);
    timers.add(id);
    return id;
  };
  window.clearTimeout = function (id) {
    timers.delete(id);
    return nativeClearTimeout(id);
  };

  const nativeFetch = window.fetch;
  if (nativeFetch) {
    window.fetch = function (...args) {
      begin();
      let promise;
      try {
        promise = nativeFetch.apply(this, args);
      } catch (err) {
        end();
        throw err;
      }
      // The response body is usually read right after; count the body read as part of the call.
      return promise.then(
        (response) => {
          const clone = response.clone();
          clone.arrayBuffer().then(end, end);
          return response;
        },
        (err) => { end(); throw err; },
      );
    };
  }

  const nativeSend = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (...args) {
    begin();
    this.addEventListener('loadend', end, { once: true });
    try {
      return nativeSend.apply(this, args);
    } catch (err) {
      end();
      throw err;
    }
  };

  // Calm: this document and its same-origin frames are loaded, have no fetch/XHR in flight
  // and saw no DOM or network change for `quiet` ms, counted from no earlier than `since`.
  const calm = (w, quiet, since, t) => {
    if (w.document.readyState !== 'complete') return false;
    const s = w.__wsSettle;
    if (s && (s.inflight > 0 || s.timers.size > 0 || t - Math.max(s.lastActivity, since) < quiet)) {
      return false;
    }
    if (!s && t - since < quiet) return false;
    for (let i = 0; i < w.frames.length; i++) {
      let child = null;
      try { child = w.frames[i].document ? w.frames[i] : null; } catch (err) { child = null; }
      if (child && !calm(child, quiet, since, t)) return false;
    }
    return true;
  };
  const POLL_MS = 20;
  // Resolves true once calm, false after `timeout` ms; checked in the page, without round trips.
  state.wait = ({ quiet, since, timeout }) => new Promise((resolve) => {
    const start = now();
    const check = () => {
      const t = now();
      if (calm(window, quiet, since, t)) resolve(true);
      else if (t - start >= timeout) resolve(false);
      else nativeSetTimeout(check, POLL_MS);
    };
    check();
  });

  const observe = () => {
    new MutationObserver(touch).observe(document, {
      subtree: true, childList: true, attributes: true, characterData: true,
    });
  };
  if (document.documentElement) observe();
  else document.addEventListener('readystatechange', observe, { once: true });
  document.addEventListener('readystatechange', touch);
  window.addEventListener('load', touch);
})();
