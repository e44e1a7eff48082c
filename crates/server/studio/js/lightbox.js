// The lightbox: the full image (or video, or audio, or a GLB in the 3D viewer),
// every parameter of the task that made it, tags added and removed inline, "use
// these settings again", download, and delete with confirmation. ← and → move
// through the list; Esc closes.

import { del, get, post } from './api.js';
import { append, clear, confirmDialog, h, toast } from './dom.js';
import { locale, t } from './i18n.js';
import { mediaDetails, player } from './media.js';
import { mountViewer } from './viewer3d.js';
import { describeError, humanBytes, humanTime, kindWord, STATUS_WORDS } from './words.js';

/** The output itself, and what frees it when the lightbox moves on (the 3D viewer's GPU context). */
function media(image) {
  const type = image.mime_type || '';
  const none = () => {};
  // Players: stopped when the lightbox moves on or closes.
  if (type.startsWith('video/')) {
    const node = player(image, { label: t('Output {id}', { id: image.image_id }) });
    return { node, dispose: () => node.pause() };
  }
  if (type.startsWith('audio/')) {
    const audio = player(image, { label: t('Output {id}', { id: image.image_id }) });
    const node = h('div', { class: 'lightbox-audio' }, h('span', { class: 'kind-icon', 'aria-hidden': 'true' }, '♪'), audio,
      image.media && image.media.duration_secs ? h('p', { class: 'small' }, mediaDetails(image)) : null);
    return { node, dispose: () => audio.pause() };
  }
  if (type === 'model/gltf-binary') {
    const node = h('div', { class: 'lightbox-viewer', dataset: { full: image.image_id } });
    return { node, dispose: mountViewer(node, image.url, { label: t('Output {id}', { id: image.image_id }) }) };
  }
  // Other 3D formats and archives: no viewer here; say what the file is, and that it downloads.
  if (type.startsWith('model/')) return { node: h('p', { class: 'kind', dataset: { full: image.image_id } }, t('A 3D model ({type}). Download it to open it in a 3D viewer.', { type })), dispose: none };
  if (!type.startsWith('image/')) return { node: h('p', { class: 'kind', dataset: { full: image.image_id } }, t('{kind} ({type}): download it to open it.', { kind: kindWord(type), type })), dispose: none };
  return { node: h('img', { src: image.url, alt: t('Generated output'), dataset: { full: image.image_id } }), dispose: none };
}

/** The pictures the Video page's slideshow reads. */
const SLIDE_TYPES = new Set(['image/png', 'image/jpeg', 'image/webp']);

function extension(type) {
  const known = {
    'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp', 'image/svg+xml': 'svg', 'video/mp4': 'mp4', 'audio/mpeg': 'mp3',
    'audio/wav': 'wav', 'audio/ogg': 'ogg', 'audio/flac': 'flac', 'audio/opus': 'opus', 'video/webm': 'webm', 'model/gltf-binary': 'glb', 'model/stl': 'stl', 'application/zip': 'zip',
  };
  return known[type] || 'bin';
}

function parameterList(task) {
  const rows = [
    [t('Model'), `${task.service}/${task.model}`],
    [t('Status'), STATUS_WORDS[task.status] || task.status],
    [t('Created'), new Date(task.created_at).toLocaleString(locale)],
  ];
  for (const [name, value] of Object.entries(task.input || {})) {
    rows.push([name, value === null || value === '' ? t('(default)') : typeof value === 'object' ? JSON.stringify(value) : String(value)]);
  }
  return h('dl', { class: 'params', dataset: { params: task.task_id } },
    rows.map(([name, value]) => [h('dt', {}, name), h('dd', {}, value)]));
}

/**
 * Opens the lightbox on `images[index]`. `onDeleted(image)` and
 * `onTagsChanged(image)` let the page behind update itself.
 */
