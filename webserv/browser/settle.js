// Installed in every frame before any page script runs, called with the timer horizon (ms).
// Tracks what settle detection needs: fetch/XHR calls in flight, short timers pending, longer
// timers (up to the horizon) the page set since an action, the time of the last DOM mutation,
// network completion, timer, input event or navigation, and whether the browser has found the
// page idle since then.
(horizonMs) => {
  if (window.__wsSettle) return;
  // Absolute milliseconds, so that frames with different time origins compare.
  const now = () => performance.timeOrigin + performance.now();
  const state = { inflight: 0, lastActivity: now(), idleAt: 0, mutations: 0, requests: 0 };
  // The fetch/XHR calls in flight, by URL, for the report of what was still pending.
  const calls = new Map();
  window.__wsSettle = state;
  // Waits in progress, woken when the browser reports the page idle.
  const waiters = new Set();

  // The browser runs an idle callback only when it has no task, timer or frame work queued; one
  // that ran after the last activity is evidence the page has stopped reacting. Waits of the
  // frames above this one look at this frame too, so they are woken with it.
  const nativeIdle = window.requestIdleCallback ? window.requestIdleCallback.bind(window) : null;
  let idleRequested = false;
  state.wake = () => {
    for (const wake of waiters) wake();
    try {
      if (window.parent !== window && window.parent.__wsSettle) window.parent.__wsSettle.wake();
    } catch (err) { /* a cross-origin parent waits on its own */ }
  };
  const askIdle = () => {
    if (nativeIdle && !idleRequested) {
      idleRequested = true;
      nativeIdle(() => {
        idleRequested = false;
        state.idleAt = now();
        state.wake();
      });
    }
  };
  const touch = () => {
    state.lastActivity = now();
    askIdle();
  };

  // Callbacks of a request/cancel pair (animation frames, idle callbacks) that the page has
  // requested and not yet received, by id.
  const track = (request, cancel) => {
    const pending = new Set();
    const nativeRequest = window[request].bind(window);
    const nativeCancel = window[cancel].bind(window);
    window[request] = function (fn, ...rest) {
      if (typeof fn !== 'function') return nativeRequest(fn, ...rest);
      const id = nativeRequest((...args) => {
        pending.delete(id);
        fn.apply(this, args);
      }, ...rest);
      pending.add(id);
      return id;
    };
    window[cancel] = function (id) {
      pending.delete(id);
      return nativeCancel(id);
    };
    return pending;
  };
  // A page drawing from frame to frame is not idle, whatever the idle callbacks say; idle
  // callbacks the page itself has requested are work it has deferred, not done.
  const frames = track('requestAnimationFrame', 'cancelAnimationFrame');
  const idleWork = nativeIdle ? track('requestIdleCallback', 'cancelIdleCallback') : new Set();
  // Animations and transitions seen running: the page reacts to their end (transitionend,
  // animationend), so an animation ending is activity.
  const animations = new WeakSet();
  const animating = (w) => {
    let running = false;
    for (const animation of w.document.getAnimations()) {
      if (animation.playState !== 'running') continue;
      running = true;
      if (!animations.has(animation)) {
        animations.add(animation);
        animation.finished.then(touch, () => {});
      }
    }
    return running;
  };
  state.animating = animating;

  const begin = (url) => {
    state.inflight += 1;
    state.requests += 1;
    calls.set(url, (calls.get(url) || 0) + 1);
    touch();
  };
  const end = (url) => {
    state.inflight = Math.max(0, state.inflight - 1);
    const left = (calls.get(url) || 1) - 1;
    if (left > 0) calls.set(url, left);
    else calls.delete(url);
    touch();
  };

  // Short timers are pending work (debounces, "load after a moment", a step that sets up the
  // next one), up to the third link of a chain of timers each set from the last one's
  // callback; later links (animation or polling loops) are not, or a page with a ticking loop
  // would never settle.
  // Longer timers, up to the horizon, are pending when the page's own code (not another timer)
  // set them after the action began: a preview rendered 2 s after the last keystroke. One whose
  // callback turns out to change nothing (no DOM mutation, no request) marks its kind (delay
  // and code) inert, and later timers of that kind are not waited for.
  const nativeSetTimeout = window.setTimeout.bind(window);
  const nativeClearTimeout = window.clearTimeout.bind(window);
  const SHORT_TIMER_MS = 500;
  const PENDING_CHAIN_LINKS = 3;
  const timers = new Set();
  // Long timers by id: when they were set and when they are due (absolute ms).
  const longTimers = new Map();
  const inert = new Set();
  // The chain link of the timer callback running now (0: not in a timer callback).
  let link = 0;
  state.timers = timers;
  state.longTimers = longTimers;
  state.frames = frames;
  state.idleWork = idleWork;
  window.setTimeout = function (fn, delay, ...args) {
    const ms = Number(delay) || 0;
    if (typeof fn !== 'function' || (ms > SHORT_TIMER_MS && link > 0)) {
      return nativeSetTimeout(fn, delay, ...args);
    }
    const own = link + 1;
    const short = ms <= SHORT_TIMER_MS;
    const kind = short ? '' : `${ms}:${String(fn).slice(0, 200)}`;
    const pending = short ? own <= PENDING_CHAIN_LINKS : ms <= horizonMs && !inert.has(kind);
    const id = nativeSetTimeout((...params) => {
      timers.delete(id);
      const long = longTimers.delete(id);
      if (pending) touch();
      const before = state.mutations + state.requests;
      const outer = link;
      link = own;
      try {
        fn.apply(this, params);
      } finally {
        link = outer;
        // Mutation records arrive as a microtask after the callback: look once they have.
        if (long) {
          nativeSetTimeout(() => {
            if (state.mutations + state.requests === before) inert.add(kind);
          }, 0);
        }
      }
    }, delay, ...args);
    if (pending && short) timers.add(id);
    else if (!short) longTimers.set(id, { set: now(), due: now() + ms, awaited: pending });
    return id;
  };
  window.clearTimeout = function (id) {
    timers.delete(id);
    longTimers.delete(id);
    return nativeClearTimeout(id);
  };

  const nativeFetch = window.fetch;
  if (nativeFetch) {
    window.fetch = function (...args) {
      const url = String(args[0] && args[0].url ? args[0].url : args[0]);
      begin(url);
      let promise;
      try {
        promise = nativeFetch.apply(this, args);
      } catch (err) {
        end(url);
        throw err;
      }
      // The response body is usually read right after; count the body read as part of the call.
      return promise.then(
        (response) => {
          const clone = response.clone();
          const done = () => end(url);
          clone.arrayBuffer().then(done, done);
          return response;
        },
        (err) => { end(url); throw err; },
      );
    };
  }

  const nativeXhrOpen = XMLHttpRequest.prototype.open;
  XMLHttpRequest.prototype.open = function (method, url, ...rest) {
    this.__wsUrl = String(url);
    return nativeXhrOpen.call(this, method, url, ...rest);
  };
  const nativeSend = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (...args) {
    const url = this.__wsUrl || '';
    begin(url);
    this.addEventListener('loadend', () => end(url), { once: true });
    try {
      return nativeSend.apply(this, args);
    } catch (err) {
      end(url);
      throw err;
    }
  };

  // Idle: our idle callback ran after the last activity (and after `since`), no animation frame
  // or idle callback of the page's is pending, and no animation or transition is running.
  const idle = (w, s, since) => s.idleAt > Math.max(s.lastActivity, since)
    && s.frames.size === 0 && s.idleWork.size === 0 && !s.animating(w);
  // How long until this document and its same-origin frames may be calm, 0 when they are:
  // loaded, no fetch/XHR in flight, no short timer pending, and no DOM, network or input
  // activity for `quiet` ms (`idleQuiet` ms once the browser has found the document idle),
  // counted from no earlier than `since`.
  const POLL_MS = 20;
  const awaiting = (s, since) => {
    for (const timer of s.longTimers.values()) if (timer.awaited && timer.set >= since) return true;
    return false;
  };
  const pending = (w, quiet, idleQuiet, since, t) => {
    if (w.document.readyState !== 'complete') return POLL_MS;
    const s = w.__wsSettle;
    if (s && (s.inflight > 0 || s.timers.size > 0 || awaiting(s, since))) return POLL_MS;
    const need = s && idle(w, s, since) ? idleQuiet : quiet;
    let wait = need - (t - Math.max(s ? s.lastActivity : 0, since));
    for (let i = 0; i < w.frames.length; i++) {
      let child = null;
      try { child = w.frames[i].document ? w.frames[i] : null; } catch (err) { child = null; }
      if (child) wait = Math.max(wait, pending(child, quiet, idleQuiet, since, t));
    }
    return Math.max(0, wait);
  };
  // Whether only the quiet window is left: this document and its same-origin frames are
  // loaded, idle, and wait on no call or timer.
  const windowLeft = (w, since) => {
    const s = w.__wsSettle;
    if (w.document.readyState !== 'complete' || !s || s.inflight > 0 || s.timers.size > 0
      || awaiting(s, since) || !idle(w, s, since)) return false;
    for (let i = 0; i < w.frames.length; i++) {
      let child = null;
      try { child = w.frames[i].document ? w.frames[i] : null; } catch (err) { child = null; }
      if (child && !windowLeft(child, since)) return false;
    }
    return true;
  };
  // The last activity of this document and its same-origin frames.
  state.latest = (w = window) => {
    let last = w.__wsSettle ? w.__wsSettle.lastActivity : 0;
    for (let i = 0; i < w.frames.length; i++) {
      try {
        if (w.frames[i].document && w.frames[i].__wsSettle) {
          last = Math.max(last, state.latest(w.frames[i]));
        }
      } catch (err) { /* cross-origin */ }
    }
    return last;
  };
  // Resolves true once calm, false after `timeout` ms, and with `early`, 'window' as soon as
  // only the quiet window is left; checked in the page, without round trips, and woken when
  // the quiet window can have passed or the page turns idle.
  state.wait = ({ quiet, idleQuiet, since, timeout, early }) => new Promise((resolve) => {
    const start = now();
    let timer = null;
    const check = () => {
      nativeClearTimeout(timer);
      const t = now();
      const wait = pending(window, quiet, idleQuiet, since, t);
      if (wait <= 0 || t - start >= timeout) {
        waiters.delete(check);
        resolve(wait <= 0);
      } else if (early && windowLeft(window, since)) {
        waiters.delete(check);
        resolve('window');
      } else {
        timer = nativeSetTimeout(check, Math.min(wait, start + timeout - t));
      }
    };
    waiters.add(check);
    askIdle();
    check();
  });

  // What this document and its same-origin frames were still doing: calls in flight, timers
  // due (those past the horizon, or set before the action, were not waited for), animations.
  state.describe = (since) => {
    const found = [];
    const t = now();
    const look = (w) => {
      const s = w.__wsSettle;
      if (!s) return;
      for (const url of s.calls.keys()) found.push(`request ${url}`);
      if (s.timers.size) found.push(`${s.timers.size} short timer(s)`);
      for (const timer of s.longTimers.values()) {
        const why = timer.awaited && timer.set >= since ? '' : ', not waited for';
        found.push(`timer due in ${Math.round(timer.due - t)} ms${why}`);
      }
      if (s.animating(w)) found.push('animation running');
      for (let i = 0; i < w.frames.length; i++) {
        try { if (w.frames[i].document) look(w.frames[i]); } catch (err) { /* cross-origin */ }
      }
    };
    look(window);
    return found.slice(0, 10);
  };
  state.calls = calls;

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
    new MutationObserver((records) => {
      if (records.every(own)) return;
      state.mutations += 1;
      touch();
    }).observe(document, {
      subtree: true, childList: true, attributes: true, characterData: true,
    });
  };
  if (document.documentElement) observe();
  else document.addEventListener('readystatechange', observe, { once: true });
  document.addEventListener('readystatechange', touch);
  window.addEventListener('load', touch);
}
