/**
 * inspect and convert read by ranges: metadata printed and kept, files past
 * 2 GiB inspected from their headers (a sparse file), outputs written
 * atomically (a failed convert leaves neither the output nor a temp file).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main';
import { encodeSafetensors, parseSafetensors } from '../../src/io/safetensors';
import { FIXTURES_DIR } from '../helpers/fixtures';

async function run(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(...l.split('\n')), err: (l) => err.push(...l.split('\n')) });
  return { code, out, err };
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-mae-cli-stream-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const METADATA = { config: '{"className":"MaskedAutoencoder","config":{"embedDim":64}}', recipe: '{"epochs":3}' };

/** The official tiny state dict as safetensors, with metadata. */
function officialWithMetadata(): string {
  const ref = parseSafetensors(new Uint8Array(fs.readFileSync(path.join(FIXTURES_DIR, 'mae_tiny.safetensors')))).tensors;
  const params = new Map([...ref].filter(([k]) => k.startsWith('param.')).map(([k, t]) => [k.slice(6), t]));
  const file = path.join(dir, 'tiny.safetensors');
  fs.writeFileSync(file, encodeSafetensors(params, METADATA));
  return file;
}

describe('inspect by ranges', () => {
  it('prints the metadata (config, recipe)', async () => {
    const r = await run('inspect', officialWithMetadata());
    expect(r.code).toBe(0);
    expect(r.out).toContain(`metadata: config = ${METADATA.config}`);
    expect(r.out).toContain(`metadata: recipe = ${METADATA.recipe}`);
  });

  it('reads a file over 2 GiB from its header (sparse file)', async () => {
    const pad = Math.round(2.3 * 2 ** 30);
    const json = new TextEncoder().encode(JSON.stringify({ pad: { dtype: 'U8', shape: [pad], data_offsets: [0, pad] }, w: { dtype: 'F32', shape: [4], data_offsets: [pad, pad + 16] } }));
    const file = path.join(dir, 'big.safetensors');
    const fd = fs.openSync(file, 'w');
    const head = Buffer.alloc(8);
    head.writeBigUInt64LE(BigInt(json.length));
    fs.writeSync(fd, head, 0, 8, 0);
    fs.writeSync(fd, json, 0, json.length, 8);
    fs.ftruncateSync(fd, 8 + json.length + pad + 16);
    fs.closeSync(fd);
    const r = await run('inspect', file);
    expect(r.err).toEqual([]);
    expect(r.out).toContain(`pad\tU8\t[${pad}]`);
    expect(r.out).toContain('w\tF32\t[4]');
    fs.rmSync(file);
  });
});

describe('convert by ranges', () => {
  it('keeps every metadata key through official → HF → official', async () => {
    const hf = path.join(dir, 'tiny.hf.safetensors');
    const back = path.join(dir, 'tiny.back.safetensors');
    const input = officialWithMetadata();
    expect((await run('convert', input, hf, '--to', 'hf')).code).toBe(0);
    expect((await run('convert', hf, back)).code).toBe(0);
    const a = parseSafetensors(new Uint8Array(fs.readFileSync(input)));
    const h = parseSafetensors(new Uint8Array(fs.readFileSync(hf)));
    const b = parseSafetensors(new Uint8Array(fs.readFileSync(back)));
    expect(h.metadata).toMatchObject({ ...METADATA, naming: 'hf' });
    expect(b.metadata).toMatchObject({ ...METADATA, naming: 'official', format: 'pt' });
    expect([...b.tensors.keys()]).toEqual([...a.tensors.keys()]);
    for (const [name, t] of a.tensors) expect(Buffer.compare(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength), Buffer.from(b.tensors.get(name)!.data.buffer, b.tensors.get(name)!.data.byteOffset, t.data.byteLength)), name).toBe(0);
  });

  it('a corrupt storage fails the convert and leaves no output and no temp file', async () => {
    const bytes = new Uint8Array(fs.readFileSync(path.join(FIXTURES_DIR, 'mae_tiny.pth')));
    bytes[bytes.length >> 1] ^= 0xff; // inside some storage: found by its CRC when read
    const input = path.join(dir, 'corrupt.pth');
    fs.writeFileSync(input, bytes);
    const outDir = fs.mkdtempSync(path.join(dir, 'out-'));
    const r = await run('convert', input, path.join(outDir, 'x.safetensors'));
    expect(r.code).toBe(1);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(/^tfjs-mae: .*corrupt\.pth: zip: entry .* is corrupt \(CRC-32/);
    expect(fs.readdirSync(outDir)).toEqual([]);
  });
});
