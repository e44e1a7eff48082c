// A form drawn from a model's input JSON Schema (GET /api/v1/models). Each
// property becomes a control by its type: text areas for prompts, size presets
// for width/height, a dice button for seeds, sliders for steps and scale, selects
// for enums, an uploader for input files. Empty optional fields are left out, so
// the server's defaults apply. The studio's own words are translated; the
// schema's descriptions and the fields' names are the model's, shown as they are.

import { field, h, setFieldError } from './dom.js';
import { t } from './i18n.js';
import { uploader } from './uploader.js';

const PROSE = ['prompt', 'text', 'input', 'instructions', 'negative_prompt'];
const MAIN_ORDER = ['prompt', 'text', 'input', 'negative_prompt', 'instructions', 'images', 'input_reference', 'mask',
  'size', 'aspect_ratio', 'width', 'height', 'num_images', 'n', 'seed', 'seeds', 'steps', 'scale', 'variant', 'quality'];
const SLIDERS = new Set(['steps', 'scale']);
const SIZE_PRESETS = [
  [t('Square'), 1024, 1024], [t('Small square'), 512, 512], [t('Portrait 3:4'), 768, 1024], [t('Landscape 4:3'), 1024, 768],
  [t('Wide 16:9'), 1280, 720], [t('Tall 9:16'), 720, 1280],
];

function typesOf(schema) {
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  return { base: types.find((type) => type && type !== 'null') || 'string', nullable: types.includes('null') };
}

// The studio's own names for common parameters, in the user's language; any other
// field is named after its key ("video_batch_size" → "Video batch size"). The
// model's descriptions under each field are the server's, as written.
const FIELD_LABELS = {
  prompt: t('Prompt'),
  negative_prompt: t('Negative prompt'),
  width: t('Width'),
  height: t('Height'),
  num_images: t('Number of images'),
  n: t('Number of outputs'),
  seed: t('Seed'),
  steps: t('Steps'),
  scale: t('Guidance scale'),
  aspect_ratio: t('Aspect ratio'),
  size: t('Size'),
  quality: t('Quality'),
  resolution: t('Resolution'),
  seconds: t('Length in seconds'),
  duration: t('Duration'),
  images: t('Input images'),
  image_urls: t('Input images'),
  input_reference: t('Reference image'),
  mask: t('Mask'),
  voice: t('Voice'),
  speed: t('Speed'),
  watermark: t('Watermark'),
  style: t('Style'),
};

