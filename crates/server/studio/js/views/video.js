// Video: pictures to an MP4 with the built-in `local/slideshow` model. Pictures
// come from files (uploaded with the uploader) and from the gallery's outputs;
// they are arranged in a list (moved up and down with buttons, so the keyboard
// does it as well as a mouse, removed), each with an optional caption. Seconds per
// picture, the transition, the motion, the size and a soundtrack (an audio output,
// such as the Speech page's) are chosen; Make creates the task, its progress is
// said to screen readers, and the video plays here with its poster, details and a
// download link. `#/video?image=<img_…>` starts with an output in the list.

import { get, post, query } from '../api.js';
import { append, clear, field, h, setFieldError, statusChip } from '../dom.js';
import { t } from '../i18n.js';
import { downloadName, humanDuration, mediaDetails, player, taskCard, cardStack, recentTasks } from '../media.js';
import { uploader } from '../uploader.js';
import { describeError, humanTime, STATUS_WORDS } from '../words.js';

const MODEL = 'local/slideshow';
const MAX_IMAGES = 50;
const RECENT = 8;
const KEEP_CARDS = 2;
const GALLERY_PAGE = 30;

const TRANSITIONS = [
  { value: '0.5', label: t('Cross-fade (0.5 s)') },
  { value: '0.25', label: t('Quick cross-fade (0.25 s)') },
  { value: '1', label: t('Slow cross-fade (1 s)') },
  { value: '0', label: t('Cut (no fade)') },
];
const MOTIONS = [
  { value: 'ken_burns', label: t('Ken Burns: gentle zooms and drifts') },
  { value: 'zoom_in', label: t('Zoom in') },
  { value: 'zoom_out', label: t('Zoom out') },
  { value: 'pan', label: t('Pan across') },
  { value: 'none', label: t('Still') },
];
const SIZES = [
  { value: '1280x720', label: t('HD, landscape (1280 × 720)') },
  { value: '1920x1080', label: t('Full HD, landscape (1920 × 1080)') },
  { value: '720x1280', label: t('Portrait, for phones (720 × 1280)') },
  { value: '1080x1080', label: t('Square (1080 × 1080)') },
  { value: '640x360', label: t('Small (640 × 360)') },
  { value: '320x180', label: t('Tiny preview (320 × 180)') },
];

/** What a picture reference shows as (the studio's CSP shows its own server's only). */
function previewOf(reference) {
  if (reference.startsWith('upl_')) return `/api/v1/uploads/${reference}/content`;
  if (reference.startsWith('img_')) return `/api/v1/images/${reference}/thumbnail`;
  return null;
}

