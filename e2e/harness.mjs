// The end-to-end harness of the web studio: the real `atelier` binary on a fresh data
// dir, HTTP helpers over its API, TOTP codes from oathtool (the independent oracle the
// Rust two-factor tests use too), and real Chromium driven by playwright-core.
//
// Used by the `e2e/*.test.mjs` files (run by `scripts/e2e` with `node --test`).

import { spawn, execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, mkdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { deflateSync } from 'node:zlib';

import { chromium } from 'playwright-core';

const execFileAsync = promisify(execFile);

/** The repository root (this file lives in `<repo>/e2e`). */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The binary under test: `ATELIER_BIN` (relative paths from the repo root), else the debug build. */
export const BIN = path.resolve(REPO, process.env.ATELIER_BIN || 'target/debug/atelier');

const LISTENING = 'Atelier is listening on http://';
// Matched on whole lines only: output arrives in chunks that can split a line.
const SIGN_IN = /Sign in once[^:]*:\s*(http\S+)\r?\n/;
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
const TAIL_LINES = 40;

/** The last lines of `text`, for failure messages. */
function tail(text, lines = TAIL_LINES) {
  return text.split('\n').slice(-lines).join('\n');
}

/**
 * Starts `atelier serve --listen 127.0.0.1:0 --data-dir <fresh temp dir>` and waits for
 * its "listening" line (the server prints the real port it bound). The first start
 * creates the admin account, prints a one-time sign-in link and writes the admin's API
 * key to `<dataDir>/cli-key`. stdout and stderr go to `<dataDir>/server.log`. When the
 * server does not start, the error carries its output and the data dir is kept.
 *
 * @param {{ env?: Record<string, string>, args?: string[] }} [options]
 *   extra environment variables and extra `serve` arguments.
 * @returns {Promise<{ url: string, dataDir: string, adminKey: string, signInLink: string | null,
 *   logPath: string, process: import('node:child_process').ChildProcess, log(): string,
 *   stop(): Promise<void> }>}
 */
export async function startServer({ env = {}, args = [] } = {}) {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'atelier-e2e-'));
  const logPath = path.join(dataDir, 'server.log');
  const logFile = createWriteStream(logPath);

  // A clean environment: a developer's ATELIER* or RUST_LOG settings must not leak in.
  const childEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('ATELIER') && name !== 'RUST_LOG') childEnv[name] = value;
  }
  Object.assign(childEnv, { ATELIER__LOG__LEVEL: 'warn', NO_COLOR: '1' }, env);

  const child = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, ...args], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  // 'close': the process exited and its output pipes are drained.
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  const spawnFailed = new Promise((resolve) => child.on('error', (error) => resolve({ error })));

  let url = null;
  let signInLink = null;
  let notifyListening;
  const listening = new Promise((resolve) => { notifyListening = resolve; });
  const onData = (chunk) => {
    const text = chunk.toString();
    output += text;
    if (!logFile.writableEnded) logFile.write(text);
    if (!signInLink) signInLink = output.match(SIGN_IN)?.[1] ?? null;
    if (!url) {
      const at = output.indexOf(LISTENING);
      // Only once the whole line has arrived.
      if (at >= 0 && output.indexOf('\n', at) >= 0) {
        url = 'http://' + output.slice(at + LISTENING.length).split(/\s/, 1)[0];
        notifyListening();
      }
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);

  let timer;
  const timedOut = new Promise((resolve) => { timer = setTimeout(() => resolve({ timeout: true }), START_TIMEOUT_MS); });
  const outcome = await Promise.race([listening.then(() => ({ ok: true })), exited, spawnFailed, timedOut]);
  clearTimeout(timer);

  if (!outcome.ok) {
    if (!outcome.error && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    logFile.end();
    const why = outcome.error
      ? `cannot start ${BIN}: ${outcome.error.message}`
      : outcome.timeout
        ? `${BIN} did not print its listening line within ${START_TIMEOUT_MS / 1000} s`
        : `${BIN} exited early (code ${outcome.code}, signal ${outcome.signal})`;
    const message = `${why}\n--- last output lines (log: ${logPath}) ---\n${tail(output)}`;
    console.error(message);
    throw new Error(message);
  }

  const adminKey = (await readFile(path.join(dataDir, 'cli-key'), 'utf8')).trim();
  let stopped = null;
  return {
    url,
    dataDir,
    adminKey,
    signInLink,
    logPath,
    process: child,
    /** Everything the server printed so far. */
    log: () => output,
    /**
     * SIGTERM, wait for the exit (SIGKILL after 15 s), remove the data dir (kept when
     * `ATELIER_E2E_KEEP_DATA` is set). Idempotent.
     */
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          let killTimer;
          const late = new Promise((resolve) => { killTimer = setTimeout(() => resolve('late'), STOP_TIMEOUT_MS); });
          if ((await Promise.race([exited, late])) === 'late') {
            console.error(`atelier did not exit within ${STOP_TIMEOUT_MS / 1000} s of SIGTERM; killing it\n${tail(output)}`);
            child.kill('SIGKILL');
            await exited;
          }
          clearTimeout(killTimer);
        }
        await new Promise((resolve) => logFile.end(resolve));
        if (process.env.ATELIER_E2E_KEEP_DATA) console.log(`kept the server's data dir: ${dataDir}`);
        else await rm(dataDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/**
 * One API call with `Authorization: Bearer <key>` (the admin key by default).
 * Returns the parsed JSON answer (`null` for an empty body, the text for non-JSON);
 * throws with the method, path, status and body on a non-2xx answer.
 *
 * @param {{ url: string, adminKey: string }} server
 * @param {string} method
 * @param {string} apiPath e.g. `/api/v1/me`
 * @param {unknown} [body] sent as JSON when not undefined
 * @param {string} [key]
 */
export async function api(server, method, apiPath, body, key = server.adminKey) {
  const headers = { Accept: 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(server.url + apiPath, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await response.text();
  if (!response.ok) {
    const error = new Error(`${method} ${apiPath} answered ${response.status}: ${text}`);
    error.status = response.status;
    error.body = text;
    throw error;
  }
  if (text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Creates a user with the admin key (POST /api/v1/users); returns the user JSON
 * (`{ id, email, role, disabled, totp_enabled, created_at }`).
 *
 * @param {'admin' | 'member' | 'viewer'} [role]
 */
/** Polls a task until it ends (or `timeoutMs` passes) and returns it. */
export async function waitForTask(server, taskId, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const task = await api(server, 'GET', `/api/v1/tasks/${taskId}`);
    if (['completed', 'failed', 'cancelled', 'expired'].includes(task.status)) return task;
    if (Date.now() > deadline) throw new Error(`task ${taskId} is still ${task.status} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function createUser(server, email, password, role = 'member') {
  return api(server, 'POST', '/api/v1/users', { email, password, role });
}

/** The current TOTP code of a base32 secret, from `oathtool --totp -b` (6 digits). */
export async function totpCode(secret) {
  const { stdout } = await execFileAsync('oathtool', ['--totp', '-b', secret]);
  const code = stdout.trim();
  if (!/^\d{6}$/.test(code)) throw new Error(`oathtool printed ${JSON.stringify(stdout)} for a TOTP code`);
  return code;
}

/**
 * A TOTP code different from `usedCode`: the server refuses a code used once already,
 * so this waits (polling every 500 ms, at most 35 s) for the next 30 s step.
 */
export async function nextTotpCode(secret, usedCode) {
  const deadline = Date.now() + 35_000;
  for (;;) {
    const code = await totpCode(secret);
    if (code !== usedCode) return code;
    if (Date.now() >= deadline) throw new Error(`oathtool still gives the used code ${usedCode} after 35 s`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** A desktop window. */
export const DESKTOP = Object.freeze({ width: 1280, height: 860 });
/** A phone (an iPhone-12-sized touch screen at 2x). */
export const PHONE = Object.freeze({ width: 390, height: 844, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });

/**
 * Headless Chromium (`CHROMIUM`, default /usr/bin/chromium) with one context and one page.
 * Console errors and uncaught page errors are collected in `consoleErrors`.
 *
 * @param {{ viewport?: typeof DESKTOP | typeof PHONE, colorScheme?: 'light' | 'dark' | 'no-preference',
 *   contextOptions?: object }} [options]
 */
export async function launch({ viewport = DESKTOP, colorScheme, contextOptions = {} } = {}) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-dev-shm-usage'],
  });
  const { width, height, ...device } = viewport;
  const options = { viewport: { width, height }, ...device, ...contextOptions };
  if (colorScheme) options.colorScheme = colorScheme;
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const consoleErrors = [];
  page.on('console', (message) => {
    if (message.type() === 'error') {
      const where = message.location();
      consoleErrors.push(`console.error: ${message.text()}${where?.url ? ` (${where.url}:${where.lineNumber})` : ''}`);
    }
  });
  page.on('pageerror', (error) => consoleErrors.push(`page error: ${error.stack || error.message || error}`));
  // Every answer of 400 and above (`status METHOD path`), and every path asked.
  const failures = [];
  const requests = [];
  page.on('response', (response) => {
    if (response.status() >= 400) failures.push(`${response.status()} ${response.request().method()} ${new URL(response.url()).pathname}`);
  });
  page.on('request', (request) => requests.push(new URL(request.url()).pathname));
  page.setDefaultTimeout(15_000);
  return { browser, context, page, consoleErrors, failures, requests };
}

/** Where screenshots go: `ATELIER_E2E_SCREENSHOTS`, else `<repo>/e2e/screenshots`. */
export const SCREENSHOTS = path.resolve(REPO, process.env.ATELIER_E2E_SCREENSHOTS || 'e2e/screenshots');

/** A full-page screenshot at `<SCREENSHOTS>/<name>.png`; returns (and logs) its path. */
export async function screenshot(page, name) {
  await mkdir(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot: ${file}`);
  return file;
}

/** axe-core's source, read once (an independent accessibility checker). */
let axeSource = null;

/**
 * Runs axe-core (WCAG 2 A and AA rules) on the page as it is now, or on `selector`
 * within it, and returns the serious and critical violations as readable lines
 * (`rule: target …`). The source is evaluated through the DevTools protocol, so the
 * studio's Content-Security-Policy stays as strict as it is for users.
 */
export async function accessibilityViolations(page, selector) {
  if (!axeSource) axeSource = await readFile(path.join(REPO, 'e2e/node_modules/axe-core/axe.min.js'), 'utf8');
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(axeSource);
  const result = await page.evaluate(async (within) => {
    const outcome = await window.axe.run(within ? document.querySelector(within) : document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    });
    return outcome.violations
      .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
      .flatMap((violation) => violation.nodes.map((node) => `${violation.id}: ${node.target.join(' ')} (${node.failureSummary.split('\n').slice(0, 2).join(' ')})`));
  }, selector || null);
  return result;
}

/**
 * Starts an in-tree provider emulator (`atelier emulate openai|kie`) on a free port
 * with the API key `key` (and `args`, such as `['--upload-age-secs', '216000']`);
 * resolves with `{ child, url }` once it prints its address.
 */
export function startEmulator(kind, key, args = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, ['emulate', kind, '--listen', '127.0.0.1:0', '--api-key', key, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const timer = setTimeout(() => reject(new Error(`the ${kind} emulator did not start:\n${output}`)), START_TIMEOUT_MS);
    const onData = (chunk) => {
      output += chunk;
      // The whole address: a chunk may end in the middle of the port.
      const match = output.match(/listening on (http:\/\/127\.0\.0\.1:\d+)\s/);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1] });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`the ${kind} emulator exited (${code}):\n${output}`)));
  });
}

/* A PNG written by hand (8-bit RGB or RGBA, one IDAT, no filter): test pictures
 * without an image library. */
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type, data) {
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A `width`×`height` PNG of `pixel(x, y) → [r, g, b]`, or `[r, g, b, a]` with `alpha`. */
export function png(width, height, pixel, { alpha = false } = {}) {
  const channels = alpha ? 4 : 3;
  const raw = Buffer.alloc((width * channels + 1) * height);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) raw.set(pixel(x, y), y * (width * channels + 1) + 1 + x * channels);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, alpha ? 6 : 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', Buffer.alloc(0)),
  ]);
}