function labelFor(name) {
  if (Object.hasOwn(FIELD_LABELS, name)) return FIELD_LABELS[name];
  const words = name.replace(/_/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Input files: fields whose description names upload ids, and masks. */
const FILE_FIELDS = new Set(['mask', 'input_reference', 'images', 'image_urls']);

function isFileField(name, schema) {
  const { base } = typesOf(schema);
  const textual = base === 'string' || (base === 'array' && schema.items && schema.items.type === 'string');
  return textual && (FILE_FIELDS.has(name) || /upl_/.test(schema.description || '')
    || Boolean(schema.items && /upl_/.test(schema.items.description || '')));
}

/** Where extra rows go in a field: before its hint, or its error slot. */
function before(wrapper) {
  return wrapper.querySelector('.hint') || wrapper.querySelector('.error-text');
}

function randomSeed(min, max) {
  const low = Number.isFinite(min) ? min : 0;
  const high = Number.isFinite(max) ? Math.min(max, 2 ** 32 - 1) : 2 ** 32 - 1;
  const buffer = new Uint32Array(1);
  crypto.getRandomValues(buffer);
  return low + (buffer[0] % (high - low + 1));
}

/** One control: `{ element, get(), set(value), focusTarget }`. */
function controlFor(name, schema, required, options) {
  const { base, nullable } = typesOf(schema);
  const hint = schema.description || null;
  const fieldName = `in-${name}`;

  if (isFileField(name, schema)) {
    const files = uploader({ multiple: base === 'array', max: schema.maxItems || 1, service: options.service, name: fieldName });
    const wrapper = h('div', { class: 'field', dataset: { field: name } },
      h('div', { class: 'label', id: `${fieldName}-label` }, labelFor(name)), files.element,
      hint ? h('div', { class: 'hint' }, hint) : null, h('div', { class: 'error-text', hidden: true }));
    return {
      element: wrapper,
      focusTarget: files.focusTarget,
      get: () => {
        const ids = files.get();
        if (base === 'array') return ids.length ? ids : undefined;
        return ids[0];
      },
      set: (value) => files.set(Array.isArray(value) ? value : value ? [value] : []),
    };
  }

  if (schema.enum) {
    const values = [];
    const seen = new Set();
    for (const value of schema.enum) {
      if (value === null || seen.has(String(value))) continue;
      seen.add(String(value));
      values.push(value);
    }
    const hasDefault = schema.default !== undefined && schema.default !== null;
    const select = h('select', { name: fieldName },
      !hasDefault || nullable ? h('option', { value: '' }, t('Default')) : null,
      values.map((value) => h('option', { value: String(value), selected: hasDefault && String(schema.default) === String(value) }, String(value))));
    return {
      element: field(labelFor(name), select, hint),
      focusTarget: select,
      get: () => {
        if (select.value === '') return undefined;
        return values.find((value) => String(value) === select.value);
      },
      set: (value) => {
        select.value = value === null || value === undefined ? (hasDefault ? String(schema.default) : '') : String(value);
      },
    };
  }

  if (base === 'boolean') {
    if (nullable) {
      const select = h('select', { name: fieldName },
        h('option', { value: '' }, t('Default')), h('option', { value: 'true' }, t('Yes')), h('option', { value: 'false' }, t('No')));
      return {
        element: field(labelFor(name), select, hint),
        focusTarget: select,
        get: () => (select.value === '' ? undefined : select.value === 'true'),
        set: (value) => {
          select.value = value === true ? 'true' : value === false ? 'false' : '';
        },
      };
    }
    const box = h('input', { type: 'checkbox', name: fieldName, checked: schema.default === true });
    const id = `f-${fieldName}`;
    box.id = id;
    return {
      element: h('div', { class: 'field' }, h('label', { class: 'row', for: id }, box, labelFor(name)),
        hint ? h('div', { class: 'hint' }, hint) : null, h('div', { class: 'error-text', hidden: true })),
      focusTarget: box,
      get: () => box.checked,
      set: (value) => {
        box.checked = value === true;
      },
    };
  }

  if (base === 'integer' || base === 'number') {
    const step = base === 'integer' ? '1' : 'any';
    const input = h('input', {
      type: 'number', name: fieldName, step, min: schema.minimum ?? null, max: schema.maximum ?? null,
      required: required && !nullable, inputmode: base === 'integer' ? 'numeric' : 'decimal',
      placeholder: schema.default !== undefined && schema.default !== null ? t('default {value}', { value: schema.default }) : (name.startsWith('seed') ? t('random') : ''),
    });
    if (schema.default !== undefined && schema.default !== null) input.value = String(schema.default);
    const parse = () => {
      if (input.value.trim() === '') return undefined;
      const number = Number(input.value);
      return Number.isFinite(number) ? number : input.value;
    };
    const control = { focusTarget: input, get: parse, set: (value) => { input.value = value === null || value === undefined ? '' : String(value); } };
    if (name === 'seed' || name === 'seeds') {
      input.value = '';
      const dice = h('button', {
        class: 'btn icon', type: 'button', title: t('Pick a random seed'), 'aria-label': t('Pick a random seed'), dataset: { action: 'dice' },
        onclick: () => {
          input.value = String(randomSeed(schema.minimum, schema.maximum));
          input.dispatchEvent(new Event('input'));
        },
      }, h('img', { class: 'dice', src: '/studio/dice.svg', alt: '' }));
      const wrapped = field(labelFor(name), input, hint || t('Empty: a seed is chosen for you and stored with the task.'));
      wrapped.insertBefore(h('div', { class: 'row' }, h('div', { class: 'grow' }, input), dice), before(wrapped));
      control.element = wrapped;
      return control;
    }
    if (SLIDERS.has(name) && schema.minimum !== undefined && schema.maximum !== undefined) {
      const slider = h('input', {
        type: 'range', min: schema.minimum, max: schema.maximum, step: base === 'integer' ? 1 : 0.5,
        value: input.value || schema.minimum, 'aria-label': t('{label} slider', { label: labelFor(name) }), tabindex: '-1',
      });
      slider.addEventListener('input', () => { input.value = slider.value; });
      input.addEventListener('input', () => { if (input.value !== '') slider.value = input.value; });
      const wrapped = field(labelFor(name), input, hint);
      wrapped.insertBefore(h('div', { class: 'row' }, h('div', { class: 'grow' }, slider), h('div', {}, input)), before(wrapped));
      input.style.width = '6.5rem';
      control.element = wrapped;
      control.set = (value) => {
        input.value = value === null || value === undefined ? '' : String(value);
        if (input.value !== '') slider.value = input.value;
      };
      return control;
    }
    control.element = field(labelFor(name), input, hint);
    return control;
  }

  if (base === 'array') {
    const area = h('textarea', { name: fieldName, rows: 2, placeholder: t('One per line') });
    return {
      element: field(labelFor(name), area, hint),
      focusTarget: area,
      get: () => {
        const lines = area.value.split('\n').map((line) => line.trim()).filter(Boolean);
        return lines.length ? lines : undefined;
      },
      set: (value) => { area.value = Array.isArray(value) ? value.join('\n') : ''; },
    };
  }

  // Strings.
  if (schema.pattern === '^#[0-9A-Fa-f]{6}$') {
    const color = h('input', { type: 'color', name: fieldName, value: schema.default || '#000000' });
    return {
      element: field(labelFor(name), color, hint),
      focusTarget: color,
      get: () => color.value,
      set: (value) => { if (value) color.value = value; },
    };
  }
  const prose = PROSE.includes(name) || (schema.maxLength || 0) > 400;
  const input = prose
    ? h('textarea', { name: fieldName, rows: name === 'negative_prompt' ? 2 : 4, maxlength: schema.maxLength ?? null, required: required && !nullable })
    : h('input', { type: 'text', name: fieldName, maxlength: schema.maxLength ?? null, pattern: schema.pattern ?? null, required: required && !nullable });
  if (typeof schema.default === 'string') input.value = schema.default;
  return {
    element: field(labelFor(name), input, hint),
    focusTarget: input,
    get: () => (input.value.trim() === '' ? undefined : input.value),
    set: (value) => { input.value = value === null || value === undefined ? '' : String(value); },
  };
}

function sizePresets(controls, properties) {
  const width = properties.width;
  const height = properties.height;
  const fits = ([, w, h2]) => w >= (width.minimum ?? 0) && w <= (width.maximum ?? Infinity)
    && h2 >= (height.minimum ?? 0) && h2 <= (height.maximum ?? Infinity);
  const buttons = SIZE_PRESETS.filter(fits).map(([label, w, h2]) => h('button', {
    class: 'btn small', type: 'button', dataset: { preset: `${w}x${h2}` }, 'aria-pressed': 'false',
    title: `${w} × ${h2}`,
    onclick: () => {
      controls.get('width').set(w);
      controls.get('height').set(h2);
      mark();
    },
  }, label));
  function mark() {
    const current = `${controls.get('width').get()}x${controls.get('height').get()}`;
    for (const button of buttons) button.setAttribute('aria-pressed', button.dataset.preset === current ? 'true' : 'false');
  }
  return { element: h('div', { class: 'field' }, h('div', { class: 'label' }, t('Size')), h('div', { class: 'presets', role: 'group', 'aria-label': t('Size presets') }, buttons)), mark };
}

/**
 * Builds the form for `model`. Returns `{ element, values(), setValues(input),
 * showError(apiError), focus() }`.
 */
export function schemaForm(model) {
  const schema = model.input_schema || {};
  const properties = schema.properties || {};
  const required = new Set(schema.required || []);
  const names = Object.keys(properties).sort((a, b) => {
    const rank = (name) => {
      const index = MAIN_ORDER.indexOf(name);
      return index === -1 ? MAIN_ORDER.length : index;
    };
    return rank(a) - rank(b) || a.localeCompare(b);
  });
  const controls = new Map();
  for (const name of names) controls.set(name, controlFor(name, properties[name], required.has(name), { service: model.service }));

  const mainPart = h('div', { class: 'main-fields' });
  const more = h('div', {});
  const advanced = h('details', { class: 'advanced' }, h('summary', {}, t('More options')), more);
  let presets = null;
  for (const name of names) {
    const control = controls.get(name);
    control.element.dataset.field = name;
    const isMain = MAIN_ORDER.includes(name) || required.has(name);
    if (name === 'width' && controls.has('height')) {
      presets = sizePresets(controls, properties);
      mainPart.append(presets.element);
      const pair = h('div', { class: 'fields-2' }, control.element, controls.get('height').element);
      mainPart.append(pair);
      continue;
    }
    if (name === 'height' && presets) continue;
    (isMain ? mainPart : more).append(control.element);
  }
  if (presets) {
    for (const key of ['width', 'height']) {
      controls.get(key).focusTarget.addEventListener('input', presets.mark);
    }
    presets.mark();
  }
  const element = h('div', { class: 'schema-form' }, mainPart, more.childElementCount ? advanced : null);

  return {
    element,
    values() {
      const input = {};
      for (const [name, control] of controls) {
        const value = control.get();
        if (value !== undefined) input[name] = value;
      }
      return input;
    },
    setValues(input) {
      for (const [name, value] of Object.entries(input || {})) {
        const control = controls.get(name);
        if (control) control.set(value);
      }
      if (presets) presets.mark();
      if (Object.keys(input || {}).some((name) => !MAIN_ORDER.includes(name) && controls.has(name))) advanced.open = true;
    },
    clearErrors() {
      for (const control of controls.values()) setFieldError(control.focusTarget, null);
    },
    /** Puts a 422's message next to its field; true when a field was found. */
    showError(error) {
      const name = error && error.details && error.details.field ? String(error.details.field).split(/[.[]/)[0] : null;
      const control = name ? controls.get(name) : null;
      if (!control) return false;
      if (!control.element.closest('.main-fields')) advanced.open = true;
      setFieldError(control.focusTarget, error.message);
      control.focusTarget.focus();
      return true;
    },
    focus() {
      const first = controls.values().next().value;
      if (first) first.focusTarget.focus();
    },
  };
}
