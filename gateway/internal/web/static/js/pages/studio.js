// Studio: upload photos, see the analysis, choose a scene and settings,
// see the cost before submitting, watch each job live, compare and
// download the results, and save settings as a Look.
import { api, ApiError, describe, DOWNLOAD_FORMATS, imageURL, int, upload } from '../api.js';
import { $, $$, alertBox, busy, h, initCompare, plural, promptDialog, replace, timeEl, toast } from '../ui.js';
import { onBalance, refreshBalance, requireUser } from '../session.js';

const TERMINAL = new Set(['JOB_STATE_SUCCEEDED', 'JOB_STATE_PARTIALLY_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELED']);
const ACCEPTED = new Set(['image/jpeg', 'image/png', 'image/webp']);
const MAX_UPLOAD = 25 * 1024 * 1024;

const state = {
  sources: new Map(), // id → image
  selected: [], // image ids, in the order picked
  sourcesToken: '',
  scenes: new Map(),
  looks: new Map(),
  balance: null,
  jobs: new Map(), // id → {card, source, timer}
  generationAvailable: true,
};

export default async function studio() {
  const user = await requireUser();
  const prefs = user.preferences || {};
  const form = $('[data-generate-form]');
  if (prefs.defaultAspectRatio) form.aspectRatio.value = prefs.defaultAspectRatio;
  if (prefs.defaultSize) form.size.value = prefs.defaultSize;

  onBalance((b) => {
    state.balance = b;
    $('[data-balance-big]').textContent = b.available.toLocaleString();
    updateCost();
  });
  refreshBalance().catch(() => {});

  initUpload();
  form.addEventListener('input', updateCost);
  form.addEventListener('change', updateCost);
  form.addEventListener('submit', (e) => { e.preventDefault(); generate(); });
  $('[data-save-look]').addEventListener('click', saveLook);
  $('[data-look-select]').addEventListener('change', applyLook);
  $('[data-more-sources]').addEventListener('click', () => loadSources(true));

  loadSources(false);
  loadScenes(prefs.defaultSceneId);
  loadLooks();
  loadJobs();
}

// ---- Uploads and source selection ----

function initUpload() {
  const zone = $('[data-dropzone]');
  const input = $('[data-file-input]');
  input.addEventListener('change', () => { uploadAll([...input.files]); input.value = ''; });
  for (const type of ['dragenter', 'dragover']) {
    zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add('is-over'); });
  }
  for (const type of ['dragleave', 'drop']) {
    zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.remove('is-over'); });
  }
  zone.addEventListener('drop', (e) => uploadAll([...(e.dataTransfer ? e.dataTransfer.files : [])]));
}

async function uploadAll(files) {
  const list = $('[data-upload-list]');
  const uploaded = [];
  for (const file of files) {
    const bar = h('progress', { max: 1, value: 0, 'aria-label': `Uploading ${file.name}` });
    const status = h('span', { class: 'muted' }, 'Waiting…');
    const item = h('li', { class: 'upload-item' }, h('span', { class: 'break' }, file.name), status, bar);
    list.prepend(item);
    const refuse = (title, why) => {
      bar.remove();
      status.textContent = 'Not uploaded';
      item.append(alertBox('error', title, why));
    };
    if (!ACCEPTED.has(file.type)) {
      refuse('This file type is not supported.', 'Use a JPEG, PNG or WebP photo.');
      continue;
    }
    if (file.size > MAX_UPLOAD) {
      refuse('This file is too large.', `Photos can be up to ${MAX_UPLOAD / 1024 / 1024} MB.`);
      continue;
    }
    status.textContent = 'Uploading…';
    try {
      const img = await upload(file, (p) => { bar.value = p; });
      bar.value = 1;
      status.textContent = 'Uploaded';
      item.classList.add('is-done');
      uploaded.push(img);
      addSource(img, true);
    } catch (err) {
      refuse(uploadRefusal(err), describe(err, 'Uploading'));
    }
  }
  if (uploaded.length) {
    state.selected = uploaded.map((i) => i.id);
    renderSelection();
  }
}

