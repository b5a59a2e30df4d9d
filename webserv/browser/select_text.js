// Focus a text field of the main frame (a number field when the text is a number) and select
// its text; false for anything else (other input types, read-only fields, editable elements),
// which Playwright's fill handles.
([id, text]) => {
  const el = document.querySelector(`[data-wsid="${CSS.escape(id)}"]`);
  const TEXT = ['', 'text', 'search', 'email', 'url', 'tel', 'password'];
  const number = el instanceof HTMLInputElement && el.type === 'number'
    && text.trim() !== '' && !Number.isNaN(Number(text));
  const field = el instanceof HTMLTextAreaElement
    || (el instanceof HTMLInputElement && TEXT.includes(el.type)) || number;
  if (!field || el.readOnly || el.disabled) return false;
  el.focus();
  el.select();
  return document.activeElement === el;
}
