// The API reference, rendered from /openapi.json (generated from the
// protos) with nothing but this script: grouped by service, each operation
// with its parameters, request body and response fields.
import { api, describe } from '../api.js';
import { $, alertBox, h, replace } from '../ui.js';

const SERVICE_TITLES = {
  AccountService: 'Account and sign-in',
  BillingService: 'Credits and billing',
  MediaService: 'Images',
  AnalysisService: 'Product analysis',
  GenerationService: 'Generations, scenes and Looks',
};
const HIDDEN = /^\/v1\/admin\//;

export default async function apiReference() {
  const box = $('[data-api]');
  let doc;
  try {
    doc = await api('/openapi.json');
  } catch (err) {
    replace(box, alertBox('error', 'The reference could not be loaded.', describe(err)));
    return;
  }
  const groups = new Map();
  for (const [path, ops] of Object.entries(doc.paths || {})) {
    if (HIDDEN.test(path)) continue;
    for (const [method, op] of Object.entries(ops)) {
      const tag = (op.tags && op.tags[0]) || 'Other';
      if (!groups.has(tag)) groups.set(tag, []);
      groups.get(tag).push({ path, method: method.toUpperCase(), op });
    }
  }
  const tags = new Map((doc.tags || []).map((t) => [t.name, t.description || '']));
  const toc = [];
  const sections = [];
  for (const [tag, ops] of groups) {
    const title = SERVICE_TITLES[tag] || tag;
    toc.push(h('h2', {}, title), h('ul', {}, ops.map((o) => h('li', {}, h('a', { href: '#' + anchor(o) }, `${o.method} ${o.path}`)))));
    sections.push(h('section', { class: 'card section-card', id: 'tag-' + tag },
      h('h2', { class: 'h3' }, title),
      tags.get(tag) ? h('p', { class: 'muted' }, tags.get(tag)) : null,
      ops.map((o) => operation(doc, o))));
  }
  replace($('[data-api-toc]'), toc);
  replace(box, sections);
  if (location.hash) {
    const target = document.getElementById(location.hash.slice(1));
    if (target) target.scrollIntoView();
  }
}

function anchor(o) {
  return 'op-' + (o.op.operationId || `${o.method}-${o.path}`).replace(/[^A-Za-z0-9_-]/g, '-');
}

function operation(doc, { path, method, op }) {
  const params = (op.parameters || []).filter((p) => p.in !== 'body');
  const body = (op.parameters || []).find((p) => p.in === 'body');
  const ok = op.responses && op.responses['200'];
  return h('div', { class: 'op', id: anchor({ path, method, op }) },
    h('div', { class: 'op-line' }, h('span', { class: `method method-${method.toLowerCase()}` }, method), h('span', { class: 'op-path' }, path)),
    op.summary ? h('p', {}, op.summary) : null,
    params.length ? h('details', {}, h('summary', {}, 'Parameters'), fieldTable(params.map((p) => ({
      name: p.name, type: typeName(doc, p), where: p.in, description: p.description || '',
    })))) : null,
    body ? h('details', {}, h('summary', {}, 'Request body'), schemaTable(doc, body.schema)) : null,
    ok && ok.schema ? h('details', {}, h('summary', {}, 'Response'), schemaTable(doc, ok.schema)) : null);
}

function resolve(doc, schema) {
  let s = schema || {};
  for (let i = 0; s.$ref && i < 5; i++) s = doc.definitions[s.$ref.replace('#/definitions/', '')] || {};
  return s;
}

function typeName(doc, s) {
  if (!s) return '';
  if (s.$ref) {
    const name = s.$ref.replace('#/definitions/', '').replace(/^v1/, '');
    const r = resolve(doc, s);
    return r.enum ? `enum ${name}` : name;
  }
  if (s.type === 'array') return `${typeName(doc, s.items)}[]`;
  if (s.format === 'int64' || s.format === 'uint64') return 'string (int64)';
  if (s.type === 'object' && s.additionalProperties) return 'map';
  return s.format && s.type !== 'string' ? `${s.type} (${s.format})` : s.type || 'object';
}

function schemaTable(doc, schema) {
  const s = resolve(doc, schema);
  const props = Object.entries(s.properties || {});
  if (!props.length) return h('p', { class: 'muted small' }, s.description ? s.description : 'Empty object {}');
  return fieldTable(props.map(([name, p]) => {
    const r = resolve(doc, p.items || p);
    let description = p.description || p.title || (p.$ref ? r.description : '') || '';
    if (r.enum) description += (description ? ' ' : '') + 'One of: ' + r.enum.join(', ') + '.';
    return { name, type: typeName(doc, p), description };
  }));
}

function fieldTable(rows) {
  return h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Field'), h('th', { scope: 'col' }, 'Type'), h('th', { scope: 'col' }, 'Description'))),
    h('tbody', {}, rows.map((r) => h('tr', {},
      h('td', {}, h('code', {}, r.name), r.where ? h('span', { class: 'muted small' }, ` (${r.where})`) : null),
      h('td', { class: 'small' }, r.type),
      h('td', { class: 'small' }, r.description))))));
}