export async function videoView(main, { params, models }) {
  const model = (await models()).find((each) => each.id === MODEL);
  let stopped = false;
  if (!model || !model.usable) {
    main.append(h('h1', {}, t('Video')), h('div', { class: 'warn-box' }, t('The slideshow model (local/slideshow) is not available on this server.')));
    return null;
  }

  /* The pictures, in order */
  const slides = [];
  const slideList = h('ol', { class: 'slides', id: 'video-slides' });
  const slidesEmpty = h('p', { class: 'muted small', id: 'video-slides-empty' }, t('No pictures yet: add some from your files or the gallery.'));
  const slidesError = h('div', { class: 'error-text', id: 'video-slides-error', hidden: true });
  // Moves and removals are said here; the focus stays on the button pressed.
  const said = h('p', { class: 'sr-only', role: 'status', 'aria-live': 'polite', id: 'video-said' });

  function addSlide(ref) {
    if (slides.length >= MAX_IMAGES) {
      said.textContent = t('At most {max} pictures in a video.', { max: MAX_IMAGES });
      return false;
    }
    slides.push({ ref, caption: '', key: `${ref}-${Math.random().toString(36).slice(2, 8)}` });
    drawSlides();
    said.textContent = t('Picture added: {n} in the video.', { n: slides.length });
    return true;
  }

  function moveSlide(index, step, action) {
    const target = index + step;
    if (target < 0 || target >= slides.length) return;
    const [slide] = slides.splice(index, 1);
    slides.splice(target, 0, slide);
    drawSlides();
    // Keep the focus on the same button of the moved picture, or its other one at an end.
    const item = slideList.querySelector(`[data-key="${slide.key}"]`);
    const again = item.querySelector(`[data-action="${action}"]`);
    (again && !again.disabled ? again : item.querySelector('[data-action^=move]:not(:disabled)') || item.querySelector('[data-action=remove]')).focus();
    said.textContent = t('Picture moved to position {n} of {total}.', { n: target + 1, total: slides.length });
  }

  function removeSlide(index) {
    slides.splice(index, 1);
    drawSlides();
    const next = slideList.children[Math.min(index, slides.length - 1)];
    if (next) next.querySelector('[data-action=remove]').focus();
    else pictures.focusTarget.focus();
    said.textContent = t('Picture removed: {n} left.', { n: slides.length });
  }

  function drawSlides() {
    clear(slideList);
    slides.forEach((slide, index) => {
      const n = index + 1;
      const caption = h('input', {
        type: 'text', name: 'caption', id: `video-caption-${slide.key}`, maxlength: 200, value: slide.caption,
        placeholder: t('Optional caption'), dataset: { caption: '' },
        oninput: (event) => { slide.caption = event.target.value; },
      });
      const src = previewOf(slide.ref);
      slideList.append(h('li', { class: 'slide', dataset: { key: slide.key, ref: slide.ref } },
        h('span', { class: 'slide-thumb' }, src ? h('img', { src, alt: t('Picture {n}', { n }) }) : h('span', { class: 'kind' }, String(n))),
        h('div', { class: 'field slide-caption' },
          h('label', { for: caption.id }, t('Caption for picture {n}', { n })), caption, h('div', { class: 'error-text', hidden: true })),
        h('div', { class: 'slide-actions', role: 'group', 'aria-label': t('Picture {n}', { n }) },
          h('button', {
            class: 'btn small icon', type: 'button', dataset: { action: 'move-up' }, disabled: index === 0,
            'aria-label': t('Move picture {n} up', { n }), title: t('Move up'), onclick: () => moveSlide(index, -1, 'move-up'),
          }, '↑'),
          h('button', {
            class: 'btn small icon', type: 'button', dataset: { action: 'move-down' }, disabled: index === slides.length - 1,
            'aria-label': t('Move picture {n} down', { n }), title: t('Move down'), onclick: () => moveSlide(index, 1, 'move-down'),
          }, '↓'),
          h('button', {
            class: 'btn small icon', type: 'button', dataset: { action: 'remove' },
            'aria-label': t('Remove picture {n}', { n }), title: t('Remove'), onclick: () => removeSlide(index),
          }, '×'))));
    });
    slidesEmpty.hidden = slides.length > 0;
    if (slides.length) slidesError.hidden = true;
    showLength();
  }

  const pictures = uploader({
    multiple: true, max: MAX_IMAGES, name: 'slides', accept: 'image/png,image/jpeg,image/webp',
    onUploaded: (stored) => addSlide(stored.id),
  });

  /* Pictures from the gallery: its image outputs, a page at a time. */
  const galleryGrid = h('div', { class: 'grid pick-grid', id: 'video-gallery-grid' });
  const galleryNote = h('p', { class: 'muted small', 'aria-live': 'polite' });
  const galleryMore = h('button', { class: 'btn small', type: 'button', hidden: true, onclick: () => loadGallery() }, t('Show more'));
  let galleryCursor = null;
  let galleryLoaded = false;
  async function loadGallery() {
    galleryNote.textContent = t('Loading…');
    galleryMore.hidden = true;
    try {
      const page = await get(`/assets${query({ limit: GALLERY_PAGE, cursor: galleryCursor })}`);
      const pictureOutputs = page.images.filter((image) => (image.mime_type || '').startsWith('image/') && image.mime_type !== 'image/svg+xml');
      galleryGrid.append(...pictureOutputs.map((image) => h('button', {
        class: 'tile pick-tile', type: 'button', dataset: { image: image.image_id },
        'aria-label': t('Add output {id} to the video', { id: image.image_id }),
        onclick: () => addSlide(image.image_id),
      }, h('img', { src: image.thumbnail_url || image.url, alt: '', loading: 'lazy' }))));
      galleryCursor = page.next_cursor || null;
      galleryMore.hidden = !galleryCursor;
      galleryNote.textContent = galleryGrid.childElementCount ? '' : t('The gallery has no pictures yet.');
    } catch (error) {
      galleryNote.textContent = describeError(error);
    }
  }
  const gallery = h('details', { class: 'pick-gallery', id: 'video-gallery' },
    h('summary', {}, t('Add pictures from the gallery')), galleryNote, galleryGrid, galleryMore);
  gallery.addEventListener('toggle', () => {
    if (gallery.open && !galleryLoaded) {
      galleryLoaded = true;
      loadGallery();
    }
  });

  /* Settings */
  const seconds = h('input', { type: 'number', name: 'seconds_per_image', id: 'video-seconds', min: 0.5, max: 60, step: 0.5, value: 3, inputmode: 'decimal' });
  const transition = h('select', { name: 'transition', id: 'video-transition' }, TRANSITIONS.map((each) => h('option', { value: each.value }, each.label)));
  const motion = h('select', { name: 'motion', id: 'video-motion' }, MOTIONS.map((each) => h('option', { value: each.value }, each.label)));
  const size = h('select', { name: 'size', id: 'video-size' }, SIZES.map((each) => h('option', { value: each.value }, each.label)));
  const soundtrack = h('select', { name: 'soundtrack', id: 'video-soundtrack' }, h('option', { value: '' }, t('None (silent)')));
  const soundPreview = h('div', { class: 'sound-preview' });
  const followSound = h('input', { type: 'checkbox', name: 'length_from', id: 'video-follow-sound', disabled: true });
  const length = h('p', { class: 'muted small', id: 'video-length', 'aria-live': 'polite' });
  const message = h('div', { class: 'error-box', role: 'alert', hidden: true });
  const submit = h('button', { class: 'btn primary block', type: 'submit', id: 'video-submit' }, t('Make the video'));
  const audioOutputs = new Map();

  function showLength() {
    const per = Number(seconds.value);
    if (followSound.checked) {
      const sound = audioOutputs.get(soundtrack.value);
      const total = sound && sound.media && sound.media.duration_secs;
      length.textContent = total ? t('The video lasts as long as the soundtrack: {time}.', { time: humanDuration(total) }) : '';
    } else if (slides.length && per > 0) {
      const time = humanDuration(slides.length * per);
      length.textContent = slides.length === 1 ? t('1 picture × {s} s: the video lasts {time}.', { s: per, time })
        : t('{n} pictures × {s} s: the video lasts {time}.', { n: slides.length, s: per, time });
    } else {
      length.textContent = '';
    }
  }
  seconds.addEventListener('input', showLength);
  followSound.addEventListener('change', () => {
    seconds.disabled = followSound.checked;
    showLength();
  });
  soundtrack.addEventListener('change', () => {
    const sound = audioOutputs.get(soundtrack.value);
    followSound.disabled = !sound;
    if (!sound) followSound.checked = false;
    seconds.disabled = followSound.checked;
    append(clear(soundPreview), [sound ? player(sound, { label: t('The soundtrack'), preload: 'none' }) : null]);
    showLength();
  });

  async function loadSoundtracks() {
    try {
      const [assets, speech] = await Promise.all([
        get(`/assets${query({ limit: 100 })}`),
        get(`/tasks${query({ model: 'local/speech', limit: 100 })}`).catch(() => ({ tasks: [] })),
      ]);
      if (stopped) return;
      // A speech output is named by what it says.
      const spoken = new Map();
      for (const task of speech.tasks) for (const image of task.images || []) spoken.set(image.image_id, (task.input && task.input.text) || '');
      const audio = assets.images.filter((image) => (image.mime_type || '').startsWith('audio/'));
      for (const image of audio) {
        audioOutputs.set(image.image_id, image);
        const words = spoken.get(image.image_id);
        const duration = image.media && image.media.duration_secs ? humanDuration(image.media.duration_secs) : '';
        const name = words ? `“${words.length > 40 ? `${words.slice(0, 40)}…` : words}”` : image.image_id;
        soundtrack.append(h('option', { value: image.image_id }, [name, duration, humanTime(image.created_at)].filter(Boolean).join(' · ')));
      }
      if (!audio.length) soundNote.textContent = t('No audio outputs yet: make one on the Speech page.');
      const wanted = params.get('soundtrack');
      if (wanted && audioOutputs.has(wanted)) {
        soundtrack.value = wanted;
        soundtrack.dispatchEvent(new Event('change'));
      }
    } catch (error) {
      soundNote.textContent = describeError(error);
    }
  }
  const soundField = field(t('Soundtrack'), soundtrack, t('An audio output, such as speech made on the Speech page. It is cut to the video, with a fade-out.'));
  const soundNote = soundField.querySelector('.hint');

  const form = h('form', { class: 'panel form', id: 'video-form', novalidate: true },
    h('h1', {}, t('Video')),
    h('p', { class: 'muted small' }, t('Make a video from pictures: arrange them, add captions and a soundtrack, and download it as MP4.')),
    h('div', { class: 'field' }, h('div', { class: 'label' }, t('Pictures')), pictures.element),
    gallery,
    h('h2', { class: 'small-heading', id: 'video-order-heading' }, t('Order')),
    slidesEmpty, slideList, slidesError, said,
    h('div', { class: 'fields-2' },
      field(t('Seconds per picture'), seconds),
      field(t('Transition'), transition)),
    field(t('Motion'), motion),
    field(t('Size'), size),
    soundField, soundPreview,
    h('label', { class: 'check' }, followSound, h('span', {}, t('Make the video as long as the soundtrack'))),
    length, message, submit);
  slideList.setAttribute('aria-labelledby', 'video-order-heading');

  /** The task's input, or null when something is missing (said at its field). */
  function request() {
    setFieldError(seconds, null);
    slidesError.hidden = true;
    if (!slides.length) {
      slidesError.textContent = t('Add at least one picture.');
      slidesError.hidden = false;
      return null;
    }
    const [width, height] = size.value.split('x').map(Number);
    const input = {
      images: slides.map((slide) => slide.ref),
      transition: Number(transition.value),
      motion: motion.value,
      width,
      height,
    };
    const captions = slides.map((slide) => slide.caption.trim());
    while (captions.length && !captions[captions.length - 1]) captions.pop();
    if (captions.length) input.captions = captions;
    if (soundtrack.value) input.soundtrack = soundtrack.value;
    if (followSound.checked) {
      input.length_from = 'soundtrack';
    } else {
      const per = Number(seconds.value);
      if (!(per >= 0.1 && per <= 600)) {
        setFieldError(seconds, t('Give a number of seconds, from 0.1 to 600.'));
        return null;
      }
      input.seconds_per_image = per;
      // A fade takes at most half of a picture's time.
      if (input.transition > per / 2) input.transition = Math.floor((per / 2) * 100) / 100;
    }
    return input;
  }

  function showServerError(error) {
    const name = (error.details && error.details.field) || '';
    if (error.code === 'validation_error') {
      const caption = name.match(/^captions\[(\d+)\]$/);
      const image = name.match(/^images(\[(\d+)\])?$/);
      if (caption && slideList.children[Number(caption[1])]) {
        const input = slideList.children[Number(caption[1])].querySelector('[data-caption]');
        setFieldError(input, error.message);
        input.focus();
        return;
      }
      if (image) {
        slidesError.textContent = image[2] !== undefined ? t('Picture {n}: {message}', { n: Number(image[2]) + 1, message: error.message }) : error.message;
        slidesError.hidden = false;
        return;
      }
      const control = { seconds_per_image: seconds, transition, motion, soundtrack, width: size, height: size }[name];
      if (control) {
        setFieldError(control, error.message);
        control.focus();
        return;
      }
    }
    message.textContent = describeError(error);
    if (error.code === 'engine_unavailable' && error.message) message.append(h('div', { class: 'small' }, error.message));
    message.hidden = false;
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    message.hidden = true;
    for (const control of form.querySelectorAll('[aria-invalid=true]')) setFieldError(control, null);
    const input = request();
    if (!input) {
      (slides.length ? seconds : pictures.focusTarget).focus();
      return;
    }
    submit.disabled = true;
    try {
      const task = await post('/tasks', { model: MODEL, input }, { headers: { 'idempotency-key': crypto.randomUUID() } });
      show(task);
    } catch (error) {
      showServerError(error);
    } finally {
      submit.disabled = false;
    }
  });

  /* Results */
  const results = h('div', { id: 'video-results' });
  const stack = cardStack(results, KEEP_CARDS);
  const recentList = h('ul', { class: 'recent-jobs', id: 'video-recent' });
  const recentNote = h('p', { class: 'empty', 'aria-live': 'polite' }, t('Loading…'));

  function videoTitle(task) {
    const n = ((task.input && task.input.images) || []).length;
    return n === 1 ? t('A video of 1 picture') : t('A video of {n} pictures', { n });
  }

  function resultView(task, slot) {
    const output = (task.images || []).find((image) => (image.mime_type || '').startsWith('video/'));
    if (!output) {
      clear(slot).append(h('p', { class: 'muted small' }, t('The task finished without a file.')));
      return;
    }
    clear(slot).append(
      h('div', { class: 'video-stage' }, player(output, { label: videoTitle(task) })),
      h('p', { class: 'muted small', dataset: { details: '' } }, mediaDetails(output)),
      h('div', { class: 'row downloads' },
        h('a', { class: 'btn small', href: output.url, download: downloadName(output), dataset: { action: 'download' } }, t('Download MP4'))));
  }

  function show(task) {
    history.replaceState(null, '', `#/video?task=${encodeURIComponent(task.task_id)}`);
    stack.show(task, () => taskCard(task, {
      title: videoTitle(task), label: t('Video task'), workingWord: t('Making the video…'),
      showResult: resultView, onEnded: () => loadRecent(),
    }));
  }

  const loadRecent = recentTasks({
    model: MODEL, limit: RECENT, list: recentList, note: recentNote, empty: t('No videos yet.'), row: recentRow,
    stopped: () => stopped,
  });

  function recentRow(task) {
    const output = (task.images || []).find((image) => (image.mime_type || '').startsWith('video/'));
    const title = videoTitle(task);
    return h('li', { class: 'recent-job', dataset: { task: task.task_id, status: task.status } },
      h('span', { class: 'recent-thumb' }, output && output.thumbnail_url ? h('img', { src: output.thumbnail_url, alt: '', loading: 'lazy' }) : h('span', { class: 'kind', 'aria-hidden': 'true' }, '▶')),
      h('span', { class: 'recent-meta' }, h('span', { class: 'prompt' }, title),
        h('span', { class: 'row' }, statusChip(task.status, STATUS_WORDS),
          h('span', { class: 'muted small' }, [output ? mediaDetails(output) : null, humanTime(task.created_at)].filter(Boolean).join(' · ')))),
      h('button', {
        class: 'btn small', type: 'button', dataset: { action: 'show-task' },
        'aria-label': t('Show {title}, made {time}', { title, time: humanTime(task.created_at) }), onclick: () => show(task),
      }, t('Show')));
  }

  main.append(h('div', { class: 'media-page video' }, form,
    h('section', { 'aria-label': t('Video results') }, results,
      h('h2', {}, t('Recent videos')), recentNote, recentList)));

  drawSlides();
  const image = params.get('image');
  if (image) addSlide(image);
  const opened = params.get('task');
  if (opened) get(`/tasks/${opened}`).then(show).catch(() => {});
  loadSoundtracks();
  loadRecent();

  return () => {
    stopped = true;
    stack.stopAll();
  };
}
