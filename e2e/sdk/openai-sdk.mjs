// The official OpenAI Node SDK, unchanged, against Atelier's /v1 (scripts/sdk-tests
// starts the server and sets ATELIER_URL and ATELIER_KEY). Not a *.test.mjs file, so
// the studio's end-to-end run (scripts/e2e) leaves it to scripts/sdk-tests.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI, { toFile } from 'openai';

const URL_BASE = process.env.ATELIER_URL;
const KEY = process.env.ATELIER_KEY;
const client = (options = {}) => new OpenAI({ baseURL: `${URL_BASE}/v1`, apiKey: KEY, ...options });

// A 2×1 PNG (red, blue), made by hand so the test needs no image library.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAIAAAB7QOjdAAAADUlEQVR4nGP4zwAE/wEHAAH/4iOeWQAAAABJRU5ErkJggg==',
  'base64',
);

function pngSize(bytes) {
  assert.equal(bytes.subarray(1, 4).toString(), 'PNG');
  return [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
}

test('images generate in base64 from a local model', async () => {
  const answer = await client().images.generate({
    model: 'local/placeholder', prompt: 'a green frog', n: 1, size: '320x200', response_format: 'b64_json',
  });
  assert.deepEqual(pngSize(Buffer.from(answer.data[0].b64_json, 'base64')), [320, 200]);
});

test('an edit uploads its image through toFile and reaches OpenAI through Atelier', async () => {
  const answer = await client().images.edit({
    model: 'openai/gpt-image-1',
    image: await toFile(PNG, 'tiny.png', { type: 'image/png' }),
    prompt: 'make it bigger',
    size: '1024x1024',
  });
  assert.deepEqual(pngSize(Buffer.from(answer.data[0].b64_json, 'base64')), [1024, 1024]);
});

test('speech comes back as a WAV file', async () => {
  const response = await client().audio.speech.create({
    model: 'local/speech', voice: 'alloy', input: 'Hello from Node.', response_format: 'wav',
  });
  const bytes = Buffer.from(await response.arrayBuffer());
  assert.equal(bytes.subarray(0, 4).toString(), 'RIFF');
  assert.ok(bytes.length > 20_000, `${bytes.length} bytes`);
});

test('a video is created, polled and downloaded', async () => {
  const sdk = client();
  let video = await sdk.videos.create({ model: 'openai/sora-2', prompt: 'rain', seconds: '4' });
  const deadline = Date.now() + 30_000;
  while (video.status === 'queued' || video.status === 'in_progress') {
    assert.ok(Date.now() < deadline, `still ${video.status}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    video = await sdk.videos.retrieve(video.id);
  }
  assert.equal(video.status, 'completed');
  assert.equal(video.progress, 100);
  const content = Buffer.from(await (await sdk.videos.downloadContent(video.id)).arrayBuffer());
  assert.equal(content.subarray(4, 8).toString(), 'ftyp');
});

const schema = {
  type: 'object',
  properties: { name: { type: 'string' }, colours: { type: 'array', items: { type: 'string' } } },
  required: ['name', 'colours'],
  additionalProperties: false,
};
const messages = [{ role: 'user', content: 'Name a bird and its colours.' }];
const responseFormat = { type: 'json_schema', json_schema: { name: 'bird', schema, strict: true } };

test('chat answers in the JSON schema, whole and streamed', async () => {
  const answer = await client().chat.completions.create({
    model: 'openai/gpt-4o-mini', messages, response_format: responseFormat,
  });
  const bird = JSON.parse(answer.choices[0].message.content);
  assert.equal(typeof bird.name, 'string');
  assert.ok(Array.isArray(bird.colours));

  const stream = await client().chat.completions.create({
    model: 'openai/gpt-4o-mini', messages, response_format: responseFormat, stream: true,
  });
  let text = '';
  let finish = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(finish, 'stop');
  assert.deepEqual(Object.keys(JSON.parse(text)).sort(), ['colours', 'name']);
});

test('errors are the SDK\'s own classes', async () => {
  await assert.rejects(
    client().images.generate({ model: 'local/placeholder', prompt: 'x', size: 'huge' }),
    (error) => error instanceof OpenAI.BadRequestError && error.param === 'size',
  );
  await assert.rejects(
    client({ apiKey: 'atl_wrong' }).models.list(),
    (error) => error instanceof OpenAI.AuthenticationError,
  );
  await assert.rejects(
    client().chat.completions.create({ model: 'local/nothing', messages }),
    (error) => error instanceof OpenAI.NotFoundError && error.code === 'model_not_found',
  );
});
