/**
 * Weights read by ranges (openWeights over bytes, Blob and URL sources) give
 * exactly what the in-memory readers give, refuse what they refuse (mutated
 * files, property-tested), and read no tensor data for the index.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/errors';
import { type ByteSource, blobSource, bytesSource, urlSource } from '../../src/io/byteSource';
import type { HostTensors } from '../../src/io/hostTensor';
import { renameFromHF, renameToHF } from '../../src/io/naming';
import { parseWeights } from '../../src/io/releases';
import { HOST_ROWS } from '../../src/io/hostTensor';
import { encodeSafetensors } from '../../src/io/safetensors';
import { LAZY_ROWS, type WeightsIndex, openWeights } from '../../src/io/weightsIndex';

const FIXTURES = join(__dirname, '..', 'fixtures');
const load = (...path: string[]) => new Uint8Array(readFileSync(join(FIXTURES, ...path)));
const RUNS = Number(process.env.FUZZ_RUNS ?? 400);

const files = [
  ...readdirSync(FIXTURES).filter((f) => /\.(pth|safetensors)$/.test(f)),
  ...readdirSync(join(FIXTURES, 'torch')).filter((f) => f.endsWith('.pth')).map((f) => join('torch', f)),
];

/** A source that records every range read. */
function counting(bytes: Uint8Array): { source: ByteSource; reads: Array<[number, number]> } {
  const inner = bytesSource(bytes, 'test.bin');
  const reads: Array<[number, number]> = [];
  return { source: { ...inner, read: (o, n) => (reads.push([o, n]), inner.read(o, n)) }, reads };
}

async function readAll(index: WeightsIndex): Promise<HostTensors> {
  const out: HostTensors = new Map();
  for (const name of index.tensors.keys()) out.set(name, await index.read(name));
  return out;
}

function expectSame(a: HostTensors, b: HostTensors): void {
  expect([...b.keys()]).toEqual([...a.keys()]);
  for (const [name, t] of a) {
    const u = b.get(name)!;
    expect({ name, shape: u.shape, dtype: u.dtype, sourceDtype: u.sourceDtype }).toEqual({ name, shape: t.shape, dtype: t.dtype, sourceDtype: t.sourceDtype });
    expect(sameBytes(u.data, t.data), name).toBe(true);
  }
}

