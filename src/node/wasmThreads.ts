/**
 * Multi-threaded wasm in Node: `await useWasmThreads(n)`.
 */
import { availableParallelism, cpus } from 'node:os';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { MAEConfigError } from 'tfjs-mae';
import {
  checkWasmInternals,
  loadThreadedModule,
  probeWorker,
  releaseWorkers,
  terminateWorkers,
  type EmscriptenModule,
  wasmPackageFiles,
  type WasmBackendPackage,
  type WasmPackageFiles,
} from './wasmInternals';

/** Options of {@link useWasmThreads}. */
export interface WasmThreadsOptions {
  /**
   * The `@tensorflow/tfjs-backend-wasm` module the application imported. Defaults
   * to `await import('@tensorflow/tfjs-backend-wasm')`, which resolves to the
   * same installed copy in an ordinary `node_modules` layout; pass it when a
   * bundler or a monorepo could resolve a second copy.
   */
  backendModule?: unknown;
  /** Where the one-line fallback warning goes. Defaults to `console.warn`. */
  warn?: (message: string) => void;
}

/** What {@link useWasmThreads} set up. */
export interface WasmThreads {
  /** Threads the backend computes on (`getThreadsCount()`): 1 after a fallback. */
  threads: number;
  /** The thread count asked for, after clamping to the logical cores. */
  requested: number;
  /** Why threads did not start (undefined when they did, or when 1 was asked). */
  fallbackReason?: string;
}

/** Logical cores of this machine. */
export function logicalCores(): number {
  return typeof availableParallelism === 'function' ? availableParallelism() : cpus().length;
}

/** The C++ thread cap of tfjs-backend-wasm: `min(requested, 8, logical cores / 2)`. */
const MAX_WASM_THREADS = 8;

/**
 * Makes the `wasm` backend compute on `threads` threads in Node, and makes it
 * the current backend (`tf.setBackend('wasm')`).
 *
 * tfjs-backend-wasm 4.22 runs one thread in Node: it refuses its threaded
 * build there (tensorflow/tfjs#3830). This loads that build under Node's
 * `worker_threads` with the emscripten factory's own options (file paths and
 * a `data:` worker URL instead of `blob:` URLs), then `setThreadsCount`.
 *
 * - **Count.** `threads` (default: every logical core, at most 8) is clamped to
 *   the machine's logical cores and to 8. tfjs' C++ side would otherwise cap it
 *   at half the logical cores (1 on a 2-core machine); the core count it reads
 *   is raised to `2 × threads` for that, and only when lower.
 * - **Fallback.** If threads cannot start (no `worker_threads` or shared
 *   memory, a changed tfjs version, a worker that fails), the backend is
 *   built single-threaded and one line is printed with the reason.
 * - **Exit.** The worker threads do not keep the process alive: it exits when
 *   its own work is done. `tf.removeBackend('wasm')` terminates them.
 * - **When.** Call it before creating tensors on `wasm`: an already
 *   initialised `wasm` backend is disposed and rebuilt, so a call while it
 *   holds tensors (a model's weights) is refused with an `MAEConfigError`.
 *   Calling it again, with no tensors alive, switches the thread count.
 *
 * `@tensorflow/tfjs-backend-wasm` stays the application's dependency; it is
 * imported here only when this function runs.
 *
 * @param threads Threads to compute on (≥ 1). Defaults to the logical cores, at most 8.
 * @returns The thread count in effect, and the reason when it fell back to 1.
 * @throws MAEConfigError for a bad `threads` or `backendModule`, or when the `wasm` backend holds tensors
 */
export async function useWasmThreads(threads?: number, options: WasmThreadsOptions = {}): Promise<WasmThreads> {
  const cores = logicalCores();
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1)) {
    throw new MAEConfigError(`useWasmThreads: threads must be an integer ≥ 1, got ${String(threads)}`);
  }
  const requested = Math.min(threads ?? cores, cores, MAX_WASM_THREADS);
  const warn = options.warn ?? ((m: string) => console.warn(m));
  if (threads !== undefined && threads > requested) {
    warn(`useWasmThreads: ${threads} threads asked, using ${requested} (the machine's logical cores, at most ${MAX_WASM_THREADS})`);
  }
  const live = tensorsOnWasm();
  if (live > 0) {
    throw new MAEConfigError(
      `useWasmThreads: the wasm backend already holds ${live} tensor${live === 1 ? '' : 's'} (a model's weights?), which rebuilding it ` +
        'for threads would destroy; call useWasmThreads before building or loading a model (before any tensor exists on wasm), or dispose them first',
    );
  }
  const pkg = await wasmBackendPackage(options.backendModule);
  const files = packageFiles();
  let fallbackReason: string | undefined;
  if (requested > 1) fallbackReason = await whyThreadsCannotStart(files, pkg);

  const stock = stockWasmFactory();
  registerWasmFactory(async () => {
    if (requested > 1 && fallbackReason === undefined) {
      let module: EmscriptenModule | undefined;
      try {
        pkg.setThreadsCount(requested);
        // cap = min(requested, 8, cores / 2): report just enough cores for `requested`
        module = await loadThreadedModule(files, 2 * requested);
        const backend = new pkg.BackendWasm(module);
        releaseWorkers(module);
        return backend as tf.KernelBackend;
      } catch (err) {
        if (module) terminateWorkers(module);
        fallbackReason = err instanceof Error ? err.message : String(err);
      }
    }
    // one thread: the package's own backend, exactly as without this helper
    pkg.setThreadsCount(1);
    return stock();
  });
  if (!(await tf.setBackend('wasm'))) {
    throw new Error('useWasmThreads: the wasm backend failed to initialise (see the warnings above)');
  }
  if (fallbackReason !== undefined) {
    warn(`useWasmThreads: running wasm on 1 thread instead of ${requested}: ${fallbackReason.split('\n')[0]}`);
  }
  return { threads: pkg.getThreadsCount(), requested, fallbackReason };
}

