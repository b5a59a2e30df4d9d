// Installed in every frame before any page script runs. Tracks what settle detection needs:
// fetch/XHR calls in flight, short timers pending, and the time of the last DOM mutation,
// network completion, timer, input event or navigation.
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

  // How long until this document and its same-origin frames may be calm, 0 when they are:
  // loaded, no fetch/XHR in flight, no short timer pending, and no DOM, network or input
  // activity for `quiet` ms, counted from no earlier than `since`.
  const POLL_MS = 20;
  const pending = (w, quiet, since, t) => {
    if (w.document.readyState !== 'complete') return POLL_MS;
    const s = w.__wsSettle;
    if (s && (s.inflight > 0 || s.timers.size > 0)) return POLL_MS;
    let wait = quiet - (t - Math.max(s ? s.lastActivity : 0, since));
    for (let i = 0; i < w.frames.length; i++) {
      let child = null;
      try { child = w.frames[i].document ? w.frames[i] : null; } catch (err) { child = null; }
      if (child) wait = Math.max(wait, pending(child, quiet, since, t));
    }
    return Math.max(0, wait);
  };
  // Resolves true once calm, false after `timeout` ms; checked in the page, without round
  // trips, and woken exactly when the quiet window can have passed.
  state.wait = ({ quiet, since, timeout }) => new Promise((resolve) => {
    const start = now();
    const check = () => {
      const t = now();
      const wait = pending(window, quiet, since, t);
      if (wait <= 0) resolve(true);
      else if (t - start >= timeout) resolve(false);
      else nativeSetTimeout(check, Math.min(wait, start + timeout - t));
    };
    check();
  });

  // Input the page receives and navigations it starts are activity too, so the quiet window
  // counts from the page's own last event and the time an action takes to return already
  // counts toward it.
  const INPUT = ['pointerdown', 'pointerup', 'mouseover', 'click', 'keydown', 'keyup', 'input',
    'change', 'submit', 'scroll', 'popstate', 'hashchange', 'pageshow'];
  for (const type of INPUT) window.addEventListener(type, touch, { capture: true, passive: true });
  if (window.navigation) window.navigation.addEventListener('navigate', touch);

  // A tab this page opens (a link or form targeting _blank, window.open) shows up in the
  // browser only a little later; `tabOpenedAt` tells the wait to expect it.
  state.tabOpenedAt = 0;
  const blank = (target) => (target || '').toLowerCase() === '_blank';
  window.addEventListener('click', (event) => {
    const origin = event.composedPath()[0];
    const link = origin instanceof Element ? origin.closest('a[href], area[href]') : null;
    if (link && !event.defaultPrevented && blank(link.getAttribute('target'))) {
      state.tabOpenedAt = now();
    }
  });
  window.addEventListener('submit', (event) => {
    const submitter = event.submitter;
    const target = submitter && submitter.hasAttribute('formtarget')
      ? submitter.getAttribute('formtarget') : event.target.getAttribute('target');
    if (!event.defaultPrevented && blank(target)) state.tabOpenedAt = now();
  });
  const nativeOpen = window.open;
  window.open = function (url, target, ...rest) {
    if (!target || blank(target)) state.tabOpenedAt = now();
    return nativeOpen.call(this, url, target, ...rest);
  };

  const observe = () => {
    // The ids the capture writes (data-wsid) are not the page's own activity.
    const own = (record) => record.attributeName === 'data-wsid';
    new MutationObserver((records) => { if (!records.every(own)) touch(); }).observe(document, {
      subtree: true, childList: true, attributes: true, characterData: true,
    });
  };
  if (document.documentElement) observe();
  else document.addEventListener('readystatechange', observe, { once: true });
  document.addEventListener('readystatechange', touch);
  window.addEventListener('load', touch);
})();
