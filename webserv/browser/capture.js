// One pass over a document (and its same-origin iframes, recursively) collecting what the compact
// observation needs. Interactive elements get a short id in the `data-wsid` attribute, reused for
// as long as the node lives; ids inside an iframe are prefixed with the iframe's own id and a dot.
// Data tables come out as rows of cells, each cell a list of nodes; nodes inside a top-level
// navigation or complementary landmark carry its index (`lm`), nodes inside the main landmark
// `main`, so that the rendering can put the content first and fold long navigation.
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
  // Where nodes go: the page's list, or the cell of a table being captured.
  let out = nodes;
  const landmarks = [];
  // Text a control took as its name (the words right after an unlabelled checkbox).
  const consumed = new Set();
  const display = new Map();
  const blockKeys = new Map();
  let nextBlock = 0;
  const rootWin = window;
  const vh = rootWin.innerHeight;
  const vw = rootWin.innerWidth;

  // Zero-width characters and soft hyphens are invisible: names keep only what a reader sees.
  const INVISIBLE = /[\u200B-\u200D\u2060\uFEFF\u00AD]/g;
  const collapse = (s) => (s || '').replace(INVISIBLE, '').replace(/\s+/g, ' ').trim();
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
    if (tag === 'a') {
      return el.hasAttribute('href') || el.getAttribute('aria-disabled') === 'true' ? 'link' : '';
    }
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

  // The text of an element as its accessible name reads it: without what is hidden from
  // assistive technology (a visible count beside its screen-reader wording is said once) and
  // without the values of the form controls inside it.
  const contentText = (el) => {
    if (!el.querySelector('[aria-hidden="true"],input,select,textarea')) return textOf(el);
    const parts = [];
    const walk = (node) => {
      for (const child of node.childNodes) {
        if (child.nodeType === 3) {
          parts.push(child.data);
          continue;
        }
        if (child.nodeType !== 1 || SKIP.has(child.localName) || child.hidden ||
            child.getAttribute('aria-hidden') === 'true' ||
            ['input', 'select', 'textarea'].includes(child.localName)) continue;
        const style = child.ownerDocument.defaultView.getComputedStyle(child);
        if (style.display === 'none' || style.visibility === 'hidden') continue;
        const inline = style.display.startsWith('inline');
        if (!inline) parts.push(' ');
        if (child.localName === 'img') parts.push(child.getAttribute('alt') || '');
        else walk(child);
        if (!inline) parts.push(' ');
      }
    };
    walk(el);
    return collapse(parts.join(''));
  };

  const labelText = (el) => [...(el.labels || [])].map(contentText).filter(Boolean).join(' ');

  // The column a cell starts in, counting the spans of the cells before it in its row.
  const columnOf = (cell) => {
    let col = 0;
    for (let c = cell.previousElementSibling; c; c = c.previousElementSibling) col += c.colSpan || 1;
    return col;
  };
  const headerRow = (table) => {
    if (table.tHead && table.tHead.rows.length) return table.tHead.rows[table.tHead.rows.length - 1];
    const first = table.rows[0];
    return first && [...first.cells].every((c) => c.localName === 'th') ? first : null;
  };
  const cellAt = (row, col) => {
    let at = 0;
    for (const cell of row.cells) {
      at += cell.colSpan || 1;
      if (at > col) return cell;
    }
    return null;
  };
  // What names an unlabelled control in a table: its column's header, else its row's header,
  // else (a form laid out as a table: "Status [is] [active]") the row's first cell.
  const tableName = (el) => {
    const cell = el.closest('td,th');
    const table = cell && cell.closest('table');
    if (!table) return '';
    const head = headerRow(table);
    if (head && head !== cell.parentElement) {
      const header = cellAt(head, columnOf(cell));
      const text = header ? contentText(header) : '';
      if (text) return text;
    }
    const row = cell.parentElement;
    const rowHeader = row.querySelector(':scope > th') || row.cells[0];
    return rowHeader && rowHeader !== cell ? clip(contentText(rowHeader), 60) : '';
  };
  // The words right after an unlabelled checkbox or radio button ("[x] Remember me"); they are
  // its name, and are then not repeated as text.
  const INLINE_TEXT = new Set(['span', 'b', 'strong', 'em', 'i', 'small', 'font']);
  const followingText = (el) => {
    let sib = el.nextSibling;
    while (sib && sib.nodeType === 3 && !collapse(sib.data)) sib = sib.nextSibling;
    if (!sib) return '';
    const text = sib.nodeType === 3 ? collapse(sib.data)
      : sib.nodeType === 1 && INLINE_TEXT.has(sib.localName) && !sib.querySelector(INTERACTIVE)
        ? contentText(sib) : '';
    if (!text || text.length > 80) return '';
    consumed.add(sib);
    return text;
  };
  // The words right before an unlabelled text field ("Search: [    ]"); already captured as
  // text, they are taken back.
  const precedingText = (el) => {
    let sib = el.previousSibling;
    while (sib && sib.nodeType === 3 && !collapse(sib.data)) sib = sib.previousSibling;
    const text = sib && sib.nodeType === 3 ? collapse(sib.data) : '';
    if (!text || text.length > 60) return '';
    const last = out[out.length - 1];
    if (last && last.k === 'text' && last.t === text) out.pop();
    return text.replace(/:$/, '').trim();
  };

  const nameOf = (el, role, withText) => {
    const doc = el.ownerDocument;
    const labelledby = el.getAttribute('aria-labelledby');
    if (labelledby) {
      const text = collapse(labelledby.split(/\s+/).map((i) => doc.getElementById(i))
        .filter(Boolean).map(contentText).join(' '));
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
      const named = labelText(el) || collapse(el.getAttribute('title')) ||
        collapse(el.getAttribute('placeholder')) || tableName(el);
      if (named) return named;
      return role === 'checkbox' || role === 'radio' ? followingText(el) : precedingText(el);
    }
    if (withText) {
      const text = contentText(el);
      if (text) return text;
      const img = el.querySelector('img[alt]');
      if (img && collapse(img.alt)) return collapse(img.alt);
      const svgTitle = el.querySelector('svg title');
      if (svgTitle && collapse(svgTitle.textContent)) return collapse(svgTitle.textContent);
    }
    return collapse(el.getAttribute('title')) ||
      (role === 'textbox' || role === 'combobox' ? tableName(el) : '');
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
    // Disabled by its own attribute, by a disabled fieldset around it, or by ARIA.
    if (el.matches(':disabled') || el.getAttribute('aria-disabled') === 'true') node.disabled = true;
    const expanded = el.getAttribute('aria-expanded');
    if (expanded !== null) node.expanded = expanded === 'true';
    if (tag === 'summary' && el.parentElement && el.parentElement.localName === 'details') {
      node.expanded = el.parentElement.open;
    }
    if (el.getAttribute('aria-selected') === 'true') node.selected = true;
    if (el.required) node.required = true;
    if (el.ownerDocument.activeElement === el) node.focused = true;
    if (tag === 'a' && el.target === '_blank') node.newTab = true;
    // Two links in a row to one page in the same tab (a product's picture and its title) are
    // one link.
    if (role === 'link' && el.href && (!el.target || el.target === '_self')) node.href = el.href;
    return node;
  };

  // Every node says where it belongs: a folded landmark, the main content, or neither.
  const push = (node, ctx) => {
    if (ctx.lm !== undefined) node.lm = ctx.lm;
    if (ctx.main) node.main = true;
    out.push(node);
  };

  const pushText = (text, parent, ctx) => {
    if (!text) return;
    const b = box(parent, ctx);
    push({ k: 'text', t: text, blk: blockOf(parent), cell: cellOf(parent), vis: inView(b),
      h: ctx.heading || 0 }, ctx);
  };

  const walkChildren = (root, ctx) => {
    for (const child of root.childNodes) {
      if (consumed.has(child)) continue;
      if (child.nodeType === 3) pushText(collapse(child.data), child.parentElement, ctx);
      else if (child.nodeType === 1) visit(child, ctx);
    }
    if (root.shadowRoot) walkChildren(root.shadowRoot, ctx);
  };

  // A table of data rather than of layout: it says so by a caption, a header section, header
  // cells or its role.
  const isDataTable = (table, ctx) => {
    if (ctx.inTable) return false;
    const role = (table.getAttribute('role') || '').split(' ')[0];
    if (role === 'presentation' || role === 'none') return false;
    if (['table', 'grid', 'treegrid'].includes(role)) return true;
    return Boolean(table.caption || table.tHead || table.tFoot ||
      table.querySelector(':scope > tbody > tr > th, :scope > tr > th'));
  };

  const shown = (el) => {
    const style = el.ownerDocument.defaultView.getComputedStyle(el);
    return style.display !== 'none' && style.visibility !== 'hidden' &&
      style.visibility !== 'collapse';
  };

  // A data table as a header row and rows of cells, each cell a list of nodes; a cell spanning
  // columns leaves empty cells after it, one spanning rows an empty cell below it, so that
  // every cell stays under its column's header.
  const visitTable = (table, ctx) => {
    const cellCtx = { ...ctx, inTable: true };
    const head = headerRow(table);
    const name = nameOf(table, 'table', false) ||
      (table.caption && shown(table.caption) ? contentText(table.caption) : '');
    const node = { k: 'table', name: clip(name, 200), head: null, rows: [],
      vis: inView(box(table, ctx)) };
    const below = [];
    const capture = (row) => {
      const cells = [];
      let col = 0;
      const fill = () => {
        while (below[col] > 0) {
          below[col] -= 1;
          cells.push([]);
          col += 1;
        }
      };
      for (const cell of row.cells) {
        fill();
        if (!shown(cell)) continue;
        const saved = out;
        out = [];
        walkChildren(cell, cellCtx);
        cells.push(out);
        out = saved;
        const span = Math.max(1, Math.min(cell.colSpan || 1, 50));
        for (let i = 0; i < span; i++) below[col + i] = Math.max(0, (cell.rowSpan || 1) - 1);
        for (let i = 1; i < span; i++) cells.push([]);
        col += span;
      }
      fill();
      return cells;
    };
    for (const row of table.rows) {
      if (!shown(row) || row.closest('table') !== table) continue;
      const cells = capture(row);
      if (row === head) node.head = cells;
      else if (cells.some((c) => c.length)) node.rows.push({ cells, vis: inView(box(row, ctx)) });
    }
    push(node, ctx);
  };

  // Landmarks whose content the rendering moves after the main content and may fold.
  const SIDE_LANDMARKS = new Set(['navigation', 'complementary']);
  const landmarkRole = (el) => {
    const explicit = (el.getAttribute('role') || '').split(' ')[0];
    if (explicit) return explicit;
    if (el.localName === 'nav') return 'navigation';
    if (el.localName === 'aside') return 'complementary';
    if (el.localName === 'main') return 'main';
    return '';
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
    if (tag === 'table' && isDataTable(el, ctx)) {
      visitTable(el, ctx);
      return;
    }
    if (tag === 'caption') return; // the table's name
    if (!ctx.main && ctx.lm === undefined && !ctx.inTable) {
      const landmark = landmarkRole(el);
      if (landmark === 'main') {
        walkChildren(el, { ...ctx, main: true });
        return;
      }
      if (SIDE_LANDMARKS.has(landmark)) {
        const lm = landmarks.length;
        landmarks.push({ id: idFor(el, ctx.prefix), role: landmark,
          name: clip(nameOf(el, landmark, false)), vis: inView(box(el, ctx)) });
        walkChildren(el, { ...ctx, lm });
        return;
      }
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
        const t = contentText(el);
        if (t) push({ k: 'heading', t: clip(t, 200), level, vis: inView(b) }, ctx);
        return;
      }
      walkChildren(el, { ...ctx, heading: level });
      return;
    }
    if (role === 'img') {
      const alt = collapse(el.getAttribute('alt') || el.getAttribute('aria-label'));
      if (alt) {
        const b = box(el, ctx);
        push({ k: 'img', t: clip(alt), vis: inView(b) }, ctx);
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
      if (node && (node.name || !nested || CONTAINER_ROLES.has(role))) push(node, ctx);
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
    landmarks,
    scroll: {
      y: Math.round(scroller ? scroller.scrollTop : 0),
      height: Math.round(scroller ? scroller.scrollHeight : vh),
      vh,
      vw,
    },
  });
}
