// API keys: create one (shown once, with a copy button), see when each was last
// used, revoke with confirmation.

import { del, get, post } from '../api.js';
import { clear, confirmDialog, copyText, field, h, toast } from '../dom.js';
import { t, tParts } from '../i18n.js';
import { describeError, humanTime, roleWord } from '../words.js';

const ROLES = ['viewer', 'member', 'admin'];

export async function keysView(main, { me }) {
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 100, placeholder: t('e.g. laptop script') });
  const role = h('select', { name: 'role' },
    ROLES.slice(0, ROLES.indexOf(me.role) + 1).map((r) => h('option', { value: r, selected: r === me.role }, roleWord(r))));
  const days = h('input', { type: 'number', name: 'expires_in_days', min: 1, max: 3650, placeholder: t('never') });
  const created = h('div', { id: 'new-key', 'aria-live': 'polite' });
  const form = h('form', { class: 'panel', id: 'create-key-form' },
    h('h2', {}, t('New key')),
    h('div', { class: 'filters' }, field(t('Name'), name), field(t('Role'), role, t('At most your own.')), field(t('Expires after (days)'), days)),
    h('button', { class: 'btn primary', type: 'submit' }, t('Create key')),
    created);
  const table = h('tbody', {});
  main.append(h('h1', {}, t('API keys')),
    h('p', { class: 'muted' }, tParts('Scripts and the CLI send a key as {header}.', { header: h('code', {}, 'Authorization: Bearer atl_…') })),
    form,
    h('div', { class: 'panel table-wrap' },
      h('table', { id: 'keys-table' },
        h('thead', {}, h('tr', {}, [t('Name'), t('Key'), t('Role'), t('Created'), t('Last used'), t('Expires'), ''].map((title) => h('th', {}, title)))),
        table)));

  async function load() {
    try {
      const { keys } = await get('/keys');
      clear(table);
      for (const key of keys) {
        const revoked = Boolean(key.revoked_at);
        table.append(h('tr', { dataset: { key: key.id } },
          h('td', {}, key.name),
          h('td', {}, h('code', {}, `${key.prefix}_…`)),
          h('td', {}, roleWord(key.role)),
          h('td', {}, humanTime(key.created_at)),
          h('td', {}, key.last_used_at ? humanTime(key.last_used_at) : t('never')),
          h('td', {}, key.expires_at ? humanTime(key.expires_at) : t('never')),
          h('td', {}, revoked ? h('span', { class: 'chip s-cancelled' }, t('revoked'))
            : h('button', {
              class: 'btn small danger', type: 'button', dataset: { action: 'revoke' },
              onclick: async () => {
                const sure = await confirmDialog({
                  title: t('Revoke “{name}”?', { name: key.name }), text: t('Anything using this key stops working at once.'), confirm: t('Revoke'), danger: true,
                });
                if (!sure) return;
                try {
                  await del(`/keys/${key.id}`);
                  toast(t('Key revoked.'), 'ok');
                  load();
                } catch (error) {
                  toast(describeError(error), 'error');
                }
              },
            }, t('Revoke')))));
      }
      if (!keys.length) table.append(h('tr', {}, h('td', { colspan: 7, class: 'muted' }, t('No keys yet.'))));
    } catch (error) {
      toast(describeError(error), 'error');
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const body = { name: name.value.trim(), role: role.value };
      if (days.value) body.expires_in_days = Number(days.value);
      const result = await post('/keys', body);
      clear(created).append(h('div', { class: 'warn-box' },
        h('p', {}, h('strong', {}, t('Copy this key now: it is not shown again.'))),
        h('div', { class: 'secret-box', id: 'new-key-value' }, result.key),
        h('div', { class: 'row' }, h('button', { class: 'btn', type: 'button', onclick: () => copyText(result.key) }, t('Copy')))));
      name.value = '';
      days.value = '';
      load();
    } catch (error) {
      toast(describeError(error), 'error');
    }
  });

  await load();
}