function uploadRefusal(err) {
  if (!(err instanceof ApiError)) return 'The upload failed.';
  if (err.status === 413) return 'This photo is too large.';
  if (err.status === 415) return 'This file is not a photo we can read.';
  if (err.status === 400) return 'This photo was refused.';
  return 'The upload failed.';
}

async function loadSources(more) {
  const q = new URLSearchParams({ pageSize: '12', kind: 'IMAGE_KIND_UPLOAD' });
  if (more && state.sourcesToken) q.set('pageToken', state.sourcesToken);
  try {
    const r = await api('/v1/images?' + q);
    for (const img of r.images || []) addSource(img, false);
    state.sourcesToken = r.nextPageToken || '';
    $('[data-more-sources]').hidden = !state.sourcesToken;
  } catch (err) {
    replace($('[data-sources]'), alertBox('error', 'Your uploads could not be loaded.', describe(err)));
    return;
  }
  if (!state.sources.size) replace($('[data-sources]'), h('p', { class: 'muted small' }, 'No uploads yet. Add a photo above.'));
  const wanted = new URLSearchParams(location.search).get('image');
  if (wanted && state.sources.has(wanted) && !state.selected.length) {
    state.selected = [wanted];
  } else if (!state.selected.length && state.sources.size) {
    state.selected = [state.sources.keys().next().value];
  }
  renderSelection();
}

function addSource(img, first) {
  const strip = $('[data-sources]');
  if (!state.sources.size) replace(strip);
  if (state.sources.has(img.id)) return;
  state.sources.set(img.id, img);
  const name = img.fileName || 'Upload';
  const button = h('button', { type: 'button', class: 'source', 'aria-pressed': 'false', 'data-source': img.id, title: name },
    h('img', { src: imageURL(img.id, { thumbnail: true }), alt: name, width: 84, height: 84, loading: 'lazy' }));
  button.addEventListener('click', () => {
    const i = state.selected.indexOf(img.id);
    if (i >= 0) state.selected.splice(i, 1);
    else state.selected.push(img.id);
    renderSelection();
  });
  if (first) strip.prepend(button);
  else strip.append(button);
}

function renderSelection() {
  for (const b of $$('[data-source]')) b.setAttribute('aria-pressed', String(state.selected.includes(b.dataset.source)));
  updateCost();
  showAnalysis(state.selected[0]);
}

// ---- Analysis ----

let analysisFor = '';
let analysisTimer;

async function showAnalysis(id) {
  const box = $('[data-analysis]');
  clearTimeout(analysisTimer);
  analysisFor = id || '';
  if (!id) {
    replace(box, h('p', { class: 'muted' }, 'Select a photo to see what we recognise in it.'));
    return;
  }
  replace(box, h('p', { class: 'muted' }, 'Looking at your photo…'));
  let a;
  try {
    a = (await api(`/v1/images/${encodeURIComponent(id)}/analysis`)).analysis;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      try {
        a = (await api(`/v1/images/${encodeURIComponent(id)}:analyze`, { method: 'POST', body: {} })).analysis;
      } catch (err2) {
        if (analysisFor === id) analysisError(box, err2);
        return;
      }
    } else {
      if (analysisFor === id) analysisError(box, err);
      return;
    }
  }
  if (analysisFor !== id) return;
  if (!a || a.state === 'ANALYSIS_STATE_PENDING') {
    replace(box, h('p', { class: 'muted' }, 'Analysing your photo…'), h('div', { class: 'progress-bar is-indeterminate' }, h('span')));
    analysisTimer = setTimeout(() => showAnalysis(id), 1500);
    return;
  }
  if (a.state === 'ANALYSIS_STATE_FAILED') {
    replace(box, alertBox('warn', 'We could not analyse this photo.', a.error || 'You can still generate; describe the product in a custom scene for best results.'));
    return;
  }
  renderAnalysis(box, id, a);
}

