// The studio's words for codes, checked against the Rust sources they mirror: every
// task error code a provider adapter can store and every task status has words, so
// a new code cannot reach a person as a bare identifier unnoticed.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';

import { REPO } from './harness.mjs';

const words = await import(path.join(REPO, 'crates/server/studio/js/words.js'));

/** The string literals of the arms of `fn <name>(self) -> &'static str` in a Rust file. */
async function codesOf(file, name) {
  const source = await readFile(path.join(REPO, file), 'utf8');
  const start = source.indexOf(`fn ${name}(self)`);
  assert.ok(start >= 0, `fn ${name} in ${file}`);
  const body = source.slice(start, source.indexOf('\n    }\n', start));
  const codes = [...body.matchAll(/=> "([a-z_]+)"/g)].map((match) => match[1]);
  assert.ok(codes.length >= 5, `codes found in ${file}: ${codes}`);
  return codes;
}

test('every provider error class has words', async () => {
  for (const code of await codesOf('crates/core/src/ports/provider.rs', 'code')) {
    const sentence = words.describeTaskError({ error: { code, message: 'detail' } });
    assert.notEqual(sentence, 'detail', `no words for task error ${code}`);
    assert.match(sentence, /\(detail\)$/, 'the provider detail is kept');
  }
});

test('every task status has words', async () => {
  for (const status of await codesOf('crates/core/src/task/status.rs', 'as_str')) {
    assert.ok(words.STATUS_WORDS[status], `no words for status ${status}`);
  }
});

test('API errors read as sentences, with the wait when there is one', () => {
  const limited = { code: 'rate_limit_exceeded', message: 'x', retryAfter: 90 };
  assert.equal(words.describeError(limited), 'Too many requests at once. Try again in 2 min.');
  const unavailable = { code: 'model_unavailable', details: { config_key: 'providers.kie.api_key', env_var: 'ATELIER__PROVIDERS__KIE__API_KEY' } };
  assert.match(words.describeError(unavailable), /providers\.kie\.api_key/);
  assert.equal(words.describeError({ code: 'validation_error', message: 'prompt: must not be blank' }), 'prompt: must not be blank');
  assert.equal(words.describeError({ code: 'something_new', message: 'Said by the server.' }), 'Said by the server.');
});
