// Sign in: email, password and, for accounts with two-factor on, the code from
// the authenticator app (or a recovery code). Always shown, so no extra round trip.
// The language picker is here too: one can switch before signing in.

import { post } from '../api.js';
import { field, h } from '../dom.js';
import { t, tParts } from '../i18n.js';
import { describeError } from '../words.js';

export function signInView(main, { onSignedIn, languagePicker }) {
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const code = h('input', {
    type: 'text', name: 'code', autocomplete: 'one-time-code', inputmode: 'numeric', maxlength: 32,
    placeholder: '123456',
  });
  const message = h('div', { class: 'error-box', role: 'alert', hidden: true });
  const submit = h('button', { class: 'btn primary block', type: 'submit' }, t('Sign in'));

  const form = h('form', { class: 'panel', id: 'sign-in-form', novalidate: false },
    h('h1', {}, t('Sign in')),
    field(t('Email'), email),
    field(t('Password'), password),
    field(t('Two-factor code'), code, t('Only if two-factor is on for your account: the 6-digit code from your app, or a recovery code.')),
    message,
    submit);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    message.hidden = true;
    submit.disabled = true;
    try {
      const body = { email: email.value.trim(), password: password.value };
      if (code.value.trim()) body.code = code.value.trim().replace(/\s+/g, '');
      await post('/sessions', body);
      onSignedIn();
    } catch (error) {
      message.textContent = error.code === 'unauthorized' || error.code === 'totp_required'
        ? (error.code === 'totp_required' ? describeError(error) : error.message)
        : describeError(error);
      message.hidden = false;
      if (error.code === 'totp_required') code.focus();
      submit.disabled = false;
    }
  });

  main.append(h('div', { class: 'signin' },
    h('div', { class: 'brand' }, h('img', { src: '/studio/icon.svg', alt: '' }), t('Atelier studio')),
    form,
    h('p', { class: 'muted small' },
      tParts('First run? The server printed a one-time sign-in link; open it, then set a password under Account. Scripts use API keys instead: see {docs}.',
        { docs: h('a', { href: '/docs' }, t('the API docs')) })),
    h('div', { class: 'signin-lang' }, languagePicker())));
  email.focus();
}