function analysisError(box, err) {
  if (err instanceof ApiError && err.status === 501) {
    replace(box, alertBox('info', 'Product analysis is not available on this server yet.', 'Your photo is uploaded and safe; you can still choose a scene.'));
    return;
  }
  replace(box, alertBox('error', 'The analysis could not be loaded.', describe(err, 'The analysis')));
}

const sentenceCase = (s) => (s ? s[0].toUpperCase() + s.slice(1) : s);

function renderAnalysis(box, id, a) {
  const row = (label, value) => (value ? [h('dt', {}, label), h('dd', {}, value)] : null);
  const palette = (a.palette || []).slice(0, 6).map((c) => {
    const chip = h('span', { class: 'swatch-chip' });
    chip.style.background = c.hex;
    return h('span', { class: 'swatch' }, chip, c.name || c.hex);
  });
  const texts = (a.texts || []).map((t) => `“${t.text}”${t.kind === 'TEXT_KIND_LOGO' ? ' (logo)' : ''}`).join(', ');
  replace(box, h('div', { class: 'analysis analysis-grid' },
    h('img', { src: imageURL(id, { thumbnail: true }), alt: '', width: 96, height: 96 }),
    h('div', {},
      h('h3', { class: 'h4' }, a.title || 'Your product'),
      h('dl', {},
        row('Category', a.category),
        row('Materials', (a.materials || []).join(', ')),
        row('Colours', palette.length ? h('span', { class: 'swatches' }, palette) : ''),
        row('Text', texts),
        // Attribute names are data ("frame fill"): shown as labels, like the rest.
        ...(a.attributes || []).slice(0, 4).map((at) => row(sentenceCase(at.name), at.value))),
      (a.suggestedScenes || []).length ? h('p', { class: 'small muted' }, 'Suggested scenes: ',
        a.suggestedScenes.slice(0, 3).map((s) => (state.scenes.get(s.sceneId) || { name: s.sceneId }).name).join(', ')) : null)));
}

// ---- Scenes and Looks ----

async function loadScenes(preferred) {
  const box = $('[data-scenes]');
  let scenes;
  try {
    scenes = (await api('/v1/scenes')).scenes || [];
  } catch (err) {
    if (err instanceof ApiError && err.status === 501) {
      state.generationAvailable = false;
      replace(box, alertBox('info', 'Generation is not available on this server yet.', 'You can upload and organise photos now; scenes appear here once the generation service is running.'));
    } else {
      replace(box, alertBox('error', 'Scenes could not be loaded.', describe(err), ' You can still describe your own scene below.'));
    }
    updateCost();
    return;
  }
  if (!scenes.length) {
    replace(box, h('p', { class: 'muted' }, 'No scene presets — describe your own scene below.'));
    return;
  }
  replace(box, scenes.map((s, i) => {
    state.scenes.set(s.id, s);
    const id = 'scene-' + s.id;
    return h('div', { class: 'scene' },
      h('input', { type: 'radio', name: 'sceneId', id, value: s.id, checked: preferred ? s.id === preferred : i === 0 }),
      h('label', { for: id },
        s.previewUrl ? h('img', { src: s.previewUrl, alt: '', width: 200, height: 150, loading: 'lazy' }) : null,
        h('span', { class: 'scene-text' }, s.name, s.description ? h('small', {}, s.description) : null)));
  }));
  updateCost();
}

async function loadLooks() {
  try {
    const looks = (await api('/v1/looks?pageSize=50')).looks || [];
    const select = $('[data-look-select]');
    for (const l of looks) {
      state.looks.set(l.id, l);
      select.append(h('option', { value: l.id }, l.name));
    }
    $('[data-looks-row]').hidden = !looks.length;
  } catch {
    // Looks are optional; the row stays hidden.
  }
}