export function openLightbox(images, index, { navigate, onDeleted, onTagsChanged } = {}) {
  let position = index;
  let disposeMedia = () => {};
  const mediaBox = h('div', { class: 'lightbox-media' });
  const side = h('div', { class: 'lightbox-side' });
  const close = h('button', { class: 'btn small close-x', type: 'button', 'aria-label': t('Close'), onclick: () => dialog.close() }, '✕');
  const prev = h('button', { class: 'lightbox-nav prev', type: 'button', 'aria-label': t('Previous image'), onclick: () => move(-1) }, '‹');
  const next = h('button', { class: 'lightbox-nav next', type: 'button', 'aria-label': t('Next image'), onclick: () => move(1) }, '›');
  const dialog = h('dialog', { class: 'lightbox', 'aria-label': t('Image details'), id: 'lightbox' },
    close, h('div', { class: 'lightbox-body' }, mediaBox, side));

  function move(step) {
    const target = position + step;
    if (target < 0 || target >= images.length) return;
    position = target;
    show();
  }

  function tagEditor(image) {
    const chips = h('div', { class: 'tags', dataset: { tags: image.image_id } });
    const input = h('input', { type: 'text', maxlength: 50, placeholder: t('Add a tag'), 'aria-label': t('New tag'), name: 'new-tag' });
    const add = h('button', { class: 'btn small', type: 'submit' }, t('Add'));
    function drawChips() {
      clear(chips);
      for (const tag of image.tags || []) {
        chips.append(h('span', { class: 'tag', dataset: { tag } },
          h('a', { href: `#/gallery?tag=${encodeURIComponent(tag)}`, title: t('Show everything tagged {tag}', { tag }), onclick: () => dialog.close() }, tag),
          h('button', {
            type: 'button', 'aria-label': t('Remove tag {tag}', { tag }),
            onclick: async () => {
              try {
                await del(`/assets/${image.image_id}/tags/${encodeURIComponent(tag)}`);
                image.tags = image.tags.filter((other) => other !== tag);
                drawChips();
                if (onTagsChanged) onTagsChanged(image);
              } catch (error) {
                toast(describeError(error), 'error');
              }
            },
          }, '×')));
      }
      if (!(image.tags || []).length) chips.append(h('span', { class: 'muted small' }, t('No tags yet.')));
    }
    const form = h('form', { class: 'row', dataset: { action: 'add-tag' } }, h('div', { class: 'grow' }, input), add);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const tag = input.value.trim();
      if (!tag) return;
      try {
        await post(`/assets/${image.image_id}/tags`, { tag });
        image.tags = [...new Set([...(image.tags || []), tag])];
        input.value = '';
        drawChips();
        if (onTagsChanged) onTagsChanged(image);
      } catch (error) {
        toast(describeError(error), 'error');
      }
    });
    drawChips();
    return h('div', {}, h('h3', {}, t('Tags')), chips, form);
  }

  async function show() {
    const image = images[position];
    disposeMedia();
    const shown = media(image);
    disposeMedia = shown.dispose;
    append(clear(mediaBox), [shown.node, position > 0 ? prev : null, position < images.length - 1 ? next : null]);
    const params = h('div', {}, h('p', { class: 'muted small' }, t('Loading parameters…')));
    const reuse = h('button', {
      class: 'btn primary', type: 'button', dataset: { action: 'reuse' },
      onclick: () => {
        dialog.close();
        navigate('generate', { from: image.task_id });
      },
    }, t('Use these settings again'));
    // A picture can become a 3D model on the 3D page.
    const toModel = (image.mime_type || '').startsWith('image/') ? h('button', {
      class: 'btn', type: 'button', dataset: { action: 'make-3d' },
      onclick: () => {
        dialog.close();
        navigate('3d', { image: image.image_id });
      },
    }, t('Make a 3D model')) : null;
    // A picture can go into a video (the slideshow reads PNG, JPEG and WebP), and
    // audio can be a video's soundtrack.
    const toVideo = SLIDE_TYPES.has(image.mime_type) || (image.mime_type || '').startsWith('audio/') ? h('button', {
      class: 'btn', type: 'button', dataset: { action: 'make-video' },
      onclick: () => {
        dialog.close();
        navigate('video', (image.mime_type || '').startsWith('audio/') ? { soundtrack: image.image_id } : { image: image.image_id });
      },
    }, (image.mime_type || '').startsWith('audio/') ? t('Use as a video\'s soundtrack') : t('Make a video with it')) : null;
    const download = h('a', {
      class: 'btn', href: image.url, download: `${image.image_id}.${extension(image.mime_type)}`, dataset: { action: 'download' },
    }, t('Download'));
    const remove = h('button', {
      class: 'btn danger', type: 'button', dataset: { action: 'delete' },
      onclick: async () => {
        const sure = await confirmDialog({
          title: t('Delete this image?'), text: t('The file is removed for good; the task keeps its record.'), confirm: t('Delete'), danger: true,
        });
        if (!sure) return;
        try {
          await del(`/history/${image.image_id}`);
          toast(t('Deleted.'), 'ok');
          images.splice(position, 1);
          if (onDeleted) onDeleted(image);
          if (!images.length) dialog.close();
          else {
            position = Math.min(position, images.length - 1);
            show();
          }
        } catch (error) {
          toast(describeError(error), 'error');
        }
      },
    }, t('Delete'));
    const size = image.width && image.height ? `${image.width} × ${image.height} · ` : '';
    const about = image.media
      ? `${mediaDetails(image)} · ${image.mime_type}`
      : `${size}${humanBytes(image.file_size || 0)} · ${image.mime_type}`;
    clear(side).append(
      h('h2', {}, images.length > 1 ? t('Output {n} of {total}', { n: position + 1, total: images.length }) : t('Output')),
      h('p', { class: 'muted small', dataset: { about: '' } }, `${about}${image.created_at ? ` · ${humanTime(image.created_at)}` : ''}`),
      h('div', { class: 'actions' }, reuse, toModel, toVideo, download, remove),
      tagEditor(image),
      h('div', {}, h('h3', {}, t('Parameters')), params));
    try {
      const task = await get(`/tasks/${image.task_id}`);
      if (images[position] === image) clear(params).append(parameterList(task));
    } catch (error) {
      clear(params).append(h('p', { class: 'muted small' }, describeError(error)));
    }
  }

  dialog.addEventListener('keydown', (event) => {
    if (event.target instanceof HTMLInputElement) return;
    if (event.key === 'ArrowLeft') move(-1);
    if (event.key === 'ArrowRight') move(1);
  });
  dialog.addEventListener('close', () => {
    disposeMedia();
    dialog.remove();
  });
  document.body.append(dialog);
  dialog.showModal();
  show();
  close.focus();
  return dialog;
}
