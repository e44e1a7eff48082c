// The input-file uploader (seed 003): drop files or pick them, see a preview and
// the upload's progress, remove them. Each file becomes an upload (`upl_…`) that a
// task input names. Kie keeps files it receives for 3 days; the warning says so
// (Atelier keeps the original and sends it again when Kie's copy is stale).

import { get, upload } from './api.js';
import { clear, h, toast } from './dom.js';
import { t, tParts } from './i18n.js';
import { copyNote, describeError, humanBytes } from './words.js';

const ACCEPT = 'image/png,image/jpeg,image/webp,image/gif,video/mp4,video/webm,video/quicktime';

/**
 * `{ element, focusTarget, get(): string[], set(refs) }`. `accept` narrows the
 * file types offered (default: pictures and videos). `onUploaded(stored)`, when
 * given, is told of each finished upload; when it answers true the page has taken
 * the file over and it leaves the uploader's list.
 */
export function uploader({ multiple, max, service, name, accept = ACCEPT, onUploaded }) {
  const items = [];
  const input = h('input', { type: 'file', accept, multiple: multiple || null, hidden: true, name });
  const pick = h('button', { class: 'btn small', type: 'button', dataset: { action: 'pick-files' } }, multiple ? t('Choose files') : t('Choose a file'));
  const zone = h('div', { class: 'dropzone', dataset: { dropzone: name } },
    h('div', {}, multiple ? tParts('Drop up to {max} images here, or {pick}', { max, pick }) : tParts('Drop an image here, or {pick}', { pick })), input);
  const list = h('div', { class: 'uploads', 'aria-live': 'polite' });
  // What the provider holds of each file, below the tiles.
  const notes = h('div', { class: 'copies small', 'aria-live': 'polite' });
  const warning = service === 'kie'
    ? h('div', { class: 'warn-box small', hidden: true },
      t('Kie.ai deletes uploaded files after 3 days. Atelier keeps your original and uploads it again when a task needs it later.'))
    : null;

  function refresh() {
    zone.hidden = items.length >= max;
    if (warning) warning.hidden = items.length === 0;
  }

  function addItem(item) {
    items.push(item);
    list.append(item.node);
    refresh();
  }

  function removeItem(item) {
    const index = items.indexOf(item);
    if (index >= 0) items.splice(index, 1);
    item.node.remove();
    item.copies?.remove();
    if (item.preview) URL.revokeObjectURL(item.preview);
    refresh();
  }

  function itemNode(label, previewSrc, item) {
    const bar = h('span', {});
    const copies = h('div', { dataset: { copiesOf: label } });
    const node = h('div', { class: 'upload-item', dataset: { upload: '' } },
      previewSrc ? h('img', { src: previewSrc, alt: label }) : h('div', { class: 'kind' }, t('file')),
      h('div', { class: 'progress', role: 'progressbar', 'aria-label': t('Upload of {name}', { name: label }), 'aria-valuemin': 0, 'aria-valuemax': 100 }, bar),
      h('div', { class: 'name', title: label }, label),
      h('button', { class: 'btn small icon', type: 'button', 'aria-label': t('Remove {name}', { name: label }), onclick: () => removeItem(item) }, '×'));
    item.bar = bar;
    item.node = node;
    item.label = label;
    item.copies = copies;
    notes.append(copies);
    return node;
  }

  // The copies the provider holds of an upload (seed 003: Kie's expire after 3
  // days), each with its expiry; a warning when one has expired or will within a day.
  async function showCopies(item) {
    if (!service || !item.ref || !item.ref.startsWith('upl_')) return;
    try {
      const stored = await get(`/uploads/${item.ref}`);
      const mine = (stored.provider_copies || []).filter((copy) => copy.service === service);
      clear(item.copies);
      for (const copy of mine) {
        const note = copyNote(copy);
        item.copies.append(h('div', { class: note.warn ? 'warn-box' : 'muted', dataset: { copyState: copy.state } },
          h('span', { class: 'mono' }, item.label), ': ', note.text));
      }
    } catch {
      // The note is a courtesy: the upload itself is fine.
    }
  }

  async function addFiles(files) {
    for (const file of files) {
      if (items.length >= max) {
        toast(max > 1 ? t('At most {max} files here.', { max }) : t('At most 1 file here.'), 'error');
        break;
      }
      const item = { ref: null, preview: file.type.startsWith('image/') ? URL.createObjectURL(file) : null };
      itemNode(`${file.name} (${humanBytes(file.size)})`, item.preview, item);
      addItem(item);
      try {
        const stored = await upload(file, (fraction) => {
          item.bar.style.width = `${Math.round(fraction * 100)}%`;
          item.node.querySelector('.progress').setAttribute('aria-valuenow', String(Math.round(fraction * 100)));
        });
        item.ref = stored.id;
        item.bar.style.width = '100%';
        item.node.dataset.upload = stored.id;
        if (onUploaded && onUploaded(stored)) {
          removeItem(item);
          continue;
        }
        // The same file sent before may still have a copy at the provider.
        showCopies(item);
      } catch (error) {
        toast(`${file.name}: ${describeError(error)}`, 'error');
        removeItem(item);
      }
    }
  }

  pick.addEventListener('click', () => input.click());
  input.addEventListener('change', () => {
    addFiles([...input.files]);
    input.value = '';
  });
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    addFiles([...event.dataTransfer.files]);
  });

  return {
    element: h('div', {}, zone, list, notes, warning),
    focusTarget: pick,
    get: () => items.filter((item) => item.ref).map((item) => item.ref),
    set(refs) {
      for (const item of [...items]) removeItem(item);
      for (const ref of refs.slice(0, max)) {
        const item = { ref, preview: null };
        const src = ref.startsWith('upl_') ? `/api/v1/uploads/${ref}/content`
          : ref.startsWith('img_') ? `/api/v1/images/${ref}/thumbnail`
            : /^data:image\//.test(ref) ? ref : null;
        itemNode(ref.length > 40 ? `${ref.slice(0, 40)}…` : ref, src, item);
        item.bar.style.width = '100%';
        if (ref.startsWith('upl_')) item.node.dataset.upload = ref;
        addItem(item);
        showCopies(item);
      }
    },
  };
}