/**
 * Tensors held by an initialised `wasm` backend: rebuilding the backend
 * frees its memory, and such tensors would fail at their next use (tfjs
 * reads them from the freed heap: `Cannot read properties of null (reading 'HEAPU8')`).
 * Reads the engine's registry without initialising anything.
 */
function tensorsOnWasm(): number {
  const backend = (tf.engine().registry as Record<string, tf.KernelBackend | undefined>).wasm;
  return backend === undefined ? 0 : backend.numDataIds();
}

/** The backend module: the caller's, or the installed one (which registers the `wasm` kernels). */
async function wasmBackendPackage(given: unknown): Promise<WasmBackendPackage> {
  let pkg = given;
  if (pkg === undefined) {
    try {
      pkg = await import('@tensorflow/tfjs-backend-wasm');
    } catch (err) {
      throw new MAEConfigError(`useWasmThreads needs @tensorflow/tfjs-backend-wasm installed (npm install @tensorflow/tfjs-backend-wasm): ${String(err)}`);
    }
  }
  const p = pkg as Partial<WasmBackendPackage> & { default?: Partial<WasmBackendPackage> };
  const m = typeof p.BackendWasm === 'function' ? p : p.default;
  if (!m || typeof m.BackendWasm !== 'function' || typeof m.setThreadsCount !== 'function' || typeof m.getThreadsCount !== 'function') {
    throw new MAEConfigError('useWasmThreads: options.backendModule must be the @tensorflow/tfjs-backend-wasm module (with BackendWasm, setThreadsCount, getThreadsCount)');
  }
  return m as WasmBackendPackage;
}

function packageFiles(): WasmPackageFiles {
  try {
    return wasmPackageFiles([moduleUrl(), pathToFileURL(`${process.cwd()}/`).href]);
  } catch (err) {
    throw new MAEConfigError(`useWasmThreads: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** This module's URL (ESM), or file path (the CommonJS build). */
function moduleUrl(): string {
  // tsup's CommonJS build defines import.meta.url through its shims
  return import.meta.url;
}

/** Undefined when the threaded build can start here, else why not. */
async function whyThreadsCannotStart(files: WasmPackageFiles, pkg: WasmBackendPackage): Promise<string | undefined> {
  if (typeof SharedArrayBuffer !== 'function') return 'SharedArrayBuffer is not available in this runtime';
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true } as WebAssembly.MemoryDescriptor);
  } catch (err) {
    return `this runtime has no shared WebAssembly memory (${String(err)})`;
  }
  const problems = await checkWasmInternals(files, pkg);
  if (problems.length > 0) return problems.join('; ');
  try {
    await probeWorker(files);
  } catch (err) {
    return `worker threads cannot start: ${err instanceof Error ? err.message : String(err)}`;
  }
  return undefined;
}

type BackendFactory = () => tf.KernelBackend | Promise<tf.KernelBackend>;

/** The factories this module registered, and the package's own one (registered when it was imported). */
const ours = new WeakSet<BackendFactory>();
let stock: BackendFactory | undefined;

function stockWasmFactory(): BackendFactory {
  const current = tf.findBackendFactory('wasm') as BackendFactory | null;
  if (current != null && !ours.has(current)) stock = current;
  if (stock === undefined) {
    throw new MAEConfigError("useWasmThreads: no 'wasm' backend is registered (was @tensorflow/tfjs-backend-wasm removed with tf.removeBackend?)");
  }
  return stock;
}

/** Registers `factory` as the `wasm` backend (priority 2, as the package does), disposing the current one and its threads. */
function registerWasmFactory(factory: BackendFactory): void {
  if (tf.findBackendFactory('wasm') != null) tf.removeBackend('wasm');
  ours.add(factory);
  tf.registerBackend('wasm', factory, 2);
}
