/**
 * fileSource reads files by ranges, over 2 GiB and 4 GiB included: sparse
 * files (a hole of zeros, real bytes past it) stand for the big official
 * checkpoints, so the test needs no disk space and runs in milliseconds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fileSource } from '../../src/io/fileSource';
import { openWeights, withSource } from '../../src/index';
import { Pickle, f32Bytes, zipParts } from '../io/torchBuilders';

const dir = mkdtempSync(join(tmpdir(), 'tfjs-mae-filesource-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const GiB = 2 ** 30;

/** Writes positioned parts, then sets the file size (the rest stays a hole). */
async function writeSparse(path: string, parts: { offset: number; bytes: Uint8Array }[], size: number): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.truncate(size);
    for (const p of parts) await fh.write(p.bytes, 0, p.bytes.length, p.offset);
  } finally {
    await fh.close();
  }
}

describe('fileSource', () => {
  it('reads a safetensors tensor stored past 2 GiB', async () => {
    const pad = Math.round(2.2 * GiB);
    const header = new TextEncoder().encode(
      JSON.stringify({ __metadata__: { config: '{"depth":2}' }, pad: { dtype: 'U8', shape: [pad], data_offsets: [0, pad] }, w: { dtype: 'F32', shape: [2, 2], data_offsets: [pad, pad + 16] } }),
    );
    const prefix = new Uint8Array(8 + header.length);
    new DataView(prefix.buffer).setBigUint64(0, BigInt(header.length), true);
    prefix.set(header, 8);
    const path = join(dir, 'big.safetensors');
    await writeSparse(path, [{ offset: 0, bytes: prefix }, { offset: prefix.length + pad, bytes: f32Bytes([1, 2, 3, 4.5]) }], prefix.length + pad + 16);
    await withSource(await fileSource(path), async (source) => {
      expect(source.size).toBeGreaterThan(2 * GiB);
      const index = await openWeights(source);
      expect(index.metadata).toEqual({ config: '{"depth":2}' });
      expect(index.tensors.get('pad')!.shape).toEqual([pad]);
      const w = await index.read('w');
      expect(w.shape).toEqual([2, 2]);
      expect(Array.from(w.data)).toEqual([1, 2, 3, 4.5]);
    });
  });

  it('reads a ZIP64 .pth whose storage and directory lie past 4 GiB', async () => {
    const pickle = new Pickle()
      .proto()
      .global('collections', 'OrderedDict')
      .op(')')
      .op('R')
      .mark()
      .str('model')
      .stateDict([['blocks.0.norm1.weight', (p) => p.tensor({ key: '0', numel: 3, size: [3] })]])
      .op('u')
      .stop()
      .bytes();
    const { parts, size } = zipParts(
      [
        ['ckpt/pad', { zeros: Math.round(4.3 * GiB) }],
        ['ckpt/data.pkl', pickle],
        ['ckpt/data/0', f32Bytes([0.5, -1, 2])],
        ['ckpt/version', new TextEncoder().encode('3\n')],
      ],
      { zip64: true },
    );
    const path = join(dir, 'big.pth');
    await writeSparse(path, parts, size);
    const source = await fileSource(path);
    try {
      const index = await openWeights(source);
      expect(index.format).toBe('pytorch');
      expect(index.wrapper).toBe('model');
      expect([...index.tensors.keys()]).toEqual(['blocks.0.norm1.weight']);
      expect(Array.from((await index.read('blocks.0.norm1.weight')).data)).toEqual([0.5, -1, 2]);
    } finally {
      await source.close?.();
    }
  });

  it('names the path when it is missing, a folder, or shorter than a range', async () => {
    await expect(fileSource(join(dir, 'nope.pth'))).rejects.toThrow(`cannot read ${JSON.stringify(join(dir, 'nope.pth'))}: no such file`);
    await expect(fileSource(dir)).rejects.toThrow('is a folder');
    const path = join(dir, 'short.bin');
    await writeSparse(path, [], 10);
    await withSource(await fileSource(path), async (source) => {
      await expect(source.read(8, 4)).rejects.toThrow(`${path}: cannot read 4 bytes at byte 8 of a 10-byte file`);
      expect((await source.read(2, 3)).length).toBe(3);
    });
  });
});