function applyLook() {
  const look = state.looks.get($('[data-look-select]').value);
  if (!look) return;
  const form = $('[data-generate-form]');
  if (look.sceneId) {
    const radio = form.querySelector(`input[name=sceneId][value="${CSS.escape(look.sceneId)}"]`);
    if (radio) radio.checked = true;
  }
  form.prompt.value = look.prompt || '';
  if (look.variants) form.variants.value = String(look.variants);
  if (look.aspectRatio) form.aspectRatio.value = look.aspectRatio;
  if (look.size) form.size.value = look.size;
  form.marketplace.value = look.marketplace || '';
  updateCost();
  toast(`Applied the Look “${look.name}”.`);
}

function settings() {
  const form = $('[data-generate-form]');
  const scene = form.querySelector('input[name=sceneId]:checked');
  const prompt = form.prompt.value.trim();
  return {
    sceneId: prompt ? '' : scene ? scene.value : '',
    prompt,
    variants: Number(form.variants.value),
    aspectRatio: form.aspectRatio.value,
    size: form.size.value,
    marketplace: form.marketplace.value,
    productLock: form.productLock.checked,
    lookId: $('[data-look-select]').value,
  };
}

async function saveLook() {
  const s = settings();
  const name = await promptDialog({ title: 'Save as a Look', label: 'Name', value: s.sceneId ? `${(state.scenes.get(s.sceneId) || {}).name || 'My'} look` : 'My look' });
  if (!name) return;
  try {
    const r = await api('/v1/looks', { method: 'POST', body: { name, sceneId: s.sceneId, prompt: s.prompt, aspectRatio: s.aspectRatio, size: s.size, marketplace: s.marketplace, variants: s.variants } });
    const look = r.look || r;
    state.looks.set(look.id, look);
    $('[data-look-select]').append(h('option', { value: look.id, selected: true }, look.name));
    $('[data-looks-row]').hidden = false;
    toast(`Saved the Look “${look.name}”.`);
  } catch (err) {
    replace($('[data-generate-error]'), alertBox('error', 'The Look was not saved.', describe(err, 'Saving Looks')));
  }
}

// ---- Cost and submit ----

function updateCost() {
  const box = $('[data-cost]');
  const button = $('[data-generate-button]');
  const s = settings();
  const images = state.selected.length;
  const cost = images * s.variants;
  if (!state.generationAvailable) {
    button.disabled = true;
    replace(box, 'Generation is not available on this server yet, so nothing can be charged.');
    return;
  }
  if (!images) {
    button.disabled = true;
    replace(box, 'Select or upload a photo to see the cost.');
    return;
  }
  button.textContent = images > 1 ? `Generate for ${images} photos` : 'Generate';
  const parts = [h('strong', {}, `This costs ${plural(cost, 'credit')}`),
    images > 1 ? ` (${images} photos × ${plural(s.variants, 'variant')})` : ` (${plural(s.variants, 'variant')})`, '. '];
  if (state.balance) {
    const after = state.balance.available - cost;
    if (after < 0) {
      button.disabled = true;
      replace(box, alertBox('warn', 'You are out of credits for this.',
        `You have ${plural(state.balance.available, 'credit')}; this needs ${cost}. `,
        h('a', { href: '/credits' }, 'Buy credits'), ' or choose fewer variants.'));
      return;
    }
    parts.push(`You have ${state.balance.available.toLocaleString()}; ${after.toLocaleString()} after. `);
  }
  parts.push(h('span', { class: 'muted' }, 'Failed images are never charged.'));
  button.disabled = false;
  replace(box, ...parts);
}

