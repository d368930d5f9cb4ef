import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/errors';
import type { HostTensor, HostTensors } from '../../src/io/hostTensor';
import {
  encodeSafetensors,
  parseSafetensors,
  readSafetensors,
  writeSafetensors,
} from '../../src/io/safetensors';

const FIXTURES = join(__dirname, '..', 'fixtures');
const load = (name: string) => new Uint8Array(readFileSync(join(FIXTURES, name)));

/** Builds a safetensors file from a header (object or raw text) and data bytes. */
function build(header: unknown, data: ArrayLike<number> = [], opts: { n?: number; pad?: boolean } = {}): Uint8Array {
  let text = typeof header === 'string' ? header : JSON.stringify(header);
  if (opts.pad !== false) while (text.length % 8 !== 0) text += ' ';
  const json = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(opts.n ?? json.length), true);
  out.set(json, 8);
  out.set(Array.from(data), 8 + json.length);
  return out;
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
/** Bit-exact equality of two typed arrays (fast; vitest's deep equality is slow on large arrays). */
const sameBits = (a: ArrayBufferView, b: ArrayBufferView) => Buffer.compare(bytesOf(a), bytesOf(b)) === 0;

function expectCheckpointError(fn: () => unknown, fragment: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected a CheckpointError containing ${JSON.stringify(fragment)}`).toBeInstanceOf(CheckpointError);
  const message = (caught as Error).message;
  expect(message).toContain(fragment);
  expect(message).not.toContain('\n');
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('parseSafetensors on the official fixtures', () => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.safetensors'));

  it('finds the fixture files', () => {
    expect(files.length).toBeGreaterThanOrEqual(8);
  });

  for (const file of files) {
    it(`reads ${file} with the dtypes and shapes its JSON lists`, () => {
      const { tensors, metadata } = parseSafetensors(load(file));
      expect(metadata.format).toBe('mae-fixtures-v1');
      const json = JSON.parse(readFileSync(join(FIXTURES, file.replace(/(\.hf)?\.safetensors$/, '.json')), 'utf8'));
      const listed: { name: string; dtype: string; shape: number[] }[] = file.includes('.hf.') ? json.hf_tensors : json.tensors;
      expect([...tensors.keys()].sort()).toEqual(listed.map((t) => t.name).sort());
      for (const t of listed) {
        const got = tensors.get(t.name)!;
        expect(got.shape).toEqual(t.shape);
        expect(got.sourceDtype).toBe(t.dtype);
        expect(got.dtype).toBe(t.dtype === 'I32' ? 'int32' : 'float32');
        expect(got.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
      }
    });
  }

  it('reads known values of mae_tiny (checked with numpy)', () => {
    const { tensors } = parseSafetensors(load('mae_tiny.safetensors'));
    expect(tensors.size).toBe(116);
    const loss = tensors.get('out.loss')!;
    expect(loss.shape).toEqual([]);
    expect(loss.data[0]).toBe(Math.fround(1.2724090814590454));
    expect(Array.from(tensors.get('param.cls_token')!.data.slice(0, 3))).toEqual(
      [0.00029368518153205514, 0.03300001472234726, -0.007329321466386318].map(Math.fround),
    );
    const idsKeep = tensors.get('out.ids_keep')!;
    expect(idsKeep.data).toBeInstanceOf(Int32Array);
    expect(Array.from(idsKeep.data)).toEqual([13, 14, 1, 3, 5, 10, 4, 9]);
  });

  it('casts F64 to float32 exactly as torch .float() does', () => {
    const { tensors } = parseSafetensors(load('pos_embed.safetensors'));
    for (const key of ['64x4', '48x6', '32x3']) {
      const f64 = tensors.get(`sincos_f64.${key}`)!;
      const f32 = tensors.get(`sincos.${key}`)!;
      expect(f64.sourceDtype).toBe('F64');
      expect(f64.dtype).toBe('float32');
      expect(sameBits(f64.data, f32.data)).toBe(true);
    }
  });

  it('keeps the header order of the tensors', () => {
    const { tensors } = parseSafetensors(load('mae_tiny.safetensors'));
    expect([...tensors.keys()].slice(0, 3)).toEqual(['param.cls_token', 'param.pos_embed', 'param.mask_token']);
  });
});

describe('parseSafetensors dtypes and alignment', () => {
  it('decodes F16 and BF16 bit patterns exactly', () => {
    const f16 = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0xfc00, 0x3555, 0x8000];
    const bf16 = [0x3f80, 0x4049, 0xc2f7, 0x0000];
    const data = new Uint8Array(2 * (f16.length + bf16.length));
    const view = new DataView(data.buffer);
    [...f16, ...bf16].forEach((b, i) => view.setUint16(2 * i, b, true));
    const file = build(
      {
        h: { dtype: 'F16', shape: [2, 4], data_offsets: [0, 16] },
        b: { dtype: 'BF16', shape: [4], data_offsets: [16, 24] },
      },
      data,
    );
    const { tensors } = parseSafetensors(file);
    expect(Array.from(tensors.get('h')!.data)).toEqual([1, -2, 65504, 2 ** -24, Infinity, -Infinity, 0.333251953125, -0]);
    expect(Array.from(tensors.get('b')!.data)).toEqual([1, 3.140625, -123.5, 0]);
    expect(tensors.get('h')!.sourceDtype).toBe('F16');
  });

  it('converts integer dtypes to int32 and refuses I64 values outside int32', () => {
    const data = new Uint8Array(8 * 3 + 2 * 2 + 2);
    const view = new DataView(data.buffer);
    view.setBigInt64(0, 5n, true);
    view.setBigInt64(8, -3n, true);
    view.setBigInt64(16, -(2n ** 31n), true);
    view.setInt16(24, -300, true);
    view.setInt16(26, 7, true);
    view.setInt8(28, -1);
    view.setUint8(29, 255);
    const header = {
      l: { dtype: 'I64', shape: [3], data_offsets: [0, 24] },
      s: { dtype: 'I16', shape: [2], data_offsets: [24, 28] },
      c: { dtype: 'I8', shape: [1], data_offsets: [28, 29] },
      u: { dtype: 'U8', shape: [1], data_offsets: [29, 30] },
    };
    const { tensors } = parseSafetensors(build(header, data));
    expect(Array.from(tensors.get('l')!.data)).toEqual([5, -3, -(2 ** 31)]);
    expect(Array.from(tensors.get('s')!.data)).toEqual([-300, 7]);
    expect(Array.from(tensors.get('c')!.data)).toEqual([-1]);
    expect(Array.from(tensors.get('u')!.data)).toEqual([255]);
    view.setBigInt64(8, 2n ** 31n, true);
    expectCheckpointError(() => parseSafetensors(build(header, data)), 'tensor "l": element 1 = 2147483648 (I64) does not fit in int32');
  });

  it('reads tensors at unaligned offsets (odd header length and odd data offsets)', () => {
    const values = new Float32Array([1.5, -2.25, 3e-8]);
    const doubles = new Float64Array([Math.PI, -1e-300]);
    const data = new Uint8Array(1 + 12 + 8 * 2 + 4);
    data.set(bytesOf(values), 1);
    data.set(bytesOf(doubles), 13);
    new DataView(data.buffer).setInt32(29, -123456789, true);
    const header = {
      f: { dtype: 'F32', shape: [3], data_offsets: [1, 13] },
      d: { dtype: 'F64', shape: [2], data_offsets: [13, 29] },
      i: { dtype: 'I32', shape: [], data_offsets: [29, 33] },
    };
    const file = build(JSON.stringify(header) + ' ', data, { pad: false });
    expect((file.length - data.length) % 4).not.toBe(0);
    const { tensors } = parseSafetensors(file);
    expect(Array.from(tensors.get('f')!.data)).toEqual(Array.from(values));
    expect(Array.from(tensors.get('d')!.data)).toEqual([Math.fround(Math.PI), -0]);
    expect(Array.from(tensors.get('i')!.data)).toEqual([-123456789]);
    // The input is also a view at an odd offset into a larger buffer.
    const shifted = new Uint8Array(file.length + 3);
    shifted.set(file, 3);
    expect(Array.from(parseSafetensors(shifted.subarray(3)).tensors.get('f')!.data)).toEqual(Array.from(values));
  });

  it('returns copies that do not alias the file bytes', () => {
    const file = load('mae_tiny.safetensors');
    const t = parseSafetensors(file).tensors.get('out.loss')!;
    file.fill(0);
    expect(t.data[0]).toBe(Math.fround(1.2724090814590454));
  });

  it('accepts an empty header, zero-size tensors and absent metadata', () => {
    expect(parseSafetensors(build({})).tensors.size).toBe(0);
    const { tensors, metadata } = parseSafetensors(build({ z: { dtype: 'F32', shape: [0, 3], data_offsets: [0, 0] } }));
    expect(tensors.get('z')!.shape).toEqual([0, 3]);
    expect(tensors.get('z')!.data.length).toBe(0);
    expect(metadata).toEqual({});
  });
});

describe('parseSafetensors refuses malformed input', () => {
  const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const eight = new Uint8Array(8);
  const tiny = load('mae_tiny.safetensors');
  const n = Number(new DataView(tiny.buffer, tiny.byteOffset).getBigUint64(0, true));

  const cases: [string, () => Uint8Array, string][] = [
    ['empty file', () => new Uint8Array(0), 'file is 0 bytes, expected at least 8'],
    ['truncated length prefix', () => new Uint8Array(5), 'file is 5 bytes'],
    ['truncated header', () => tiny.slice(0, 8 + 100), `header length ${n} bytes runs past the end of the 108-byte file`],
    ['truncated data', () => tiny.slice(0, 8 + n + 1000), 'outside the 1000-byte data section'],
    ['header length beyond file', () => build(ok, eight, { n: 4096 }), 'runs past the end'],
    ['header length above the cap', () => build(ok, eight, { n: 2 ** 40 }), 'exceeds the 104857600-byte cap'],
    ['header length above 2^53', () => build(ok, eight, { n: 2 ** 62 }), 'above 2^53'],
    ['invalid JSON', () => build('{"a": {', eight), 'is not valid JSON'],
    ['invalid UTF-8', () => new Uint8Array([3, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0xff, 0x7d]), 'header (3 bytes) is not valid UTF-8'],
    ['not an object (array)', () => build([1, 2], eight), 'must be a JSON object of tensor entries, got an array'],
    ['not an object (number)', () => build(42, eight), 'got 42'],
    ['not an object (null)', () => build(null, eight), 'got null'],
    ['entry not an object', () => build({ a: [1] }), 'tensor "a": entry must be an object'],
    ['unknown dtype', () => build({ a: { dtype: 'F8', shape: [2], data_offsets: [0, 2] } }, [0, 0]), 'tensor "a": unknown dtype "F8"'],
    ['missing dtype', () => build({ a: { shape: [2], data_offsets: [0, 8] } }, eight), 'unknown dtype undefined'],
    ['negative dim', () => build({ a: { dtype: 'F32', shape: [-1, 2], data_offsets: [0, 8] } }, eight), 'dimension -1 that is not a non-negative safe integer'],
    ['non-integer dim', () => build({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 8] } }, eight), 'dimension 1.5'],
    ['string dim', () => build({ a: { dtype: 'F32', shape: ['2'], data_offsets: [0, 8] } }, eight), 'dimension "2"'],
    ['unsafe dim', () => build({ a: { dtype: 'F32', shape: [2 ** 60], data_offsets: [0, 8] } }, eight), 'not a non-negative safe integer'],
    ['shape not an array', () => build({ a: { dtype: 'F32', shape: 2, data_offsets: [0, 8] } }, eight), 'shape must be an array'],
    ['overflowing shape', () => build({ a: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 8] } }, eight), 'needs more bytes than the 8-byte data section'],
    ['shape larger than file', () => build({ a: { dtype: 'F32', shape: [1000, 1000], data_offsets: [0, 8] } }, eight), 'needs more bytes than'],
    ['lying end offset', () => build({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 1e12] } }, eight), 'data_offsets [0, 1000000000000] outside the 8-byte data section'],
    ['begin after end', () => build({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, eight), 'data_offsets [8, 4] outside'],
    ['negative offset', () => build({ a: { dtype: 'F32', shape: [2], data_offsets: [-8, 0] } }, eight), 'data_offsets must be [begin, end]'],
    ['three offsets', () => build({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 4, 8] } }, eight), 'data_offsets must be [begin, end]'],
    ['size mismatch', () => build({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(12)), 'shape [3] of F32 needs 12 bytes, data_offsets [0, 8] hold 8'],
    ['overlapping tensors', () => build({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12)), 'tensor "b": bytes [4, 12) overlap tensor "a" at [0, 8)'],
    ['identical tensors', () => build({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, eight), 'overlap'],
    ['duplicate names', () => build('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', eight), 'duplicate tensor name "a"'],
    ['duplicate names (escaped)', () => build('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"\\u0061":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', eight), 'duplicate tensor name "a"'],
    ['duplicate key in an entry', () => build('{"a":{"dtype":"F32","shape":[2],"shape":[1],"data_offsets":[0,8]}}', eight), 'duplicate key "shape" in the header entry "a"'],
    ['metadata not an object', () => build({ __metadata__: 'x' }), '"__metadata__" must be an object of strings'],
    ['metadata value not a string', () => build({ __metadata__: { v: 1 } }), '"__metadata__" value of "v" must be a string, got 1'],
    ['name with a newline', () => build({ 'a\nb': { dtype: 'F8' } }), 'tensor "a\\nb": unknown dtype'],
    ['deeply nested shape', () => build(`{"a":{"dtype":"F32","shape":${'['.repeat(200000)}${']'.repeat(200000)},"data_offsets":[0,8]}}`, eight), 'has a dimension an array of 1 that is not'],
    ['huge name', () => build({ ['n'.repeat(1_000_000)]: { dtype: 'F8' } }), `tensor "${'n'.repeat(96)}...: unknown dtype "F8"`],
  ];

  for (const [label, make, fragment] of cases) {
    it(label, () => expectCheckpointError(() => parseSafetensors(make()), fragment));
  }

  it('refuses a non-Uint8Array argument', () => {
    expectCheckpointError(() => parseSafetensors(new ArrayBuffer(16) as unknown as Uint8Array), 'bytes must be a Uint8Array');
  });

  it('does not allocate for a lying header', () => {
    // 2^26 F32 elements claimed (256 MiB) in a 24-byte file: refused before any allocation.
    const before = process.memoryUsage().arrayBuffers;
    expectCheckpointError(
      () => parseSafetensors(build({ a: { dtype: 'F32', shape: [2 ** 26], data_offsets: [0, 2 ** 28] } }, eight)),
      'data_offsets [0, 268435456] outside the 8-byte data section',
    );
    expectCheckpointError(
      () => parseSafetensors(build({ a: { dtype: 'F32', shape: [2 ** 26], data_offsets: [0, 8] } }, eight)),
      'needs more bytes',
    );
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(2 ** 20);
  });
});

