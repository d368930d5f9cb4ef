/** writeFileAtomic: whole files or nothing, no temp files left, errors name the file. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAtomicTemp, writeFileAtomic } from '../../src/node/atomicFile';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-mae-atomic-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('writeFileAtomic', () => {
  it('writes, replaces, creates the folder, and leaves no temp file', async () => {
    const file = path.join(dir, 'sub', 'a.bin');
    await writeFileAtomic(file, new Uint8Array([1, 2, 3]));
    expect([...fs.readFileSync(file)]).toEqual([1, 2, 3]);
    await writeFileAtomic(file, 'text');
    expect(fs.readFileSync(file, 'utf8')).toBe('text');
    expect(fs.readdirSync(path.join(dir, 'sub'))).toEqual(['a.bin']);
  });

  it('a failed write names the file and removes its temp file', async () => {
    const target = path.join(dir, 'is-a-folder');
    fs.mkdirSync(path.join(target, 'x'), { recursive: true });
    await expect(writeFileAtomic(target, 'x')).rejects.toThrow(/^cannot write ".*is-a-folder": E[A-Z]+$/);
    expect(fs.readdirSync(dir).filter(isAtomicTemp)).toEqual([]);
  });

  it('recognises its temp names', () => {
    expect(isAtomicTemp('.checkpoint-3.safetensors.1234.0a1b2c3d.tmp')).toBe(true);
    expect(isAtomicTemp('checkpoint-3.safetensors')).toBe(false);
  });
});
