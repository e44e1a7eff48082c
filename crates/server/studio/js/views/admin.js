// Admin: users (create, change role, disable) and provider status (circuit state,
// tasks in flight, submit limits, quota use), refreshed every five seconds.

import { get, patch, post } from '../api.js';
import { clear, field, h, toast } from '../dom.js';
import { t, tParts } from '../i18n.js';
import { describeError, humanTime, roleWord } from '../words.js';

const ROLES = ['viewer', 'member', 'admin'];
const CIRCUIT_WORDS = { closed: t('circuit closed'), open: t('circuit open'), half_open: t('circuit half open') };

export async function adminView(main, { me }) {
  const users = h('tbody', {});
  const email = h('input', { type: 'email', name: 'email', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'new-password', minlength: 10, placeholder: t('optional') });
  const role = h('select', { name: 'role' }, ROLES.map((r) => h('option', { value: r, selected: r === 'member' }, roleWord(r))));
  const form = h('form', { class: 'panel', id: 'create-user-form' },
    h('h2', {}, t('New user')),
    h('div', { class: 'filters' }, field(t('Email'), email), field(t('Password'), password, t('Or leave empty and share an API key.')), field(t('Role'), role)),
    h('button', { class: 'btn primary', type: 'submit' }, t('Create user')));
  const providers = h('div', { class: 'cards', id: 'providers' });

  main.append(h('h1', {}, t('Admin')),
    h('section', { 'aria-labelledby': 'providers-title' }, h('h2', { id: 'providers-title' }, t('Providers')), providers),
    h('h2', {}, t('Users')),
    h('div', { class: 'panel table-wrap' }, h('table', { id: 'users-table' },
      h('thead', {}, h('tr', {}, [t('Email'), t('Role'), t('Two-factor'), t('Created'), t('Access')].map((title) => h('th', {}, title)))), users)),
    form);

  async function change(user, body) {
    try {
      await patch(`/users/${user.id}`, body);
      toast(t('Saved.'), 'ok');
    } catch (error) {
      toast(describeError(error), 'error');
    }
    loadUsers();
  }

  async function loadUsers() {
    try {
      const list = (await get('/users')).users;
      clear(users);
      for (const user of list) {
        const roleSelect = h('select', { 'aria-label': t('Role of {email}', { email: user.email }), disabled: user.id === me.user_id },
          ROLES.map((r) => h('option', { value: r, selected: r === user.role }, roleWord(r))));
        roleSelect.addEventListener('change', () => change(user, { role: roleSelect.value }));
        users.append(h('tr', { dataset: { user: user.id } },
          h('td', {}, user.email),
          h('td', {}, roleSelect),
          h('td', {}, user.totp_enabled ? t('on') : t('off')),
          h('td', {}, humanTime(user.created_at)),
          h('td', {}, user.id === me.user_id ? h('span', { class: 'muted small' }, t('you'))
            : h('button', {
              class: `btn small ${user.disabled ? '' : 'danger'}`, type: 'button',
              onclick: () => change(user, { disabled: !user.disabled }),
            }, user.disabled ? t('Enable') : t('Disable')))));
      }
    } catch (error) {
      toast(describeError(error), 'error');
    }
  }

  function meter(used, limit, label) {
    const bar = h('span', {});
    bar.style.width = `${limit ? Math.min(100, Math.round((used / limit) * 100)) : 0}%`;
    return h('div', { class: 'meter', role: 'meter', 'aria-label': label, 'aria-valuenow': used, 'aria-valuemin': 0, 'aria-valuemax': limit || 0 }, bar);
  }

  function circuitWords(circuit) {
    return CIRCUIT_WORDS[circuit] || t('circuit {state}', { state: circuit.replace('_', ' ') });
  }

  // `4 models · 0 in flight of 8 · at most 10 submits per 60 s · …`
  function providerFigures(provider) {
    const limits = provider.limits || {};
    const counts = { models: provider.models.length, n: limits.in_flight ?? 0, max: limits.max_in_flight };
    const figures = [limits.max_in_flight ? t('{models} models · {n} in flight of {max}', counts) : t('{models} models · {n} in flight', counts)];
    if (limits.submits_per_window) figures.push(t('at most {n} submits per {secs} s', { n: limits.submits_per_window, secs: limits.window_secs }));
    if (provider.consecutive_failures) figures.push(t('{n} failures in a row', { n: provider.consecutive_failures }));
    if (provider.circuit_retry_in_secs) figures.push(t('tries again in {secs} s', { secs: provider.circuit_retry_in_secs }));
    return figures.join(' · ');
  }

  async function loadProviders() {
    try {
      const list = (await get('/providers')).providers;
      clear(providers);
      for (const provider of list) {
        providers.append(h('div', { class: 'panel', dataset: { provider: provider.service } },
          h('div', { class: 'row' }, h('h3', { class: 'grow' }, provider.service),
            provider.configured ? h('span', { class: `chip s-${provider.circuit}`, dataset: { circuit: provider.circuit } }, circuitWords(provider.circuit))
              : h('span', { class: 'chip' }, t('not configured'))),
          provider.configured ? null : h('p', { class: 'muted small' }, tParts('Set {key} to use it.', { key: h('code', {}, provider.requires_config) })),
          h('p', { class: 'small' }, providerFigures(provider)),
          (provider.quotas || []).map((quota) => h('div', { class: 'small' },
            h('div', { class: 'row' }, h('span', { class: 'grow' }, t('Quota {scope}', { scope: quota.scope || quota.model || provider.service })),
              t('{used} / {limit} today', { used: quota.used, limit: quota.limit })),
            meter(quota.used, quota.limit, t('Quota use of {scope}', { scope: quota.scope }))))));
      }
    } catch (error) {
      toast(describeError(error), 'error');
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const body = { email: email.value.trim(), role: role.value };
      if (password.value) body.password = password.value;
      await post('/users', body);
      toast(t('Created {email}.', { email: body.email }), 'ok');
      email.value = '';
      password.value = '';
      loadUsers();
    } catch (error) {
      toast(describeError(error), 'error');
    }
  });

  await Promise.all([loadUsers(), loadProviders()]);
  const timer = setInterval(loadProviders, 5000);
  return () => clearInterval(timer);
}