describe('writeSafetensors / encodeSafetensors', () => {
  it('round-trips every fixture bit-identically', () => {
    for (const file of ['mae_tiny.safetensors', 'mae_rect_gray.hf.safetensors', 'vit_cls_tiny.safetensors']) {
      const first = parseSafetensors(load(file));
      const encoded = encodeSafetensors(first.tensors, first.metadata);
      const second = parseSafetensors(encoded);
      expect(second.metadata).toEqual(first.metadata);
      expect([...second.tensors.keys()]).toEqual([...first.tensors.keys()]);
      for (const [name, t] of first.tensors) {
        const u = second.tensors.get(name)!;
        expect(u.shape).toEqual(t.shape);
        expect(u.dtype).toBe(t.dtype);
        expect(sameBits(u.data, t.data), name).toBe(true);
      }
      // Encoding is deterministic.
      expect(sameBits(encodeSafetensors(second.tensors, second.metadata), encoded)).toBe(true);
    }
  });

  it('writes the documented layout: header padded with spaces to 8, F32/I32, packed in order', () => {
    const host: HostTensors = new Map([
      ['b', { dtype: 'float32', shape: [2], data: new Float32Array([1, -0.5]), sourceDtype: 'F32' }],
      ['10', { dtype: 'int32', shape: [], data: new Int32Array([-7]), sourceDtype: 'I32' }],
      ['a', { dtype: 'float32', shape: [1, 0], data: new Float32Array(0), sourceDtype: 'F32' }],
    ]);
    const out = encodeSafetensors(host, { k: 'v' });
    const n = Number(new DataView(out.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const text = new TextDecoder().decode(out.subarray(8, 8 + n));
    expect(text.trimEnd()).toBe(
      '{"__metadata__":{"k":"v"},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
        '"10":{"dtype":"I32","shape":[],"data_offsets":[8,12]},"a":{"dtype":"F32","shape":[1,0],"data_offsets":[12,12]}}',
    );
    expect(text.slice(text.trimEnd().length)).toMatch(/^ *$/);
    expect(out.length).toBe(8 + n + 12);
    const back = parseSafetensors(out);
    expect([...back.tensors.keys()]).toEqual(['b', '10', 'a']);
    expect(Array.from(back.tensors.get('10')!.data)).toEqual([-7]);
  });

  it('writes tf tensors without leaking or disposing them, and reads them back', async () => {
    const x = tf.tensor2d([[1, 2, 3], [4, 5, 6.5]]);
    const ids = tf.tensor1d([3, -1], 'int32');
    const before = tf.memory().numTensors;
    const bytes = await writeSafetensors({ x, ids }, { format: 'test' });
    expect(tf.memory().numTensors).toBe(before);
    expect(x.isDisposed).toBe(false);
    const back = readSafetensors(bytes);
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(back.x.dtype).toBe('float32');
    expect(back.x.shape).toEqual([2, 3]);
    expect(Array.from(await back.x.data())).toEqual([1, 2, 3, 4, 5, 6.5]);
    expect(back.ids.dtype).toBe('int32');
    expect(Array.from(await back.ids.data())).toEqual([3, -1]);
    tf.dispose([x, ids, back.x, back.ids]);
  });

  it('readSafetensors creates no tensor when the file is malformed', () => {
    const before = tf.memory().numTensors;
    expectCheckpointError(() => readSafetensors(new Uint8Array(3)), 'file is 3 bytes');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses tensors it cannot write', async () => {
    const b = tf.tensor1d([1, 0], 'bool');
    const before = tf.memory().numTensors;
    await expect(writeSafetensors({ b })).rejects.toThrow(/tensor "b" has dtype "bool"; only float32 and int32/);
    expect(tf.memory().numTensors).toBe(before);
    b.dispose();
    const bad: HostTensor = { dtype: 'float32', shape: [3], data: new Float32Array(2), sourceDtype: 'F32' };
    expectCheckpointError(() => encodeSafetensors(new Map([['bad', bad]])), 'shape [3] does not match 2 values');
    expectCheckpointError(() => encodeSafetensors(new Map([['__metadata__', { ...bad, shape: [2] }]])), 'is reserved');
    expectCheckpointError(
      () => encodeSafetensors(new Map(), { v: 1 } as unknown as Record<string, string>),
      'metadata value of "v" must be a string',
    );
  });
});
