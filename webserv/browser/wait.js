// The settle wait of one observation: until settle.js finds the page settled (pages without
// it, such as error pages, only need to have loaded). THEN, a function expression, runs the
// moment the wait ends, in the same round trip; `at` is when that was, on the wall clock,
// and `tab` when the page last opened a new tab.
async ({ wait, arg }) => {
  const s = window.__wsSettle;
  const calm = s && s.wait ? await s.wait(wait)
    : await new Promise((resolve) => document.readyState === 'complete' ? resolve(true)
        : window.addEventListener('load', () => resolve(true), { once: true }));
  const at = performance.timeOrigin + performance.now();
  if (calm === 'window') return { calm, at, latest: s.latest() };
  const pending = s && s.describe ? s.describe(wait.since) : [];
  const latest = s && s.latest ? s.latest() : at;
  return { calm, at, latest, tab: s ? s.tabOpenedAt : 0, pending, value: (THEN)(arg) };
}
