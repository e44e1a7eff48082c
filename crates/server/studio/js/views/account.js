// Account: who you are, your password, and two-factor sign-in (TOTP): enrolment
// shows the QR code to scan, a first code confirms it, and the recovery codes are
// shown once.

import { del, post, put } from '../api.js';
import { clear, copyText, field, h, setFieldError, toast } from '../dom.js';
import { t, tParts } from '../i18n.js';
import { describeError, roleWord } from '../words.js';

export async function accountView(main, { me, refreshMe }) {
  main.append(h('h1', {}, t('Account')),
    h('div', { class: 'panel' },
      h('p', {}, tParts('{email} · role {role}', { email: h('strong', {}, me.email), role: h('span', { class: 'chip' }, roleWord(me.role)) })),
      h('p', { class: 'muted small' }, me.signed_in_with === 'session' ? t('Signed in with this browser session.') : t('Signed in with an API key.'))),
    passwordPanel(me, refreshMe),
    totpPanel(me, refreshMe));
}

function passwordPanel(me, refreshMe) {
  const old = h('input', { type: 'password', name: 'old_password', autocomplete: 'current-password', required: true });
  const fresh = h('input', { type: 'password', name: 'new_password', autocomplete: 'new-password', minlength: 10, maxlength: 256, required: true });
  const form = h('form', { class: 'panel', id: 'password-form' },
    h('h2', {}, me.has_password ? t('Change your password') : t('Set a password')),
    me.has_password ? null : h('p', { class: 'muted small' }, t('You signed in with a one-time link. Set a password to sign in again later.')),
    me.has_password ? field(t('Current password'), old) : null,
    field(t('New password'), fresh, t('10 characters or more.')),
    h('button', { class: 'btn primary', type: 'submit' }, t('Save password')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    setFieldError(fresh, null);
    try {
      await put('/me/password', me.has_password ? { old_password: old.value, new_password: fresh.value } : { new_password: fresh.value });
      toast(t('Password saved.'), 'ok');
      await refreshMe();
      old.value = '';
      fresh.value = '';
    } catch (error) {
      setFieldError(error.details && error.details.field === 'old_password' ? old : fresh, describeError(error));
    }
  });
  return form;
}

function totpPanel(me, refreshMe) {
  const panel = h('section', { class: 'panel', id: 'totp-panel', 'aria-labelledby': 'totp-title' });
  const title = h('h2', { id: 'totp-title' }, t('Two-factor sign-in'));

  function showEnabled() {
    const code = h('input', { type: 'text', name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', required: true });
    const form = h('form', { class: 'row' }, h('div', { class: 'grow' }, field(t('Code to turn it off'), code)),
      h('button', { class: 'btn danger', type: 'submit' }, t('Turn off')));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        await del('/me/totp', { code: code.value.trim() });
        toast(t('Two-factor sign-in is off.'), 'ok');
        const fresh = await refreshMe();
        me.totp_enabled = fresh.totp_enabled;
        render();
      } catch (error) {
        setFieldError(code, describeError(error));
      }
    });
    clear(panel).append(title, h('div', { class: 'ok-box', id: 'totp-on' }, t('On: signing in asks for a code from your authenticator app.')), form);
  }

  function showOff() {
    const start = h('button', { class: 'btn primary', type: 'button', id: 'totp-start' }, t('Set up two-factor'));
    start.addEventListener('click', async () => {
      try {
        enrol(await post('/me/totp'));
      } catch (error) {
        toast(describeError(error), 'error');
      }
    });
    clear(panel).append(title,
      h('p', {}, t('Off. With two-factor on, signing in also asks for a six-digit code from an app such as Google Authenticator, 1Password or Aegis.')),
      start);
  }

  function enrol(enrolment) {
    const code = h('input', { type: 'text', name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', required: true, maxlength: 6, id: 'totp-code' });
    const form = h('form', { class: 'row', id: 'totp-confirm' },
      h('div', { class: 'grow' }, field(t('First code from the app'), code)),
      h('button', { class: 'btn primary', type: 'submit' }, t('Confirm')));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        const result = await post('/me/totp/confirm', { code: code.value.trim() });
        await refreshMe();
        me.totp_enabled = true;
        showRecovery(result.recovery_codes);
      } catch (error) {
        setFieldError(code, describeError(error));
      }
    });
    clear(panel).append(title,
      h('ol', {},
        h('li', {}, t('Scan this code with your authenticator app.')),
        h('li', {}, t('Type the six-digit code it shows to confirm.'))),
      h('img', { class: 'qr', src: enrolment.qr_png, alt: t('QR code to scan with an authenticator app'), id: 'totp-qr', width: 220, height: 220 }),
      h('p', { class: 'small' }, tParts('Cannot scan? Type this key instead: {secret}',
        { secret: h('code', { class: 'secret-box', id: 'totp-secret' }, enrolment.secret) })),
      form);
    code.focus();
  }

  function showRecovery(codes) {
    const text = codes.join('\n');
    clear(panel).append(title,
      h('div', { class: 'ok-box' }, t('Two-factor sign-in is on.')),
      h('p', {}, t('Keep these recovery codes somewhere safe. Each one signs you in once if you lose your phone. They are shown only now.')),
      h('pre', { class: 'secret-box', id: 'recovery-codes' }, text),
      h('div', { class: 'row' },
        h('button', { class: 'btn', type: 'button', onclick: () => copyText(text) }, t('Copy')),
        h('button', { class: 'btn', type: 'button', onclick: render }, t('Done'))));
  }

  function render() {
    if (me.totp_enabled) showEnabled();
    else showOff();
  }
  render();
  return panel;
}
