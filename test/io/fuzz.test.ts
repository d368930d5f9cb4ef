/**
 * Property tests for the weight-file readers: mutated files (flipped bytes,
 * truncations, rewritten header numbers, mutated pickles) must give either a
 * consistent parse or a CheckpointError, never another exception, a hang or
 * an inconsistent tensor.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/errors';
import type { HostTensors } from '../../src/io/hostTensor';
import { encodeSafetensors, parseSafetensors } from '../../src/io/safetensors';
import { parseTorchCheckpoint } from '../../src/io/torch/checkpoint';
import { openZip } from '../../src/io/torch/zip';
import { makeZip } from './torchBuilders';

const FIXTURES = join(__dirname, '..', 'fixtures');
const load = (...path: string[]) => new Uint8Array(readFileSync(join(FIXTURES, ...path)));
const RUNS = Number(process.env.FUZZ_RUNS ?? 1000);

/** Every tensor is internally consistent: safe non-negative dims, data length = prod(shape), matching array type. */
function checkConsistent(tensors: HostTensors): void {
  for (const [name, t] of tensors) {
    expect(t.shape.every((d) => Number.isSafeInteger(d) && d >= 0), name).toBe(true);
    expect(t.data.length, name).toBe(t.shape.reduce((a, b) => a * b, 1));
    expect(t.data instanceof Float32Array ? 'float32' : 'int32', name).toBe(t.dtype);
  }
}

/** Runs a reader: a CheckpointError is fine, any other exception fails the property. */
function parsesOrRefuses(read: () => HostTensors): void {
  let tensors: HostTensors;
  try {
    tensors = read();
  } catch (e) {
    if (e instanceof CheckpointError) {
      expect(e.message).not.toContain('\n');
      return;
    }
    throw e;
  }
  checkConsistent(tensors);
}

/** A small safetensors file: F32, I32 and (hand-patched) F16/I64 entries. */
function smallSafetensors(): Uint8Array {
  const { tensors } = parseSafetensors(load('mae_tiny.safetensors'));
  const host: HostTensors = new Map();
  for (const name of ['param.cls_token', 'param.norm.bias', 'out.ids_keep', 'out.loss', 'out.mask']) host.set(name, tensors.get(name)!);
  return encodeSafetensors(host, { format: 'fuzz' });
}

const mutation = (length: number) =>
  fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(length - 1), xor: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(length) }),
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(length - 1), value: fc.integer({ min: 0, max: 255 }) }),
  );

type Mutation = { kind: 'flip'; at: number; xor: number } | { kind: 'truncate'; at: number } | { kind: 'set'; at: number; value: number };

function mutate(bytes: Uint8Array, mutations: Mutation[]): Uint8Array {
  let out = bytes.slice();
  for (const m of mutations) {
    if (m.kind === 'truncate') out = out.slice(0, Math.min(m.at, out.length));
    else if (m.at < out.length) out[m.at] = m.kind === 'flip' ? out[m.at] ^ m.xor : m.value;
  }
  return out;
}

describe('safetensors fuzz', () => {
  const file = smallSafetensors();
  const n = Number(new DataView(file.buffer).getBigUint64(0, true));
  const header = new TextDecoder().decode(file.subarray(8, 8 + n));
  const data = file.subarray(8 + n);

  it('flipped, overwritten and truncated bytes (mostly in the header)', () => {
    const headerMutation = fc.array(mutation(8 + n), { minLength: 1, maxLength: 4 });
    const anyMutation = fc.array(mutation(file.length), { minLength: 1, maxLength: 4 });
    fc.assert(
      fc.property(fc.oneof(headerMutation, anyMutation), (ms) => parsesOrRefuses(() => parseSafetensors(mutate(file, ms)).tensors)),
      { numRuns: RUNS },
    );
  });

  it('rewritten header numbers (shapes, offsets) and header length', () => {
    const numbers = [...header.matchAll(/-?\d+/g)].map((m) => ({ at: m.index!, text: m[0] }));
    const replacement = fc.oneof(
      fc.constantFrom('-1', '0', '1', '2147483648', '4294967296', '9007199254740993', '1e308', '1.5', '"3"', 'null', '[]'),
      fc.integer({ min: 0, max: 4096 }).map(String),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(numbers.length - 1), replacement), { minLength: 1, maxLength: 3 }), fc.option(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })), (edits, length) => {
        let text = header;
        // Apply from the last position so earlier indices stay valid.
        const unique = [...new Map(edits.map(([i, r]) => [i, r])).entries()].sort((a, b) => b[0] - a[0]);
        for (const [i, r] of unique) text = text.slice(0, numbers[i].at) + r + text.slice(numbers[i].at + numbers[i].text.length);
        const json = new TextEncoder().encode(text);
        const out = new Uint8Array(8 + json.length + data.length);
        new DataView(out.buffer).setBigUint64(0, length ?? BigInt(json.length), true);
        out.set(json, 8);
        out.set(data, 8 + json.length);
        parsesOrRefuses(() => parseSafetensors(out).tensors);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('torch checkpoint fuzz', () => {
  const original = load('torch', 'dtypes.pth');
  const zip = openZip(original);
  const entries: [string, Uint8Array][] = [...zip.entries.keys()].map((name) => [name, zip.read(name).slice()]);
  const pickleIndex = entries.findIndex(([name]) => name.endsWith('/data.pkl'));
  const pickle = entries[pickleIndex][1];

  it('the unmutated rebuilt archive parses', () => {
    expect(parseTorchCheckpoint(makeZip(entries)).tensors.size).toBe(14);
  });

  it('mutated pickles (re-zipped with valid CRCs)', () => {
    fc.assert(
      fc.property(fc.array(mutation(pickle.length), { minLength: 1, maxLength: 4 }), (ms) => {
        const files = entries.slice();
        files[pickleIndex] = [files[pickleIndex][0], mutate(pickle, ms)];
        parsesOrRefuses(() => parseTorchCheckpoint(makeZip(files)).tensors);
      }),
      { numRuns: RUNS },
    );
  });

  it('flipped, overwritten and truncated bytes of the zip file', () => {
    fc.assert(
      fc.property(fc.array(mutation(original.length), { minLength: 1, maxLength: 4 }), (ms) =>
        parsesOrRefuses(() => parseTorchCheckpoint(mutate(original, ms)).tensors),
      ),
      { numRuns: RUNS },
    );
  });

  it('mutations of the zip structure (central directory and end records)', () => {
    const cdStart = original.length - 2048 > 0 ? original.length - 2048 : 0;
    fc.assert(
      fc.property(fc.array(mutation(original.length - cdStart), { minLength: 1, maxLength: 3 }), (ms) => {
        const shifted = ms.map((m) => ({ ...m, at: m.at + cdStart }));
        parsesOrRefuses(() => parseTorchCheckpoint(mutate(original, shifted)).tensors);
      }),
      { numRuns: RUNS },
    );
  });
});
