// Whether the press or click since probe.js armed its guard landed on the element (and
// nothing else); removes the guard.
() => {
  const guard = window.__wsHitGuard;
  if (!guard) return true;
  delete window.__wsHitGuard;
  guard.remove();
  return guard.landed && !guard.missed;
}