async function generate() {
  const errorBox = $('[data-generate-error]');
  replace(errorBox);
  const s = settings();
  if (!state.selected.length) return;
  if (!s.sceneId && !s.prompt) {
    replace(errorBox, alertBox('error', 'Pick a scene or describe one.'));
    return;
  }
  const button = $('[data-generate-button]');
  busy(button, true);
  const template = { ...s, requestId: crypto.randomUUID() };
  if (!template.lookId) delete template.lookId;
  try {
    let jobs;
    if (state.selected.length === 1) {
      jobs = [(await api('/v1/generations', { method: 'POST', body: { ...template, imageId: state.selected[0] } })).job];
    } else {
      delete template.requestId;
      jobs = (await api('/v1/generations:batchCreate', { method: 'POST', body: { imageIds: state.selected, template } })).jobs || [];
    }
    for (const job of jobs.reverse()) watch(job, true);
    refreshBalance().catch(() => {});
    $('[data-jobs]').scrollIntoView({ block: 'start' });
  } catch (err) {
    replace(errorBox, generateError(err));
  } finally {
    busy(button, false);
    updateCost();
  }
}

function generateError(err) {
  if (err instanceof ApiError && err.reason === 'INSUFFICIENT_CREDITS') {
    refreshBalance().catch(() => {});
    return alertBox('warn', 'You are out of credits.', 'Nothing was charged. ', h('a', { href: '/credits' }, 'Buy more credits'), ' to continue.');
  }
  if (err instanceof ApiError && err.status === 501) {
    return alertBox('info', 'Generation is not available on this server yet.', 'Nothing was charged. Your photos are saved and ready for when it is.');
  }
  return alertBox('error', 'The job could not start.', describe(err, 'Generation'), ' Nothing was charged.');
}

// ---- Jobs: live progress and results ----

async function loadJobs() {
  const wanted = new URLSearchParams(location.search).get('job');
  try {
    const jobs = (await api('/v1/generations?pageSize=10')).jobs || [];
    for (const job of jobs.reverse()) watch(job, false);
    if (wanted && !state.jobs.has(wanted)) watch((await api('/v1/generations/' + encodeURIComponent(wanted))).job, true);
  } catch (err) {
    if (err instanceof ApiError && err.status === 501) {
      replace($('[data-jobs]'), alertBox('info', 'Generation is not available on this server yet.', 'Results will appear here once it is.'));
      state.generationAvailable = false;
      updateCost();
      return;
    }
    replace($('[data-jobs]'), alertBox('error', 'Your recent results could not be loaded.', describe(err)));
  }
  if (wanted && state.jobs.has(wanted)) state.jobs.get(wanted).card.scrollIntoView();
}

function watch(job, fresh) {
  if (!job || !job.id) return;
  const jobs = $('[data-jobs]');
  if (!state.jobs.size) replace(jobs);
  let entry = state.jobs.get(job.id);
  if (!entry) {
    entry = { card: h('article', { class: 'card job', 'aria-live': 'polite', 'data-job': job.id }) };
    state.jobs.set(job.id, entry);
    jobs.prepend(entry.card);
  }
  render(entry, job);
  if (TERMINAL.has(job.state)) return;
  if (!fresh && entry.source) return;
  // The gateway sends `event: job` with the job's JSON on every change and
  // `event: end` when it is over; a broken stream reconnects by itself and
  // starts with the current state.
  const es = new EventSource(`/v1/generations/${encodeURIComponent(job.id)}/events`);
  entry.source = es;
  const onJob = (e) => {
    let data;
    try { data = JSON.parse(e.data); } catch { return; }
    const next = (data.result && data.result.job) || data.job || (data.id ? data : null);
    if (!next) return;
    render(entry, next);
    if (TERMINAL.has(next.state)) {
      es.close();
      refreshBalance().catch(() => {});
    }
  };
  es.addEventListener('job', onJob);
  es.addEventListener('message', onJob);
  es.addEventListener('end', () => {
    es.close();
    if (!TERMINAL.has(entry.state)) poll(entry, job.id);
    else refreshBalance().catch(() => {});
  });
  es.addEventListener('error', () => {
    // Refused outright (an error status): fall back to polling, which
    // also explains the error.
    if (es.readyState === EventSource.CLOSED) poll(entry, job.id);
  });
}