/** Byte equality of two typed arrays (vitest's deep equality is slow on big arrays). */
function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return a.constructor === b.constructor && Buffer.compare(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), new Uint8Array(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

/** Parsed in memory, or the CheckpointError's message. */
function inMemory(bytes: Uint8Array): ReturnType<typeof parseWeights> | CheckpointError {
  try {
    return parseWeights(bytes);
  } catch (e) {
    if (e instanceof CheckpointError) return e;
    throw e;
  }
}

async function byRanges(source: ByteSource): Promise<HostTensors | CheckpointError> {
  try {
    return await readAll(await openWeights(source));
  } catch (e) {
    if (e instanceof CheckpointError) return e;
    throw e;
  }
}

describe('openWeights', () => {
  for (const file of files) {
    it(`reads ${file} as parseWeights does (bytes and Blob sources)`, async () => {
      const bytes = load(file);
      const expected = inMemory(bytes);
      if (expected instanceof CheckpointError) {
        // A hostile fixture: refused by ranges with the same message, naming the file.
        for (const source of [bytesSource(bytes, file), blobSource(new Blob([bytes]), file)]) {
          const got = await byRanges(source);
          expect(got).toBeInstanceOf(CheckpointError);
          expect((got as Error).message).toBe(`${file}: ${expected.message}`);
        }
        return;
      }
      for (const source of [bytesSource(bytes, file), blobSource(new Blob([bytes]), file)]) {
        const index = await openWeights(source);
        expect(index.format).toBe(expected.format);
        expect(index.warnings).toEqual(expected.warnings);
        expect(index.wrapper).toBe(expected.wrapper);
        expectSame(expected.tensors, await readAll(index));
      }
    });
  }

  it('builds the index from the header only (no tensor data read)', async () => {
    const bytes = load('mae_tiny.safetensors');
    const { source, reads } = counting(bytes);
    const index = await openWeights(source);
    const read = reads.reduce((n, [, len]) => n + len, 0);
    const headerEnd = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(read).toBeLessThanOrEqual(headerEnd + 9);
    expect(Math.max(...reads.map(([o, n]) => o + n))).toBe(headerEnd);
    expect([...index.tensors.values()][0]).toMatchObject({ sourceDtype: 'F32', dtype: 'float32' });
  });

  it('reads the .pth index from the tail, the directory, local headers and the pickle only', async () => {
    const bytes = load('mae_tiny.pth');
    const { source, reads } = counting(bytes);
    const index = await openWeights(source);
    const read = reads.reduce((n, [, len]) => n + len, 0);
    expect(index.tensors.size).toBeGreaterThan(10);
    expect(read).toBeLessThan(bytes.length / 4);
  });

  it('gives aligned float32 data as a view of the bytes read (no second copy)', async () => {
    const index = await openWeights(bytesSource(load('mae_tiny.safetensors')));
    const name = [...index.tensors.keys()][0];
    const t = await index.read(name);
    expect(t.data.byteLength).toBe(t.data.buffer.byteLength === t.data.byteLength ? t.data.buffer.byteLength : t.data.byteLength);
    const pth = await openWeights(bytesSource(load('mae_tiny.pth')));
    const w = await pth.read('blocks.0.attn.qkv.weight');
    // A view into the source's bytes: its buffer is the whole file, not a fresh copy of the tensor.
    expect(w.data.buffer.byteLength).toBeGreaterThan(w.data.byteLength);
  });

  it('names the file and the tensor in errors', async () => {
    const bytes = load('mae_tiny.pth');
    const name = 'blocks.0.attn.qkv.weight';
    const index = await openWeights(bytesSource(bytes, 'mae_tiny.pth'));
    await expect(index.read('nope')).rejects.toThrow('mae_tiny.pth: no tensor "nope" in the file');
    // Corrupt one byte of a storage: the index opens (no data read), the read fails its CRC check.
    const corrupt = bytes.slice();
    const probe = await openWeights(bytesSource(corrupt, 'x.pth'));
    const before = (await probe.read(name)).data as Float32Array;
    const at = (before.byteOffset as number) + 1;
    corrupt[at] ^= 0xff;
    const again = await openWeights(bytesSource(corrupt, 'x.pth'));
    await expect(again.read(name)).rejects.toThrow(/^x\.pth: zip: entry .* is corrupt \(CRC-32/);
    await expect(openWeights(bytesSource(new Uint8Array(5), 'tiny.bin'))).rejects.toThrow('tiny.bin: neither a PyTorch zip checkpoint');
    await expect(openWeights(bytesSource(bytes.subarray(0, 5000), 'cut.pth'))).rejects.toThrow(/^cut\.pth: zip: no end-of-central-directory/);
  });

  it('renames lazily: HF q/k/v merged on load equal the official fused tensors', async () => {
    const hf = await openWeights(bytesSource(load('mae_tiny.hf.safetensors')));
    const official = parseWeights(load('mae_tiny.pth')).tensors;
    const merged = renameFromHF(hf.lazy(), LAZY_ROWS);
    const names = merged.map(([n]) => n);
    expect(new Set(names)).toEqual(new Set(official.keys()));
    for (const [name, lazy] of merged) {
      const t = await lazy.load();
      expect(lazy.shape, name).toEqual(t.shape);
      expect(sameBytes(t.data, official.get(name)!.data), name).toBe(true);
    }
    const split = renameToHF(merged, LAZY_ROWS);
    const expectedHF = renameToHF([...official], HOST_ROWS);
    for (let i = 0; i < split.length; i++) {
      expect(split[i][0]).toBe(expectedHF[i][0]);
      expect(sameBytes((await split[i][1].load()).data, expectedHF[i][1].data)).toBe(true);
    }
  });

  const mutation = (length: number) =>
    fc.record({ at: fc.nat({ max: Math.max(0, length - 1) }), kind: fc.constantFrom('flip', 'set', 'truncate'), value: fc.nat({ max: 255 }) });
  const small = encodeSafetensors(
    new Map([
      ['a', { dtype: 'float32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]), sourceDtype: 'F32' }],
      ['b', { dtype: 'int32', shape: [], data: new Int32Array([7]), sourceDtype: 'I32' }],
    ]),
    { config: '{}' },
  );
  const cases: Array<[string, Uint8Array]> = [
    ['dtypes.pth', load('torch', 'dtypes.pth')],
    ['training.pth', load('torch', 'training.pth')],
    ['a small safetensors', small],
  ];
  for (const [file, original] of cases) {
    it(`refuses what the in-memory reader refuses: mutated ${file} (property)`, async () => {
      // Mutations near the start (headers) and the end (zip directory) matter most.
      const hot = (n: number) => fc.oneof(fc.nat({ max: Math.min(n - 1, 600) }), fc.integer({ min: Math.max(0, n - 2500), max: n - 1 }), fc.nat({ max: n - 1 }));
      await fc.assert(
        fc.asyncProperty(fc.array(fc.record({ at: hot(original.length), m: mutation(original.length) }), { minLength: 1, maxLength: 3 }), async (ms) => {
          let bytes = original.slice();
          for (const { at, m } of ms) {
            if (m.kind === 'truncate') bytes = bytes.slice(0, Math.min(at, bytes.length));
            else if (at < bytes.length) bytes[at] = m.kind === 'flip' ? bytes[at] ^ (1 << m.value % 8) : m.value;
          }
          const a = inMemory(bytes);
          const b = await byRanges(bytesSource(bytes, 'm'));
          if (a instanceof CheckpointError || b instanceof CheckpointError) {
            expect(b instanceof CheckpointError, `in memory: ${a instanceof Error ? a.message : 'ok'}; by ranges: ${b instanceof Error ? b.message : 'ok'}`).toBe(a instanceof CheckpointError);
            expect((b as Error).message.startsWith('m: ')).toBe(true);
          } else expectSame(a.tensors, b);
        }),
        { numRuns: RUNS },
      );
    });
  }
});

describe('urlSource', () => {
  const bytes = load('mae_tiny.pth');
  /** A fetch over `bytes`, with or without Range support. */
  function fakeFetch(ranges: boolean, log: string[] = []): typeof fetch {
    return (async (_url: string, init?: RequestInit) => {
      const range = (init?.headers as Record<string, string> | undefined)?.Range;
      log.push(range ?? 'whole');
      const m = ranges && range ? /^bytes=(\d+)-(\d+)$/.exec(range) : null;
      if (!m) return new Response(new Blob([bytes]).stream(), { status: 200, headers: { 'content-length': String(bytes.length) } });
      const [a, b] = [Number(m[1]), Math.min(Number(m[2]), bytes.length - 1)];
      return new Response(bytes.slice(a, b + 1), { status: 206, headers: { 'content-range': `bytes ${a}-${b}/${bytes.length}` } });
    }) as typeof fetch;
  }

  it('reads by Range requests when the server accepts them', async () => {
    const log: string[] = [];
    const source = await urlSource('http://127.0.0.1/x.pth', { fetch: fakeFetch(true, log) });
    expect(source.size).toBe(bytes.length);
    expectSame(parseWeights(bytes).tensors, await readAll(await openWeights(source)));
    expect(log.every((r) => r.startsWith('bytes='))).toBe(true);
  });

  it('streams the whole body with progress when it does not', async () => {
    const progress: number[] = [];
    const source = await urlSource('http://127.0.0.1/x.pth', { fetch: fakeFetch(false), onProgress: (n, total) => (progress.push(n), expect(total).toBe(bytes.length)) });
    expect(progress.at(-1)).toBe(bytes.length);
    expectSame(parseWeights(bytes).tensors, await readAll(await openWeights(source)));
  });

  it('names the URL when the request fails', async () => {
    const notFound = (async () => new Response('no', { status: 404, statusText: 'Not Found' })) as unknown as typeof fetch;
    await expect(urlSource('http://127.0.0.1/missing.pth', { fetch: notFound })).rejects.toThrow('http://127.0.0.1/missing.pth: HTTP 404 Not Found');
    const source = bytesSource(bytes, 'b');
    await expect(source.read(bytes.length - 2, 4)).rejects.toThrow(`b: cannot read 4 bytes at byte ${bytes.length - 2} of a ${bytes.length}-byte file`);
  });

  it('retries a request whose connection dropped (twice), then names the URL and the error', async () => {
    const log: string[] = [];
    const ok = fakeFetch(true, log);
    let drops = 2;
    const flaky = (async (url: string, init?: RequestInit) => {
      if (drops-- > 0) throw new TypeError('fetch failed');
      return ok(url, init);
    }) as typeof fetch;
    const source = await urlSource('http://127.0.0.1/x.pth', { fetch: flaky });
    expectSame(parseWeights(bytes).tensors, await readAll(await openWeights(source)));
    const down = (async () => {
      throw new TypeError('fetch failed');
    }) as unknown as typeof fetch;
    await expect(urlSource('http://127.0.0.1/x.pth', { fetch: down })).rejects.toThrow('http://127.0.0.1/x.pth: request failed 3 times (fetch failed)');
  });
});
