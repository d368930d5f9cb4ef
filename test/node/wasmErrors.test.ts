/**
 * An uncaught error with the wasm backend in Node: without the helper, Node
 * prints the emscripten glue's one-line source (tens of KB) and exits with
 * code 7; with it, the error as usual and code 1. Each case runs in a child
 * process (the ES-module build of the backend, as tsx and bundlers load it).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const child = fileURLToPath(new URL('./uncaughtWasm.child.ts', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));

function run(mode: string): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', child, mode], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stderr: r.stderr };
}

describe('removeWasmRethrowHandlers', () => {
  it('without it, an uncaught error is preceded by the glue source and exits with code 7 (the problem)', () => {
    const { status, stderr } = run('plain');
    expect(status).toBe(7);
    expect(stderr).toContain('tfjs-backend-wasm');
    expect(stderr.length).toBeGreaterThan(10_000);
    expect(stderr).toContain('the real message');
  });

  for (const mode of ['after', 'before']) {
    it(`called ${mode} setBackend('wasm'): Node's own output, short, exit code 1`, () => {
      const { status, stderr } = run(mode);
      expect(status).toBe(1);
      expect(stderr.length).toBeLessThan(2_000);
      expect(stderr).toMatch(/Error: the real message/);
      expect(stderr).not.toContain('ExitStatus');
    });
  }

  it('the CLI (src/cli/bin.ts) calls it first', () => {
    const preload = fileURLToPath(new URL('./wasmThrow.preload.ts', import.meta.url));
    const bin = fileURLToPath(new URL('../../src/cli/bin.ts', import.meta.url));
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', preload, bin, '--help'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stderr.length).toBeLessThan(2_000);
    expect(r.stderr).toContain('the real message (cli)');
  });

  it('an unhandled rejection too', () => {
    const { status, stderr } = run('rejection');
    expect(status).toBe(1);
    expect(stderr.length).toBeLessThan(2_000);
    expect(stderr).toContain('the real message (rejected)');
  });
});
