// Small DOM helpers: element building, toasts, a confirmation dialog, copying.

import { t } from './i18n.js';

const PROPERTIES = new Set(['value', 'checked', 'disabled', 'selected', 'hidden', 'indeterminate', 'required', 'multiple']);

/**
 * `h('button', { class: 'btn', onclick }, 'Label')`. Attributes named `on…` with a
 * function become listeners; `null`/`false` attributes are skipped; children may
 * be strings, nodes, arrays or null.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (name === 'class') {
      element.className = value;
    } else if (name === 'dataset') {
      Object.assign(element.dataset, value);
    } else if (PROPERTIES.has(name)) {
      element[name] = value;
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function clear(element) {
  while (element.firstChild) element.firstChild.remove();
  return element;
}

export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const item = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : null }, message);
  box.append(item);
  // At most three at once, so they never cover the page.
  while (box.childElementCount > 3) box.firstElementChild.remove();
  setTimeout(() => item.remove(), kind === 'error' ? 8000 : 3000);
}

/** A modal question; resolves true when confirmed. Esc or Cancel resolve false. */
export function confirmDialog({ title, text, confirm = t('Confirm'), danger = false }) {
  return new Promise((resolve) => {
    const cancelButton = h('button', { class: 'btn', type: 'button', value: 'cancel' }, t('Cancel'));
    const okButton = h('button', { class: `btn ${danger ? 'danger' : 'primary'}`, type: 'button', value: 'ok' }, confirm);
    const dialog = h('dialog', { 'aria-labelledby': 'confirm-title', class: 'confirm' },
      h('h2', { id: 'confirm-title' }, title),
      h('p', {}, text),
      h('div', { class: 'actions' }, cancelButton, okButton));
    let answer = false;
    cancelButton.addEventListener('click', () => dialog.close());
    okButton.addEventListener('click', () => {
      answer = true;
      dialog.close();
    });
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancelButton.focus();
  });
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast(t('Copied.'), 'ok');
  } catch {
    toast(t('Copy was not allowed here: select the text and copy it by hand.'), 'error');
  }
}

/** A labelled field wrapper with an optional hint and an error slot. */
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  const error = h('div', { class: 'error-text', id: `${id}-error`, hidden: true });
  const hintNode = hint ? h('div', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hintNode) control.setAttribute('aria-describedby', `${id}-hint`);
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hintNode, error);
}

/** Shows `message` under the field holding `control` (null clears it). */
export function setFieldError(control, message) {
  const wrapper = control.closest('.field');
  if (!wrapper) return;
  const slot = wrapper.querySelector('.error-text');
  wrapper.classList.toggle('invalid', Boolean(message));
  control.setAttribute('aria-invalid', message ? 'true' : 'false');
  if (slot) {
    slot.textContent = message || '';
    slot.hidden = !message;
  }
}

export function statusChip(status, words) {
  return h('span', { class: `chip s-${status}`, dataset: { status } }, words[status] || status);
}
