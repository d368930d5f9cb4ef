/** Shared by the CLI tests: run `main` in-process collecting lines (optionally with a Ctrl-C at a given line), or the CLI as a child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { main } from '../../src/cli/main';

const ROOT = path.join(__dirname, '../..');

/** Runs the CLI in-process; `out`/`err` are its lines. */
export async function run(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  return runCtrlCAt(undefined, ...argv);
}

/**
 * {@link run}, and a Ctrl-C right after the first line printed that matches
 * `at` (SIGINT emitted synchronously to the process's handlers, i.e. the
 * training command's): an interruption at an exact point of the run, which a
 * signal sent from outside cannot give (it lands some steps later under load).
 */
export async function runCtrlCAt(at: RegExp | undefined, ...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  let fired = false;
  const code = await main(argv, {
    out: (l) => {
      out.push(...l.split('\n'));
      if (at !== undefined && !fired && at.test(l)) {
        fired = true;
        process.emit('SIGINT', 'SIGINT');
      }
    },
    err: (l) => err.push(...l.split('\n')),
  });
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

/** Starts `tfjs-mae ARGV...` as a child process (`src/cli/bin.ts` through tsx). */
export function startCli(argv: string[]): CliChild {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/bin.ts'), ...argv], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
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
