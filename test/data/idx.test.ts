import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DataError } from '../../src/errors';
import { parseIdx, readIdx } from '../../src/data/idx';

const SUBSET = fileURLToPath(new URL('../../examples/data/fashion-mnist-subset/', import.meta.url));
const file = (name: string) => new Uint8Array(readFileSync(SUBSET + name));
const md5 = (a: ArrayBufferView) => createHash('md5').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');

/** An IDX header: magic, type, ndim, big-endian dims. */
function header(type: number, dims: number[]): Uint8Array {
  const h = new Uint8Array(4 + 4 * dims.length);
  h[2] = type;
  h[3] = dims.length;
  const v = new DataView(h.buffer);
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  return h;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function expectDataError(f: () => unknown, pattern: RegExp): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(DataError);
  expect((err as Error).message).toMatch(pattern);
  expect((err as Error).message).not.toContain('\n');
}

async function expectDataErrorAsync(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DataError);
  expect((err as Error).message).toMatch(pattern);
}

// Reference values computed once with Python's gzip + numpy on the same files
// (md5 of the pixel bytes, sums, single pixels, label counts).
describe('readIdx on the embedded Fashion-MNIST subset', () => {
  it('reads the train images: shape, checksums, pixels', async () => {
    const a = await readIdx(file('train-images-idx3-ubyte.gz'));
    expect(a.dtype).toBe('uint8');
    expect(a.shape).toEqual([2000, 28, 28]);
    expect(a.data).toBeInstanceOf(Uint8Array);
    expect(a.data.length).toBe(2000 * 784);
    expect(md5(a.data)).toBe('1c0fca2e607a55713ccc35a87332a0e9');
    let sum = 0;
    for (const v of a.data) sum += v;
    expect(sum).toBe(113529887);
    let img0 = 0;
    for (let i = 0; i < 784; i++) img0 += a.data[i];
    expect(img0).toBe(76247);
    expect(a.data[14 * 28 + 14]).toBe(217); // image 0, row 14, col 14
    expect(a.data[784 + 10 * 28 + 5]).toBe(223); // image 1, row 10, col 5
    let weighted = 0;
    for (let i = 0; i < a.data.length; i++) weighted = (weighted + a.data[i] * ((i % 784) + 1)) % 1000003;
    expect(weighted).toBe(214032);
  });

  it('reads the train labels: range, first labels, class counts', async () => {
    const a = await readIdx(file('train-labels-idx1-ubyte.gz'));
    expect(a.dtype).toBe('uint8');
    expect(a.shape).toEqual([2000]);
    expect(md5(a.data)).toBe('7d8f306a170b3b0b304c72cc3825e505');
    expect(Array.from(a.data.subarray(0, 10))).toEqual([9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    const counts = new Array(10).fill(0);
    for (const v of a.data) counts[v]++;
    expect(counts).toEqual([194, 216, 202, 195, 186, 200, 194, 215, 198, 200]);
  });

  it('reads the test images and labels', async () => {
    const im = await readIdx(file('t10k-images-idx3-ubyte.gz'));
    expect(im.shape).toEqual([1000, 28, 28]);
    expect(md5(im.data)).toBe('e4935cb282bc5d816ad692c741fcb55b');
    let img0 = 0;
    for (let i = 0; i < 784; i++) img0 += im.data[i];
    expect(img0).toBe(33456);
    expect(im.data[14 * 28 + 14]).toBe(110);
    const lb = await readIdx(file('t10k-labels-idx1-ubyte.gz'));
    expect(lb.shape).toEqual([1000]);
    expect(md5(lb.data)).toBe('d348470f447410c02be7500b37724407');
    expect(Array.from(lb.data.subarray(0, 10))).toEqual([9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    expect(Math.max(...lb.data)).toBe(9);
    expect(Math.min(...lb.data)).toBe(0);
  });

  it('gives the same array for raw and gzip bytes', async () => {
    const raw = concat(header(0x08, [3, 2]), Uint8Array.from([0, 1, 2, 253, 254, 255]));
    const a = await readIdx(raw);
    const b = await readIdx(new Uint8Array(gzipSync(raw)));
    expect(a).toEqual({ dtype: 'uint8', shape: [3, 2], data: Uint8Array.from([0, 1, 2, 253, 254, 255]) });
    expect(b.shape).toEqual([3, 2]);
    expect(Array.from(b.data)).toEqual(Array.from(a.data));
  });
});

describe('parseIdx: every dtype, big-endian', () => {
  it('decodes int8, int16, int32, float32, float64', () => {
    const cases: { type: number; size: number; write: (v: DataView, o: number, x: number) => void; values: number[]; dtype: string }[] = [
      { type: 0x09, size: 1, write: (v, o, x) => v.setInt8(o, x), values: [-128, -1, 0, 127], dtype: 'int8' },
      { type: 0x0b, size: 2, write: (v, o, x) => v.setInt16(o, x, false), values: [-32768, -2, 258, 32767], dtype: 'int16' },
      { type: 0x0c, size: 4, write: (v, o, x) => v.setInt32(o, x, false), values: [-2147483648, -3, 16909060, 2147483647], dtype: 'int32' },
      { type: 0x0d, size: 4, write: (v, o, x) => v.setFloat32(o, x, false), values: [-1.5, 0, 3.25, 2 ** 100], dtype: 'float32' },
      { type: 0x0e, size: 8, write: (v, o, x) => v.setFloat64(o, x, false), values: [-0.1, Math.PI, 1e-300, -2e300], dtype: 'float64' },
    ];
    for (const c of cases) {
      const body = new Uint8Array(c.values.length * c.size);
      const v = new DataView(body.buffer);
      c.values.forEach((x, i) => c.write(v, i * c.size, x));
      const a = parseIdx(concat(header(c.type, [2, 2]), body));
      expect(a.dtype).toBe(c.dtype);
      expect(a.shape).toEqual([2, 2]);
      expect(Array.from(a.data)).toEqual(c.values);
    }
  });

  it('reads a zero-length dimension and a view at a byte offset', () => {
    expect(parseIdx(header(0x08, [0, 28, 28])).data.length).toBe(0);
    const raw = concat(Uint8Array.from([7, 7, 7]), header(0x0b, [1]), Uint8Array.from([0x01, 0x02]));
    const a = parseIdx(raw.subarray(3));
    expect(Array.from(a.data)).toEqual([258]);
  });
});

describe('parseIdx / readIdx refuse malformed input with DataError', () => {
  const good = concat(header(0x08, [2, 2]), Uint8Array.from([1, 2, 3, 4]));

  it('refuses bad magic, type, ndim and short headers', () => {
    expectDataError(() => parseIdx(new Uint8Array(3)), /bytes: expected an IDX file of at least 4 bytes, got 3/);
    expectDataError(() => parseIdx(Uint8Array.from([1, 0, 8, 1, 0, 0, 0, 0])), /magic 0x00 0x00 .*got 0x01 0x00/);
    expectDataError(() => parseIdx(Uint8Array.from([0x1f, 0x8b, 8, 0])), /gzip stream: use readIdx/);
    expectDataError(() => parseIdx(Uint8Array.from([0, 0, 0x0a, 1, 0, 0, 0, 0])), /type code .* got 0x0a/);
    expectDataError(() => parseIdx(Uint8Array.from([0, 0, 8, 0])), /1 to 16 IDX dimensions .* got 0/);
    expectDataError(() => parseIdx(Uint8Array.from([0, 0, 8, 200])), /got 200/);
    expectDataError(() => parseIdx(Uint8Array.from([0, 0, 8, 2, 0, 0, 0, 1])), /header of 12 bytes .* got a file of 8 bytes/);
    expectDataError(() => parseIdx([0, 0, 8, 1] as unknown as Uint8Array), /expected a Uint8Array/);
  });

  it('refuses missing and trailing bytes (no silent truncation)', () => {
    expectDataError(() => parseIdx(good.subarray(0, good.length - 1)), /expected 16 bytes .*shape \[2, 2\], got 15/);
    expectDataError(() => parseIdx(concat(good, Uint8Array.from([0]))), /expected 16 bytes .* got 17/);
    expectDataError(() => parseIdx(concat(header(0x0c, [3]), new Uint8Array(11))), /expected 20 bytes for an IDX int32 array of shape \[3\], got 19/);
  });

  it('refuses huge dimensions before allocating', () => {
    const huge = header(0x08, [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff]);
    expectDataError(() => parseIdx(huge), /at most 1073741824 bytes \(maxBytes\)/);
    expectDataError(() => parseIdx(header(0x0e, [60000, 784])), /expected 376320012 bytes for an IDX float64 array of shape \[60000, 784\], got 12/);
    expectDataError(() => parseIdx(good, { maxBytes: 3 }), /at most 3 bytes \(maxBytes\), got dimensions starting \[2, 2\] of uint8/);
    expect(parseIdx(good, { maxBytes: 4 }).shape).toEqual([2, 2]);
    expectDataError(() => parseIdx(good, { maxBytes: -1 }), /maxBytes: expected a non-negative safe integer, got -1/);
  });

  it('refuses corrupt, truncated and oversized gzip streams', async () => {
    const gz = new Uint8Array(gzipSync(concat(header(0x08, [1000]), new Uint8Array(1000).map((_, i) => i * 7))));
    const truncated = gz.subarray(0, gz.length >> 1);
    await expectDataErrorAsync(readIdx(truncated), /bytes: expected a valid gzip stream, got a corrupt or truncated one/);
    const corrupt = gz.slice();
    for (let i = 12; i < corrupt.length - 8; i++) corrupt[i] ^= 0x5a;
    await expectDataErrorAsync(readIdx(corrupt), /corrupt or truncated/);
    // A small stream that expands past the cap: stopped during decompression.
    const bomb = new Uint8Array(gzipSync(concat(header(0x08, [8 << 20]), new Uint8Array(8 << 20))));
    expect(bomb.length).toBeLessThan(20000);
    await expectDataErrorAsync(readIdx(bomb, { maxBytes: 1 << 20 }), /decompresses to at most 1048644 bytes \(maxBytes\)/);
    // A valid gzip of a malformed IDX file.
    await expectDataErrorAsync(readIdx(new Uint8Array(gzipSync(good.subarray(0, 15)))), /expected 16 bytes .* got 15/);
  });
});
