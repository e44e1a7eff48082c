// The Khronos glTF validator (npm `gltf-validator`) on one file, for tests in any
// language: `node e2e/gltf-validate.mjs FILE.glb` prints the report's counts as JSON
// (errors, warnings, infos, triangles, vertices, the first messages) and exits 1
// when the file has errors.

import { readFile } from 'node:fs/promises';

import validator from 'gltf-validator';

const file = process.argv[2];
if (!file) {
  console.error('usage: node e2e/gltf-validate.mjs FILE.glb');
  process.exit(2);
}
const report = await validator.validateBytes(new Uint8Array(await readFile(file)));
const { issues, info } = report;
console.log(JSON.stringify({
  errors: issues.numErrors,
  warnings: issues.numWarnings,
  infos: issues.numInfos,
  triangles: info?.totalTriangleCount ?? null,
  vertices: info?.totalVertexCount ?? null,
  messages: issues.messages.slice(0, 20).map((message) => `${message.code} ${message.pointer ?? ''}: ${message.message}`),
}));
process.exit(issues.numErrors > 0 ? 1 : 0);
