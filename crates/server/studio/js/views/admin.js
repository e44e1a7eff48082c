// Admin: users (create, change role, disable) and provider status (circuit state,
// tasks in flight, submit limits, quota use), refreshed every five seconds.

import { get, patch, post } from '../api.js';
import { clear, field, h, toast } from '../dom.js';
import { describeError, humanTime } from '../words.js';

const ROLES = ['viewer', 'member', 'admin'];

export async function adminView(main, { me }) {
  const users = h('tbody', {});
  const email = h('input', { type: 'email', name: 'email', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'new-password', minlength: 10, placeholder: 'optional' });
  const role = h('select', { name: 'role' }, ROLES.map((r) => h('option', { value: r, selected: r === 'member' }, r)));
  const form = h('form', { class: 'panel', id: 'create-user-form' },
    h('h2', {}, 'New user'),
    h('div', { class: 'filters' }, field('Email', email), field('Password', password, 'Or leave empty and share an API key.'), field('Role', role)),
    h('button', { class: 'btn primary', type: 'submit' }, 'Create user'));
  const providers = h('div', { class: 'cards', id: 'providers' });

  main.append(h('h1', {}, 'Admin'),
    h('section', { 'aria-labelledby': 'providers-title' }, h('h2', { id: 'providers-title' }, 'Providers'), providers),
    h('h2', {}, 'Users'),
    h('div', { class: 'panel table-wrap' }, h('table', { id: 'users-table' },
      h('thead', {}, h('tr', {}, ['Email', 'Role', 'Two-factor', 'Created', 'Access'].map((t) => h('th', {}, t)))), users)),
    form);

  async function change(user, body) {
    try {
      await patch(`/users/${user.id}`, body);
      toast('Saved.', 'ok');
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
        const roleSelect = h('select', { 'aria-label': `Role of ${user.email}`, disabled: user.id === me.user_id },
          ROLES.map((r) => h('option', { value: r, selected: r === user.role }, r)));
        roleSelect.addEventListener('change', () => change(user, { role: roleSelect.value }));
        users.append(h('tr', { dataset: { user: user.id } },
          h('td', {}, user.email),
          h('td', {}, roleSelect),
          h('td', {}, user.totp_enabled ? 'on' : 'off'),
          h('td', {}, humanTime(user.created_at)),
          h('td', {}, user.id === me.user_id ? h('span', { class: 'muted small' }, 'you')
            : h('button', {
              class: `btn small ${user.disabled ? '' : 'danger'}`, type: 'button',
              onclick: () => change(user, { disabled: !user.disabled }),
            }, user.disabled ? 'Enable' : 'Disable'))));
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

  async function loadProviders() {
    try {
      const list = (await get('/providers')).providers;
      clear(providers);
      for (const provider of list) {
        const limits = provider.limits || {};
        providers.append(h('div', { class: 'panel', dataset: { provider: provider.service } },
          h('div', { class: 'row' }, h('h3', { class: 'grow' }, provider.service),
            provider.configured ? h('span', { class: `chip s-${provider.circuit}`, dataset: { circuit: provider.circuit } }, `circuit ${provider.circuit.replace('_', ' ')}`)
              : h('span', { class: 'chip' }, 'not configured')),
          provider.configured ? null : h('p', { class: 'muted small' }, 'Set ', h('code', {}, provider.requires_config), ' to use it.'),
          h('p', { class: 'small' }, `${provider.models.length} models · ${limits.in_flight ?? 0} in flight`,
            limits.max_in_flight ? ` of ${limits.max_in_flight}` : '',
            limits.submits_per_window ? ` · at most ${limits.submits_per_window} submits per ${limits.window_secs} s` : '',
            provider.consecutive_failures ? ` · ${provider.consecutive_failures} failures in a row` : '',
            provider.circuit_retry_in_secs ? ` · tries again in ${provider.circuit_retry_in_secs} s` : ''),
          (provider.quotas || []).map((quota) => h('div', { class: 'small' },
            h('div', { class: 'row' }, h('span', { class: 'grow' }, `Quota ${quota.scope || quota.model || provider.service}`), `${quota.used} / ${quota.limit} today`),
            meter(quota.used, quota.limit, `Quota use of ${quota.scope}`)))));
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
      toast(`Created ${body.email}.`, 'ok');
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
