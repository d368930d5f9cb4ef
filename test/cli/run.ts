/** Shared by the CLI tests: run `main` in-process collecting lines, or the CLI as a child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { main } from '../../src/cli/main';

const ROOT = path.join(__dirname, '../..');

/** Runs the CLI in-process; `out`/`err` are its lines. */
export async function run(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(...l.split('\n')), err: (l) => err.push(...l.split('\n')) });
  return { code, out, err };
}

/** A CLI child process (`src/cli/bin.ts` through tsx). */
export interface CliChild {
  child: ChildProcess;
  /** The exit code, or the signal that ended it. */
  exit: Promise<number | string>;
  /** stdout and stderr so far. */
  output: () => string;
}

/**
 * Starts `tfjs-mae ARGV...` as a child process. With `sigintAt` (a regular
 * expression), the child emits SIGINT itself the first time a line it prints
 * matches: a Ctrl-C at an exact point of the run (`sigintAt.preload.ts`).
 */
export function startCli(argv: string[], { sigintAt }: { sigintAt?: string } = {}): CliChild {
  const preload = sigintAt === undefined ? [] : ['--import', path.join(__dirname, 'sigintAt.preload.ts')];
  const env = sigintAt === undefined ? process.env : { ...process.env, TFJS_MAE_TEST_SIGINT_AT: sigintAt };
  const child = spawn(process.execPath, ['--import', 'tsx', ...preload, path.join(ROOT, 'src/cli/bin.ts'), ...argv], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exit = new Promise<number | string>((done) => child.on('exit', (code, signal) => done(code ?? signal ?? -1)));
  return { child, exit, output: () => output };
}

/** Waits until `check()` holds (polling every 50 ms), or fails after `timeoutMs` naming `what`. */
export async function waitFor(check: () => boolean, what: string, timeoutMs = 90_000): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