async function poll(entry, id) {
  clearTimeout(entry.timer);
  try {
    const job = (await api('/v1/generations/' + encodeURIComponent(id))).job;
    render(entry, job);
    if (TERMINAL.has(job.state)) {
      refreshBalance().catch(() => {});
      return;
    }
  } catch (err) {
    if (err instanceof ApiError && (err.status === 501 || err.status === 404)) {
      entry.card.append(alertBox('error', 'We lost track of this job.', describe(err, 'This job')));
      return;
    }
  }
  entry.timer = setTimeout(() => poll(entry, id), 2000);
}

const STATE_BADGE = {
  JOB_STATE_QUEUED: ['badge', 'Queued'],
  JOB_STATE_RUNNING: ['badge badge-accent', 'Rendering'],
  JOB_STATE_SUCCEEDED: ['badge badge-ok', 'Done'],
  JOB_STATE_PARTIALLY_SUCCEEDED: ['badge badge-warn', 'Partly done'],
  JOB_STATE_FAILED: ['badge badge-bad', 'Failed'],
  JOB_STATE_CANCELED: ['badge', 'Cancelled'],
};

function render(entry, job) {
  entry.state = job.state;
  const outputs = job.outputs || [];
  const done = outputs.filter((o) => o.state === 'OUTPUT_STATE_SUCCEEDED').length;
  const variants = job.variants || outputs.length || 1;
  const [badgeClass, badgeText] = STATE_BADGE[job.state] || ['badge', 'Queued'];
  const scene = job.prompt ? 'Custom scene' : (state.scenes.get(job.sceneId) || { name: job.sceneId || 'Scene' }).name;
  const c = job.credits || {};
  const running = !TERMINAL.has(job.state);

  const head = h('div', { class: 'job-head' },
    h('h3', { class: 'h4' }, scene, ' ', h('span', { class: badgeClass }, badgeText)),
    h('span', { class: 'muted small' }, timeEl(job.createTime)));
  const meta = h('p', { class: 'job-meta' },
    [plural(variants, 'variant'), job.aspectRatio, job.size, job.marketplace ? `preset ${job.marketplace}` : '', job.productLock ? 'product lock on' : 'product lock off']
      .filter(Boolean).join(' · '));
  let progress = null;
  if (running) {
    const bar = h('div', { class: 'progress-bar' + (job.state === 'JOB_STATE_QUEUED' ? ' is-indeterminate' : ''), role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': variants, 'aria-valuenow': done, 'aria-label': 'Job progress' }, h('span'));
    if (job.state !== 'JOB_STATE_QUEUED') bar.firstChild.style.width = `${Math.max(8, (done / variants) * 100)}%`;
    const cancel = h('button', { type: 'button', class: 'link-button small' }, 'Cancel');
    cancel.addEventListener('click', async () => {
      busy(cancel, true);
      try {
        render(entry, (await api(`/v1/generations/${encodeURIComponent(job.id)}:cancel`, { method: 'POST', body: {} })).job);
        refreshBalance().catch(() => {});
      } catch (err) {
        busy(cancel, false);
        toast(describe(err, 'This job'));
      }
    });
    progress = [bar, h('p', { class: 'small muted' },
      job.state === 'JOB_STATE_QUEUED' ? 'Waiting for a free renderer… ' : `${done} of ${variants} ready… `, cancel)];
  }
  let outcome = null;
  const released = int(c.released);
  const captured = int(c.captured);
  if (job.state === 'JOB_STATE_FAILED') {
    outcome = alertBox('error', 'This job failed.', job.error ? `${job.error}. ` : '', released ? `The ${plural(released, 'credit')} held for it were returned.` : 'Nothing was charged.');
  } else if (job.state === 'JOB_STATE_PARTIALLY_SUCCEEDED') {
    outcome = alertBox('warn', `${done} of ${variants} images were made.`, `You were charged ${plural(captured, 'credit')}; ${plural(released, 'credit')} came back.`);
  } else if (job.state === 'JOB_STATE_CANCELED') {
    outcome = alertBox('info', 'Cancelled.', released ? `${plural(released, 'credit')} returned.` : 'Nothing was charged for what was not made.');
  }
  const grid = outputs.length ? h('div', { class: 'results-grid' }, outputs.map((o) => output(job, o))) : null;
  const ledger = int(c.reserved) ? h('p', { class: 'small muted' },
    `Credits: ${int(c.reserved)} held`, TERMINAL.has(job.state) ? ` · ${captured} charged · ${released} returned` : '') : null;
  replace(entry.card, head, meta, progress, outcome, grid, ledger);
}

function output(job, o) {
  const label = `Variant ${o.index + 1}`;
  if (o.state === 'OUTPUT_STATE_FAILED') {
    return h('div', { class: 'output' }, h('div', { class: 'output-pending' }, h('span', {}, 'Could not be made')),
      h('div', { class: 'output-body' }, h('strong', {}, label), h('span', { class: 'muted' }, o.error || 'This variant failed.', ' Not charged.')));
  }
  if (o.state !== 'OUTPUT_STATE_SUCCEEDED' || !o.imageId) {
    return h('div', { class: 'output' }, h('div', { class: 'output-pending' }, h('span', {}, 'Rendering…')),
      h('div', { class: 'output-body' }, h('strong', {}, label)));
  }
  const rangeId = `cmp-${job.id}-${o.index}`;
  const compare = h('div', { class: 'compare' },
    h('img', { src: o.thumbnailUrl || imageURL(o.imageId, { thumbnail: true }), alt: `${label}, generated`, width: 512, height: 512 }),
    h('div', { class: 'compare-before', 'data-compare-before': '' },
      h('img', { src: imageURL(job.imageId, { thumbnail: true }), alt: 'Your original photo', width: 512, height: 512 })),
    h('label', { class: 'visually-hidden', for: rangeId }, `Compare ${label} with the original`),
    h('input', { id: rangeId, class: 'compare-range', type: 'range', min: 0, max: 100, value: 30, 'data-compare-range': '' }),
    h('span', { class: 'compare-tag compare-tag-before', 'aria-hidden': 'true' }, 'Before'),
    h('span', { class: 'compare-tag compare-tag-after', 'aria-hidden': 'true' }, 'After'));
  initCompare(compare);
  const badges = [];
  const score = Math.round((o.fidelityScore || 0) * 100);
  badges.push(h('span', { class: o.fidelityFlagged ? 'badge badge-warn' : 'badge badge-ok', title: 'How closely the product matches your photo', 'data-fidelity': String(o.fidelityScore || 0) },
    o.fidelityFlagged ? `Check product · fidelity ${score}%` : `Fidelity ${score}%`));
  if (o.compliance && o.compliance.marketplace) {
    const failed = (o.compliance.checks || []).filter((ch) => !ch.passed).map((ch) => ch.name.replace(/_/g, ' '));
    badges.push(h('span', { class: o.compliance.passed ? 'badge badge-ok' : 'badge badge-bad' },
      o.compliance.passed ? `${o.compliance.marketplace} ✓` : `${o.compliance.marketplace}: ${failed.join(', ') || 'fails'}`));
    if (o.compliance.adjusted) badges.push(h('span', { class: 'badge' }, 'reframed'));
  }
  return h('div', { class: 'output', 'data-output': o.imageId },
    compare,
    h('div', { class: 'output-body' },
      h('strong', {}, label),
      h('div', { class: 'badges' }, badges),
      h('div', { class: 'downloads small' }, 'Download:',
        ...DOWNLOAD_FORMATS.map(([f, name]) => h('a', { class: 'button button-secondary button-small', href: imageURL(o.imageId, { format: f, download: true }), 'data-download': f, 'aria-label': `Download ${label} as ${name}` }, name)))));
}
