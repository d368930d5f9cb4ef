import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointError } from '../../../src/errors';
import { parseTorchCheckpoint } from '../../../src/io/torch/checkpoint';
import { crc32, openZip } from '../../../src/io/torch/zip';
import { makeZip } from '../torchBuilders';

const enc = new TextEncoder();
const files: [string, Uint8Array][] = [
  ['a/data.pkl', enc.encode('pickle bytes')],
  ['a/data/0', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])],
  ['a/empty', new Uint8Array(0)],
];

function expectZipError(bytes: Uint8Array, fragment: string): void {
  expect(() => openZip(bytes)).toThrow(CheckpointError);
  expect(() => openZip(bytes)).toThrow(fragment);
}

describe('openZip', () => {
  it('computes the standard CRC-32 check value', () => {
    expect(crc32(enc.encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('CRC-32 eight bytes at a time equals the bitwise definition for every length and offset', () => {
    const bitwise = (x: Uint8Array): number => {
      let c = 0xffffffff;
      for (const v of x) {
        c ^= v;
        for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      }
      return (c ^ 0xffffffff) >>> 0;
    };
    const bytes = Uint8Array.from({ length: 64 }, (_, i) => (i * 167 + 13) & 0xff);
    for (let start = 0; start < 8; start++) {
      for (let n = 0; start + n <= bytes.length; n++) expect(crc32(bytes.subarray(start, start + n))).toBe(bitwise(bytes.subarray(start, start + n)));
    }
  });

  for (const zip64 of [false, true]) {
    it(`reads stored entries ${zip64 ? 'with ZIP64 extra fields and end records' : '(plain zip)'}`, () => {
      const archive = openZip(makeZip(files, { zip64 }));
      expect([...archive.entries.keys()]).toEqual(files.map(([n]) => n));
      for (const [name, data] of files) expect(Array.from(archive.read(name))).toEqual(Array.from(data));
    });
  }

  it('reads the zip64 torch fixture and the same checkpoint re-zipped with ZIP64 extra fields', () => {
    const original = new Uint8Array(readFileSync(join(__dirname, '..', '..', 'fixtures', 'torch', 'dtypes.pth')));
    const archive = openZip(original);
    const entries = [...archive.entries.keys()].map((n) => [n, archive.read(n)] as [string, Uint8Array]);
    const a = parseTorchCheckpoint(original).tensors;
    const b = parseTorchCheckpoint(makeZip(entries, { zip64: true })).tensors;
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [k, t] of a) expect(Array.from(b.get(k)!.data)).toEqual(Array.from(t.data));
  });

  it('finds the end record behind an archive comment, even one containing a fake signature', () => {
    const zip = makeZip(files);
    const comment = new Uint8Array([0x50, 0x4b, 0x05, 0x06, ...new Array(30).fill(0x41)]);
    const withComment = new Uint8Array(zip.length + comment.length);
    withComment.set(zip);
    withComment.set(comment, zip.length);
    new DataView(withComment.buffer).setUint16(zip.length - 2, comment.length, true);
    expect(openZip(withComment).entries.size).toBe(3);
  });

  it('refuses truncated, inconsistent or hostile archives', () => {
    const zip = makeZip(files);
    const cdOffset = new DataView(zip.buffer).getUint32(zip.length - 6, true);
    const mutated = (edit: (v: DataView, b: Uint8Array) => void) => {
      const b = zip.slice();
      edit(new DataView(b.buffer), b);
      return b;
    };
    expectZipError(new Uint8Array(10), 'too short for a zip archive');
    expectZipError(zip.slice(0, zip.length - 1), 'no end-of-central-directory record');
    expectZipError(mutated((v) => v.setUint32(zip.length - 6, zip.length, true)), 'central directory [');
    expectZipError(mutated((v) => v.setUint16(zip.length - 12, 5000, true)), 'cannot hold 5000 entries');
    expectZipError(mutated((v) => v.setUint32(cdOffset + 42, 9, true)), 'no local header at byte 9');
    expectZipError(mutated((v) => v.setUint32(cdOffset + 42, 2 ** 31, true)), 'runs past the end');
    expectZipError(mutated((v) => v.setUint32(cdOffset + 24, 1e6, true)), 'has compressed size');
    expectZipError(mutated((v) => { v.setUint32(cdOffset + 24, 1e6, true); v.setUint32(cdOffset + 20, 1e6, true); }), 'runs into the central directory');
    expectZipError(mutated((v) => v.setUint32(cdOffset + 24, 0xffffffff, true)), 'saturated but no ZIP64 extra field');
    expectZipError(mutated((v) => v.setUint16(cdOffset + 8, 1, true)), 'is encrypted');
    expectZipError(mutated((v) => v.setUint16(cdOffset + 10, 12, true)), 'compression method 12');
    expectZipError(mutated((_, b) => (b[30] = 0x62)), 'local header name differs');
    expectZipError(mutated((v) => v.setUint16(zip.length - 12, 0xffff, true)), 'ZIP64 sizes without a ZIP64 end-of-directory locator');
    expectZipError(mutated((v) => v.setUint16(zip.length - 18, 1, true)), 'multi-disk');
    const corrupt = mutated((_, b) => (b[30 + 10 + 2] ^= 1));
    expect(() => openZip(corrupt).read('a/data.pkl')).toThrow('is corrupt (CRC-32');
    expect(() => openZip(zip).read('nope')).toThrow('no entry "nope"');
  });
});
