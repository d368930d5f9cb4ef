#!/usr/bin/env node
// Makes examples/data/fashion-mnist-subset/ from the full Fashion-MNIST of the
// Debian package dataset-fashion-mnist: the first 2,000 training and the first
// 1,000 test images and labels, as gzip-compressed IDX files.
//
//   node examples/data/make-subset.mjs [sourceDir]   (default /usr/share/datasets/fashion-mnist)
//
// The source files are checked against the md5 of the decompressed Debian
// files before anything is written; the output is deterministic (gzip level 9,
// no file name, mtime 0).
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';

const SOURCE = process.argv[2] ?? '/usr/share/datasets/fashion-mnist';
const OUT = join(dirname(fileURLToPath(import.meta.url)), 'fashion-mnist-subset');

// md5 of the decompressed files of dataset-fashion-mnist 0.0~git20200523.55506a9-1.
const FILES = [
  { name: 'train-images-idx3-ubyte', md5: 'f4a8712d7a061bf5bd6d2ca38dc4d50a', keep: 2000 },
  { name: 'train-labels-idx1-ubyte', md5: '9018921c3c673c538a1fc5bad174d6f9', keep: 2000 },
  { name: 't10k-images-idx3-ubyte', md5: '8181f5470baa50b63fa0f6fddb340f0a', keep: 1000 },
  { name: 't10k-labels-idx1-ubyte', md5: '15d484375f8d13e6eb1aabb0c3f46965', keep: 1000 },
];

const md5 = (bytes) => createHash('md5').update(bytes).digest('hex');

/** The first `keep` records of an IDX file (dimension 0 rewritten), as raw bytes. */
function head(idx, keep, name) {
  if (idx[0] !== 0 || idx[1] !== 0 || idx[2] !== 0x08) throw new Error(`${name}: not a uint8 IDX file`);
  const ndim = idx[3];
  const view = new DataView(idx.buffer, idx.byteOffset, idx.byteLength);
  const dims = Array.from({ length: ndim }, (_, d) => view.getUint32(4 + 4 * d, false));
  const header = 4 + 4 * ndim;
  const record = dims.slice(1).reduce((a, b) => a * b, 1);
  if (idx.length !== header + dims[0] * record) throw new Error(`${name}: length does not match its dimensions`);
  if (keep > dims[0]) throw new Error(`${name}: has ${dims[0]} records, fewer than ${keep}`);
  const out = new Uint8Array(header + keep * record);
  out.set(idx.subarray(0, header));
  new DataView(out.buffer).setUint32(4, keep, false);
  out.set(idx.subarray(header, header + keep * record), header);
  return out;
}

mkdirSync(OUT, { recursive: true });
let total = 0;
for (const f of FILES) {
  const raw = gunzipSync(readFileSync(join(SOURCE, `${f.name}.gz`)));
  const got = md5(raw);
  if (got !== f.md5) throw new Error(`${f.name}.gz: decompressed md5 ${got}, expected ${f.md5}`);
  const sub = head(raw, f.keep, f.name);
  const gz = gzipSync(sub, { level: 9 });
  writeFileSync(join(OUT, `${f.name}.gz`), gz);
  total += gz.length;
  console.log(`${f.name}.gz  records 0..${f.keep - 1}  ${gz.length} bytes  md5(decompressed) ${md5(sub)}`);
}
console.log(`total ${total} bytes in ${OUT}`);
