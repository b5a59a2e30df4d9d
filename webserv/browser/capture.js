// One pass over a document (and its same-origin iframes, recursively) collecting what the compact
// observation needs. Interactive elements get a short id in the `data-wsid` attribute, reused for
// as long as the node lives; ids inside an iframe are prefixed with the iframe's own id and a dot.
// Returns the capture as JSON text.
(opts) => {
  const MAX_NAME = opts.maxName || 100;
  const MAX_OPTIONS = opts.maxOptions || 25;
  const SKIP = new Set(['script', 'style', 'noscript', 'template', 'head', 'meta', 'link', 'title',
    'base', 'datalist']);
  const INTERACTIVE_ROLES = new Set(['button', 'link', 'checkbox', 'radio', 'tab', 'menuitem',
    'menuitemcheckbox', 'menuitemradio', 'option', 'switch', 'combobox', 'textbox', 'searchbox',
    'slider', 'spinbutton', 'treeitem', 'listbox']);
  const CONTAINER_ROLES = new Set(['listbox', 'menu', 'menubar', 'radiogroup', 'tablist', 'tree',
    'grid']);
  const INTERACTIVE = 'a[href],button,input:not([type=hidden]),select,textarea,summary,' +
    '[contenteditable=""],[contenteditable=true],[onclick],[tabindex]:not([tabindex="-1"]),' +
    [...INTERACTIVE_ROLES].map((r) => `[role=${r}]`).join(',');
  const TEXTBOX_TYPES = new Set(['text', 'email', 'tel', 'url', 'password', 'number', 'date',
    'datetime-local', 'month', 'week', 'time', '']);

  const nodes = [];
  const display = new Map();
  const blockKeys = new Map();
  let nextBlock = 0;
  const rootWin = window;
  const vh = rootWin.innerHeight;
  const vw = rootWin.innerWidth;

  const collapse = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const clip = (s, n = MAX_NAME) => (s.length > n ? s.slice(0, n - 1) + '…' : s);

  const registry = (doc) => {
    if (!doc.__wsReg) doc.__wsReg = { seq: 0, byId: new Map() };
    return doc.__wsReg;
  };

  // Attribute writes invalidate style and layout; they are applied after the pass so that the
  // style and geometry reads during it stay cached.
  const pendingIds = [];
  const idFor = (el, prefix) => {
    const reg = registry(el.ownerDocument);
    const have = el.getAttribute('data-wsid');
    if (have !== null && have.startsWith(prefix) && /^\d+$/.test(have.slice(prefix.length))) {
      const owner = reg.byId.get(have);
      if (owner === el || !owner || !owner.isConnected) {
        reg.byId.set(have, el);
        const n = parseInt(have.slice(prefix.length), 10);
        if (n > reg.seq) reg.seq = n;
        return have;
      }
    }
    reg.seq += 1;
    const id = prefix + reg.seq;
    pendingIds.push([el, id]);
    reg.byId.set(id, el);
    return id;
  };

  const roleOf = (el) => {
    const explicit = (el.getAttribute('role') || '').split(' ')[0];
    if (explicit) return explicit;
    const tag = el.localName;
    if (tag === 'a') return el.hasAttribute('href') ? 'link' : '';
    if (tag === 'button' || tag === 'summary') return 'button';
    if (tag === 'select') return el.multiple || el.size > 1 ? 'listbox' : 'combobox';
    if (tag === 'textarea') return 'textbox';
    if (tag === 'input') {
      const type = (el.getAttribute('type') || '').toLowerCase();
      if (TEXTBOX_TYPES.has(type)) return 'textbox';
      if (type === 'search') return 'searchbox';
      if (type === 'checkbox' || type === 'radio') return type;
      if (type === 'range') return 'slider';
      if (['submit', 'button', 'reset', 'image', 'file'].includes(type)) return 'button';
      return 'textbox';
    }
    if (/^h[1-6]$/.test(tag)) return 'heading';
    if (tag === 'img') return 'img';
    if (el.isContentEditable) return 'textbox';
    return '';
  };

  const textOf = (el) => collapse(el.innerText !== undefined ? el.innerText : el.textContent);

  const labelText = (el) => {
    const doc = el.ownerDocument;
    const parts = [];
    if (el.id) {
      for (const label of doc.querySelectorAll(`label[for="${CSS.escape(el.id)}"]`)) {
        parts.push(textOf(label));
      }
    }
    const wrapping = el.closest('label');
    if (wrapping && !parts.length) {
      const copy = wrapping.cloneNode(true);
      copy.querySelectorAll('input,select,textarea').forEach((c) => c.remove());
      parts.push(collapse(copy.textContent));
    }
    return parts.filter(Boolean).join(' ');
  };

  const nameOf = (el, role, withText) => {
    const doc = el.ownerDocument;
    const labelledby = el.getAttribute('aria-labelledby');
    if (labelledby) {
      const text = labelledby.split(/\s+/).map((i) => doc.getElementById(i))
        .filter(Boolean).map(textOf).join(' ');
      if (text) return text;
    }
    const aria = collapse(el.getAttribute('aria-label'));
    if (aria) return aria;
    const tag = el.localName;
    if (tag === 'input' || tag === 'select' || tag === 'textarea') {
      const type = (el.getAttribute('type') || '').toLowerCase();
      if (['submit', 'button', 'reset'].includes(type)) {
        return collapse(el.value) || (type === 'reset' ? 'Reset' : 'Submit');
      }
      if (type === 'image') return collapse(el.alt) || 'Submit';
      return labelText(el) || collapse(el.getAttribute('placeholder')) ||
        collapse(el.getAttribute('title')) || '';
    }
    if (withText) {
      const text = textOf(el);
      if (text) return text;
      const img = el.querySelector('img[alt]');
      if (img && collapse(img.alt)) return collapse(img.alt);
    }
    return collapse(el.getAttribute('title'));
  };

  const blockOf = (el) => {
    let cur = el;
    while (cur && cur.nodeType === 1) {
      const d = display.get(cur) || '';
      if (!d.startsWith('inline') && d !== 'contents' && d !== 'table-cell') break;
      cur = cur.parentElement;
    }
    if (!blockKeys.has(cur)) blockKeys.set(cur, nextBlock++);
    return blockKeys.get(cur);
  };

  const cellOf = (el) => {
    const cell = el.closest('td,th');
    return cell ? (blockKeys.get(cell) ?? (blockKeys.set(cell, nextBlock++), blockKeys.get(cell)))
      : -1;
  };

  const box = (el, ctx) => {
    const r = el.getBoundingClientRect();
    return [Math.round(r.left + ctx.dx), Math.round(r.top + ctx.dy), Math.round(r.width),
      Math.round(r.height)];
  };

  const inView = (b) => b[1] + b[3] > 0 && b[1] < vh && b[0] + b[2] > 0 && b[0] < vw;

  const interactiveNode = (el, role, ctx, withText) => {
    const b = box(el, ctx);
    const node = { k: 'el', id: idFor(el, ctx.prefix), role, name: clip(nameOf(el, role, withText)),
      box: b, vis: inView(b) };
    if (ctx.heading) node.h = ctx.heading;
    const tag = el.localName;
    const type = (el.getAttribute('type') || '').toLowerCase();
    if (tag === 'select') {
      const opts = [...el.options];
      node.options = opts.slice(0, MAX_OPTIONS).map((o) => clip(collapse(o.label || o.text), 60));
      node.moreOptions = Math.max(0, opts.length - MAX_OPTIONS);
      node.value = opts.filter((o) => o.selected).map((o) => collapse(o.label || o.text)).join(', ');
    } else if (role === 'checkbox' || role === 'radio' || role === 'switch') {
      node.checked = tag === 'input' ? el.checked : el.getAttribute('aria-checked') === 'true';
    } else if (tag === 'textarea' || (tag === 'input' && role !== 'button')) {
      node.value = type === 'password' ? '•'.repeat(Math.min(el.value.length, 8)) :
        clip(collapse(el.value), 200);
    } else if (el.isContentEditable) {
      node.value = clip(textOf(el), 200);
    }
    if (el.disabled || el.getAttribute('aria-disabled') === 'true') node.disabled = true;
    const expanded = el.getAttribute('aria-expanded');
    if (expanded !== null) node.expanded = expanded === 'true';
    if (tag === 'summary' && el.parentElement && el.parentElement.localName === 'details') {
      node.expanded = el.parentElement.open;
    }
    if (el.getAttribute('aria-selected') === 'true') node.selected = true;
    if (el.required) node.required = true;
    if (el.ownerDocument.activeElement === el) node.focused = true;
    if (tag === 'a' && el.target === '_blank') node.newTab = true;
    return node;
  };

  const pushText = (text, parent, ctx) => {
    if (!text) return;
    const b = box(parent, ctx);
    nodes.push({ k: 'text', t: text, blk: blockOf(parent), cell: cellOf(parent), vis: inView(b),
      h: ctx.heading || 0 });
  };

  const walkChildren = (root, ctx) => {
    for (const child of root.childNodes) {
      if (child.nodeType === 3) pushText(collapse(child.data), child.parentElement, ctx);
      else if (child.nodeType === 1) visit(child, ctx);
    }
    if (root.shadowRoot) walkChildren(root.shadowRoot, ctx);
  };

  const visit = (el, ctx) => {
    const tag = el.localName;
    if (SKIP.has(tag) || el.getAttribute('aria-hidden') === 'true' || el.hidden) return;
    const view = el.ownerDocument.defaultView;
    const style = view.getComputedStyle(el);
    if (style.display === 'none' || style.visibility === 'hidden' ||
        style.visibility === 'collapse' || style.opacity === '0') return;
    display.set(el, style.display);

    // A label's text is already its control's accessible name.
    if (tag === 'label' && el.control) {
      if (el.contains(el.control)) visit(el.control, ctx);
      return;
    }
    if (tag === 'iframe') {
      let doc = null;
      try { doc = el.contentDocument; } catch (e) { doc = null; }
      if (!doc || !doc.body) return;
      const r = el.getBoundingClientRect();
      const prefix = idFor(el, ctx.prefix) + '.';
      walkChildren(doc.body, { ...ctx, prefix, dx: ctx.dx + r.left + el.clientLeft,
        dy: ctx.dy + r.top + el.clientTop });
      return;
    }
    const role = roleOf(el);
    if (role === 'heading') {
      const level = parseInt(el.getAttribute('aria-level') || tag.slice(1), 10) || 2;
      if (!el.querySelector(INTERACTIVE)) {
        const b = box(el, ctx);
        const t = textOf(el);
        if (t) nodes.push({ k: 'heading', t: clip(t, 200), level, vis: inView(b) });
        return;
      }
      walkChildren(el, { ...ctx, heading: level });
      return;
    }
    if (role === 'img') {
      const alt = collapse(el.getAttribute('alt') || el.getAttribute('aria-label'));
      if (alt) {
        const b = box(el, ctx);
        nodes.push({ k: 'img', t: clip(alt), vis: inView(b) });
      }
      return;
    }
    const interactive = INTERACTIVE_ROLES.has(role) || el.matches(INTERACTIVE);
    if (interactive) {
      const b = el.getBoundingClientRect();
      const sized = b.width > 0 && b.height > 0;
      const nested = CONTAINER_ROLES.has(role) || el.querySelector(INTERACTIVE) !== null;
      const node = sized || nested ? interactiveNode(el, role || 'clickable', ctx, !nested) : null;
      // An unnamed wrapper around other controls (an option holding a link) adds nothing.
      if (node && (node.name || !nested || CONTAINER_ROLES.has(role))) nodes.push(node);
      if (nested && tag !== 'select') walkChildren(el, ctx);
      return;
    }
    walkChildren(el, ctx);
  };

  // An open modal dialog makes the rest of the page inert: only the dialog can be used.
  const modal = document.querySelector(':modal') ||
    [...document.querySelectorAll('[aria-modal="true"]')].find((el) => el.checkVisibility());
  const root = modal || document.body || document.documentElement;
  if (modal) {
    nodes.push({ k: 'text', t: '(a modal dialog is open; the page behind it is inert)', blk: -1,
      cell: -1, vis: true, h: 0 });
  }
  if (root) walkChildren(root, { prefix: '', dx: 0, dy: 0, heading: 0 });
  for (const [el, id] of pendingIds) el.setAttribute('data-wsid', id);
  const scroller = document.scrollingElement || document.documentElement;
  // One string crosses the protocol much faster than a tree of small objects.
  return JSON.stringify({
    title: document.title,
    nodes,
    scroll: {
      y: Math.round(scroller ? scroller.scrollTop : 0),
      height: Math.round(scroller ? scroller.scrollHeight : vh),
      vh,
      vw,
    },
  });
}
