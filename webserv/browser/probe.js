// Where an action's element is and whether it can be used: visible, not inert, not disabled,
// not covered at its middle point; with `arm`, a guard that stops a press or click that
// lands elsewhere until the next check (hit.js). Called with the elements a locator found.
(els, arm) => {
  const el = els[0];
  if (!el) return null;
  const r0 = el.getBoundingClientRect();
  const view = el.ownerDocument.defaultView;
  if (r0.bottom < 0 || r0.top > view.innerHeight || r0.right < 0 || r0.left > view.innerWidth) {
    el.scrollIntoView({block: 'center', inline: 'center', behavior: 'instant'});
  }
  const r = el.getBoundingClientRect();
  const visible = r.width > 0 && r.height > 0 && el.checkVisibility({checkOpacity: true,
    checkVisibilityCSS: true});
  // The middle of the element's first box: a link wrapped over two lines has nothing of its
  // own in the middle of its bounding rectangle.
  const box = [...el.getClientRects()].find((q) => q.width > 0 && q.height > 0) || r;
  const x = box.left + box.width / 2;
  const y = box.top + box.height / 2;
  const hit = visible ? el.ownerDocument.elementFromPoint(x, y) : null;
  const doc = el.ownerDocument;
  const modal = doc.querySelector(':modal');
  const state = {
    visible,
    inert: !!el.closest('[inert]') || (!!modal && !modal.contains(el)),
    disabled: el.matches(':disabled') || el.getAttribute('aria-disabled') === 'true',
    covered: !!hit && hit !== el && !el.contains(hit) && !hit.contains(el),
    point: null,
  };
  const onTarget = !!hit && (hit === el || el.contains(hit));
  if (arm && onTarget && !state.inert && !state.disabled && view === view.top) {
    // Until the next check, a press or click that lands on anything but this element is
    // stopped before the page sees it (the layout moved since this probe).
    const TYPES = ['pointerdown', 'mousedown', 'pointerup', 'mouseup', 'click'];
    const guard = { missed: false, landed: false };
    const check = (event) => {
      if (event.composedPath().includes(el)) {
        guard.landed = true;
        return;
      }
      guard.missed = true;
      event.preventDefault();
      event.stopImmediatePropagation();
    };
    guard.remove = () => TYPES.forEach((t) => view.removeEventListener(t, check, true));
    if (view.__wsHitGuard) view.__wsHitGuard.remove();
    TYPES.forEach((t) => view.addEventListener(t, check, true));
    view.__wsHitGuard = guard;
    state.point = [x, y];
  }
  return state;
}
