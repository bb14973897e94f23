// Small DOM helpers. Text is always set as text (never parsed as HTML), so
// nothing a user or the server sends can become markup.

/** h builds an element: h('a', {href: '/x', class: 'y'}, 'text', child). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** $ and $$ query the document (or root). */
export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

/** replace empties el and fills it with children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** alert renders a message box; kind is error, warn, ok or info. */
export function alertBox(kind, title, ...body) {
  return h('div', { class: `alert alert-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    title ? h('strong', {}, title) : null, ...body);
}

/** busy marks a button as working and disables it. */
export function busy(button, on) {
  if (!button) return;
  button.disabled = on;
  if (on) button.setAttribute('aria-busy', 'true');
  else button.removeAttribute('aria-busy');
}

/** notice shows a page-level message under the header. */
export function notice(kind, title, ...body) {
  const area = $('[data-notice]');
  if (area) replace(area, alertBox(kind, title, ...body));
}

let toastTimer;
/** toast shows a short confirmation. */
export function toast(message) {
  let el = $('.toast');
  if (!el) {
    el = h('div', { class: 'toast', role: 'status', 'aria-live': 'polite' });
    document.body.append(el);
  }
  el.textContent = message;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 3500);
}

/**
 * confirmDialog asks a yes/no question in the layout's <dialog> and
 * resolves true when confirmed. Focus returns to where it was.
 */
export function confirmDialog({ title, body, confirm = 'OK', danger = false }) {
  const dialog = $('[data-dialog]');
  const back = document.activeElement;
  replace($('[data-dialog-title]', dialog), title);
  replace($('[data-dialog-body]', dialog), typeof body === 'string' ? h('p', {}, body) : body);
  const ok = $('[data-dialog-ok]', dialog);
  ok.textContent = confirm;
  ok.className = danger ? 'button button-danger' : 'button';
  return new Promise((resolve) => {
    // The close event is dispatched in a later task, so the one from the
    // previous question can arrive after this one is shown (Cancel, then
    // at once the same button again): ignore it while the dialog is open.
    const closed = () => {
      if (dialog.open) return;
      dialog.removeEventListener('close', closed);
      if (back && back.focus) back.focus();
      resolve(dialog.returnValue === 'ok');
    };
    dialog.addEventListener('close', closed);
    dialog.returnValue = '';
    dialog.showModal();
    $('[data-dialog-cancel]', dialog).focus();
  });
}

/** promptDialog asks for one line of text; resolves null when cancelled. */
export async function promptDialog({ title, label, value = '', confirm = 'Save' }) {
  const input = h('input', { id: 'dialog-input', value, maxlength: 100, autocomplete: 'off' });
  const field = h('div', { class: 'field' }, h('label', { for: 'dialog-input' }, label), input);
  const shown = confirmDialog({ title, body: field, confirm });
  input.focus();
  input.select();
  return (await shown) ? input.value.trim() : null;
}

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dayFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

/** when formats a protojson timestamp. */
export function when(ts, { day = false } = {}) {
  if (!ts) return '';
  const d = new Date(ts);
  if (Number.isNaN(d.getTime()) || d.getTime() <= 0) return '';
  return (day ? dayFmt : dateFmt).format(d);
}

/** timeEl is a <time> element for a timestamp. */
export function timeEl(ts, opts) {
  return h('time', { datetime: ts || '' }, when(ts, opts));
}

/** money formats minor units of a currency. */
export function money(amount, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency: (currency || 'usd').toUpperCase() }).format(amount / 100);
  } catch {
    return `${(amount / 100).toFixed(2)} ${(currency || '').toUpperCase()}`;
  }
}

/** plural: plural(2, 'credit') is "2 credits". */
export function plural(n, word, many = word + 's') {
  return `${n.toLocaleString()} ${n === 1 ? word : many}`;
}

/** bytes formats a size. */
export function bytes(n) {
  if (!n) return '';
  const units = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

/** formData reads a form's named fields into a plain object. */
export function formData(form) {
  return Object.fromEntries(new FormData(form).entries());
}

/** fieldErrors marks invalid fields from a BadRequest detail. */
export function markInvalid(form, violations) {
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  for (const v of violations || []) {
    const name = (v.field || '').replace(/_([a-z])/g, (_, c) => c.toUpperCase());
    const el = form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (el) el.setAttribute('aria-invalid', 'true');
  }
}

/** initCompare wires a before/after slider (the range moves the clip). */
export function initCompare(root) {
  const range = root.querySelector('[data-compare-range]');
  const before = root.querySelector('[data-compare-before]');
  if (!range || !before) return;
  const update = () => { before.style.clipPath = `inset(0 ${100 - Number(range.value)}% 0 0)`; };
  range.addEventListener('input', update);
  update();
}
