// Gallery: uploads and generated images, paged, with multi-select delete.
import { api, describe, DOWNLOAD_FORMATS, imageURL } from '../api.js';
import { $, $$, alertBox, busy, bytes, confirmDialog, h, plural, replace, timeEl, toast } from '../ui.js';
import { requireUser } from '../session.js';

const state = { kind: '', token: '', selected: new Set(), images: new Map() };

export default async function gallery() {
  await requireUser();
  for (const tab of $$('.tab')) {
    tab.addEventListener('click', () => {
      for (const t of $$('.tab')) t.setAttribute('aria-pressed', String(t === tab));
      state.kind = tab.dataset.kind;
      load(false);
    });
  }
  $('[data-load-more]').addEventListener('click', () => load(true));
  $('[data-select-all]').addEventListener('click', () => {
    const all = state.selected.size < state.images.size;
    for (const box of $$('[data-tile-check]')) {
      box.checked = all;
      toggle(box.value, all);
    }
  });
  $('[data-delete-selected]').addEventListener('click', deleteSelected);
  load(false);
}

async function load(more) {
  const grid = $('[data-gallery]');
  const moreButton = $('[data-load-more]');
  replace($('[data-gallery-error]'));
  if (!more) {
    state.token = '';
    state.selected.clear();
    state.images.clear();
    replace(grid);
    updateSelection();
  }
  const q = new URLSearchParams({ pageSize: '24' });
  if (state.kind) q.set('kind', state.kind);
  if (more && state.token) q.set('pageToken', state.token);
  busy(moreButton, true);
  let r;
  try {
    r = await api('/v1/images?' + q);
  } catch (err) {
    replace($('[data-gallery-error]'), alertBox('error', 'Your images could not be loaded.', describe(err)));
    busy(moreButton, false);
    return;
  } finally {
    busy(moreButton, false);
  }
  const images = r.images || [];
  state.token = r.nextPageToken || '';
  moreButton.hidden = !state.token;
  if (!more && !images.length) {
    replace(grid, h('li', { class: 'empty' },
      h('h2', { class: 'h3' }, state.kind === 'IMAGE_KIND_GENERATED' ? 'No generated images yet' : 'No images yet'),
      h('p', {}, 'Upload a product photo in the studio to get started.'),
      h('a', { class: 'button', href: '/studio' }, 'Open the studio')));
    return;
  }
  grid.append(...images.map(tile));
}

function tile(img) {
  state.images.set(img.id, img);
  const generated = img.kind === 'IMAGE_KIND_GENERATED';
  const name = img.fileName || (generated ? 'Generated image' : 'Upload');
  const check = h('input', { type: 'checkbox', value: img.id, 'data-tile-check': '', 'aria-label': `Select ${name}` });
  const li = h('li', { class: 'tile', 'data-image-id': img.id },
    h('a', { class: 'tile-img', href: imageURL(img.id), target: '_blank', rel: 'noopener' },
      h('img', { src: imageURL(img.id, { thumbnail: true }), alt: name, loading: 'lazy', width: 256, height: 256 })),
    h('label', { class: 'tile-check' }, check),
    h('div', { class: 'tile-body' },
      h('div', { class: 'badges' }, h('span', { class: generated ? 'badge badge-accent' : 'badge' }, generated ? 'Generated' : 'Upload')),
      h('strong', { class: 'break' }, name),
      h('span', { class: 'muted' }, [img.width && img.height ? `${img.width}×${img.height}` : '', bytes(Number(img.sizeBytes))].filter(Boolean).join(' · ')),
      h('span', { class: 'muted' }, timeEl(img.createTime, { day: true })),
      h('span', { class: 'downloads small' }, 'Download:',
        ...DOWNLOAD_FORMATS.map(([f, label]) => h('a', { href: imageURL(img.id, { format: f, download: true }), 'aria-label': `Download ${name} as ${label}` }, label)))));
  check.addEventListener('change', () => toggle(img.id, check.checked));
  return li;
}

function toggle(id, on) {
  if (on) state.selected.add(id);
  else state.selected.delete(id);
  const li = $(`[data-image-id="${CSS.escape(id)}"]`);
  if (li) li.classList.toggle('is-selected', on);
  updateSelection();
}

function updateSelection() {
  const n = state.selected.size;
  $('[data-selection-count]').textContent = `${n} selected`;
  $('[data-delete-selected]').disabled = n === 0;
  $('[data-select-all]').textContent = n && n === state.images.size ? 'Select none' : 'Select all';
}

async function deleteSelected() {
  const ids = [...state.selected];
  if (!ids.length) return;
  const ok = await confirmDialog({
    title: `Delete ${plural(ids.length, 'image')}?`,
    body: 'Deleted images cannot be recovered. Images generated from a deleted upload are kept.',
    confirm: 'Delete', danger: true,
  });
  if (!ok) return;
  const button = $('[data-delete-selected]');
  busy(button, true);
  const failed = [];
  for (const id of ids) {
    try {
      await api('/v1/images/' + encodeURIComponent(id), { method: 'DELETE' });
      state.selected.delete(id);
      state.images.delete(id);
      const li = $(`[data-image-id="${CSS.escape(id)}"]`);
      if (li) li.remove();
    } catch (err) {
      failed.push(describe(err, 'The image'));
    }
  }
  busy(button, false);
  updateSelection();
  if (failed.length) {
    replace($('[data-gallery-error]'), alertBox('error', `${plural(failed.length, 'image')} could not be deleted.`, failed[0]));
  } else {
    toast(`Deleted ${plural(ids.length, 'image')}.`);
  }
  if (!state.images.size) load(false);
}
