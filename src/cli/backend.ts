/**
 * The tfjs backend of a CLI run. The backends are optional peer dependencies
 * of tfjs-mae: the command loads the one asked for and, when it is not
 * installed, says which package to install in one line.
 *
 *   --backend wasm        @tensorflow/tfjs-backend-wasm   (fast, portable; the default when installed)
 *   --backend tensorflow  @tensorflow/tfjs-node           (native TensorFlow; Node ≤ 22 with tfjs-node 4.22)
 *   --backend cpu         @tensorflow/tfjs-backend-cpu    (pure JS, slow; always works)
 *   --backend auto        the first of wasm, cpu that is installed
 */
import * as tf from '@tensorflow/tfjs-core';
import { useWasmThreads } from '../node';
import { flag } from './args';
import { CliError } from './args';
import type { CliIO } from './command';

/** The `--backend` choices. */
export const BACKENDS = ['auto', 'wasm', 'cpu', 'tensorflow'] as const;
export type BackendChoice = (typeof BACKENDS)[number];

/** The npm package of each backend. */
export const BACKEND_PACKAGES: Record<Exclude<BackendChoice, 'auto'>, string> = {
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
  tensorflow: '@tensorflow/tfjs-node',
};

/** The `--backend` flag every computing command declares. */
export const backendFlag = flag.choice(BACKENDS, {
  default: 'auto',
  help: 'tfjs backend: wasm, cpu, tensorflow (tfjs-node), or auto = wasm if installed, else cpu',
});

/** The `--threads` flag: threads of the wasm backend (tfjs-mae/node's `useWasmThreads`). */
export const threadsFlag = flag.integer({
  default: 1,
  min: 1,
  metavar: 'N',
  help: 'threads of the wasm backend (worker threads; at most the logical cores and 8); other backends ignore it',
});

/** `--backend` and `--threads`: spread them into the flags of every computing command. */
export const backendFlags = { backend: backendFlag, threads: threadsFlag };

/** Options of {@link setupBackend}. */
export interface SetupBackendOptions {
  /** Threads of the wasm backend. Defaults to 1. */
  threads?: number;
  /** Where the thread count in effect (and a fallback's reason) is printed. */
  io?: CliIO;
  /** How a package is imported (a test replaces it). */
  importer?: Importer;
}

/** How a package is imported; a test replaces it. */
export type Importer = (pkg: string) => Promise<unknown>;
const importPackage: Importer = (pkg) => import(pkg);

function notInstalled(e: unknown, pkg: string): boolean {
  const err = e as NodeJS.ErrnoException;
  return (err?.code === 'ERR_MODULE_NOT_FOUND' || err?.code === 'MODULE_NOT_FOUND') && String(err.message).includes(pkg);
}

/**
 * Loads and selects the backend `choice`; returns its tfjs name
 * (`wasm`, `cpu`, `tensorflow`). Throws a one-line `CliError` naming the
 * package to install when it is missing, or why it failed to load.
 */
export async function setupBackend(choice: BackendChoice, options: SetupBackendOptions | Importer = {}): Promise<string> {
  const o: SetupBackendOptions = typeof options === 'function' ? { importer: options } : options;
  // tfjs-core's "looks like you are running TensorFlow.js in Node.js" banner is not for CLI users.
  tf.env().set('PROD', true);
  const name = await selectBackend(choice, o.importer ?? importPackage);
  const threads = o.threads ?? 1;
  if (name === 'wasm') {
    let running = 1;
    if (threads > 1) {
      const warn = (m: string): void => o.io?.out(`warning: ${m.replace(/^useWasmThreads: /, '')}`);
      running = (await useWasmThreads(threads, { warn })).threads;
    }
    o.io?.out(`backend wasm: ${running} thread${running === 1 ? '' : 's'}${running < threads ? ` (of --threads ${threads})` : ''}`);
  } else if (threads > 1) {
    o.io?.out(`note: --threads ${threads} is for the wasm backend; ${name} ignores it`);
  }
  return tf.getBackend();
}

async function selectBackend(choice: BackendChoice, importer: Importer): Promise<string> {
  const order: Exclude<BackendChoice, 'auto'>[] = choice === 'auto' ? ['wasm', 'cpu'] : [choice];
  for (const name of order) {
    const pkg = BACKEND_PACKAGES[name];
    try {
      await importer(pkg);
    } catch (e) {
      if (notInstalled(e, pkg)) {
        if (choice === 'auto') continue;
        throw new CliError(`--backend ${name} needs ${pkg}, which is not installed: npm install ${pkg}`);
      }
      throw new CliError(`${pkg} is installed but failed to load: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
    }
    if (!(await tf.setBackend(name))) throw new CliError(`the ${name} backend (${pkg}) failed to initialise`);
    await tf.ready();
    return tf.getBackend();
  }
  throw new CliError(`no tfjs backend is installed: npm install ${BACKEND_PACKAGES.wasm} (or ${BACKEND_PACKAGES.cpu})`);
}
