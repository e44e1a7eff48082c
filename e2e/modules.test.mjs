// Every studio module parses and links as an ES module. `node --check` reads a file
// as a script and misses a name declared twice in a module; a browser then refuses
// the whole studio. Importing each module here finds that in a second, without a
// browser. (Module bodies may touch `document`; only syntax errors count.)

import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';

import { REPO } from './harness.mjs';

const STUDIO = path.join(REPO, 'crates/server/studio/js');

test('every studio module parses as an ES module', async () => {
  const files = (await readdir(STUDIO, { recursive: true })).filter((file) => file.endsWith('.js'));
  assert.ok(files.length >= 10, `studio modules found: ${files}`);
  for (const file of files) {
    try {
      await import(pathToFileURL(path.join(STUDIO, file)).href);
    } catch (error) {
      assert.ok(!(error instanceof SyntaxError), `${file}: ${error.message}`);
    }
  }
});
