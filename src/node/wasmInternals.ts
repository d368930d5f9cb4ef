/**
 * Everything `useWasmThreads` relies on inside @tensorflow/tfjs-backend-wasm
 * that is not its documented API, in one place. Checked against 4.22.0 by
 * `test/node/wasmInternals.test.ts`; `checkWasmInternals` says what changed.
 *
 * The package's own `init()` cannot start its threaded build in Node (it
 * refuses threads when `IS_NODE`, and hands the worker a `blob:` URL that
 * `worker_threads` rejects), so we build the emscripten module ourselves with
 * the factory's public options and give it to the exported `BackendWasm`:
 * - `wasm-out/tfjs-backend-wasm-threaded-simd.js`: the emscripten factory
 *   (CommonJS), and its `.wasm` beside it; `mainScriptUrlOrBlob` is that file's path, which each worker
 *   loads with `importScripts`;
 * - `wasm-out/tfjs-backend-wasm-threaded-simd.worker.js` exports the worker
 *   script as the string `wasmWorkerContents`; `locateFile` hands the worker a
 *   `data:` URL (a module Node accepts) that runs it with `require` and
 *   `__filename` defined;
 * - `BackendWasm` expects `module.tfjs` = the six `cwrap`s of the package's `init()`;
 * - the C++ `init_with_threads_count` caps threads at
 *   `min(requested, 8, emscripten_num_logical_cores() / 2)`; `instantiateWasm`
 *   wraps that `env` import so it reports at least 2 × the threads asked for;
 * - emscripten `ref()`s a worker while it runs a pthread, and XNNPACK's pool
 *   threads run forever: `releaseWorkers` `unref()`s them (`Module.PThread`),
 *   so they no longer keep the process alive.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The @tensorflow/tfjs-backend-wasm version these internals were read from. */
export const TESTED_WASM_VERSION = '4.22.0';

/** The parts of the package's public module we call. */
export interface WasmBackendPackage {
  BackendWasm: new (module: EmscriptenModule) => object;
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
  version_wasm?: string;
}

/** The emscripten module, as far as we touch it. */
export interface EmscriptenModule {
  cwrap(name: string, ret: string | null, args: string[]): (...args: number[]) => unknown;
  PThread?: { runningWorkers: Array<{ unref(): void }>; unusedWorkers: Array<{ unref(): void }>; terminateAllThreads(): void };
  tfjs?: Record<string, unknown>;
}

type Factory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;

/** The build we load; the single-threaded one is the package's own (its registered backend factory). */
const BUILD = 'tfjs-backend-wasm-threaded-simd';
/** The `workerData` that makes our worker script answer instead of running (`probeWorker`). */
const PROBE = 'tfjs-mae probe';
/** The C++ side's import that reports the machine's logical cores. */
const CORES_IMPORT = 'emscripten_num_logical_cores';
/** What `BackendWasm` calls on `module.tfjs` (the package's `init()` builds the same object). */
const TFJS_CWRAPS: Array<[key: string, name: string, ret: string | null, args: string[]]> = [
  ['init', 'init', null, []],
  ['initWithThreadsCount', 'init_with_threads_count', null, ['number']],
  ['getThreadsCount', 'get_threads_count', 'number', []],
  ['registerTensor', 'register_tensor', null, ['number', 'number', 'number']],
  ['disposeData', 'dispose_data', null, ['number']],
  ['dispose', 'dispose', null, []],
];
/** Strings of the worker script that our data: URL and main-script path depend on. */
const WORKER_MARKERS = ['importScripts(e.data.urlOrBlob)', 'WasmBackendModuleThreadedSimd(Module)', 'require("worker_threads")'];

/** Files of one installed copy of the package. */
export interface WasmPackageFiles {
  dir: string;
  version: string;
  /** The emscripten factory of the threaded SIMD build (CommonJS). */
  factory: string;
  wasm: string;
  /** Exports the worker script as the string `wasmWorkerContents`. */
  workerScript: string;
}

/** Locates the installed package (from this module, then from the working directory). */
export function wasmPackageFiles(from: string[]): WasmPackageFiles {
  let pkgJson: string | undefined;
  for (const base of from) {
    try {
      pkgJson = createRequire(base).resolve('@tensorflow/tfjs-backend-wasm/package.json');
      break;
    } catch {
      // try the next base
    }
  }
  if (pkgJson === undefined) {
    throw new Error(`@tensorflow/tfjs-backend-wasm is not installed (looked from ${from.join(', ')})`);
  }
  const dir = dirname(pkgJson);
  const out = join(dir, 'wasm-out');
  return {
    dir,
    version: (JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string }).version,
    factory: join(out, `${BUILD}.js`),
    wasm: join(out, `${BUILD}.wasm`),
    workerScript: join(out, 'tfjs-backend-wasm-threaded-simd.worker.js'),
  };
}

/**
 * What of the above no longer holds in this copy of the package, one line
 * each naming the version (empty when all holds). Reads files and compiles the
 * threaded .wasm (about 0.1 s); runs no worker.
 */
export async function checkWasmInternals(files: WasmPackageFiles, pkg: Partial<WasmBackendPackage>): Promise<string[]> {
  const at = `@tensorflow/tfjs-backend-wasm ${files.version} (useWasmThreads was written against ${TESTED_WASM_VERSION})`;
  const problems: string[] = [];
  const need = (ok: boolean, what: string) => {
    if (!ok) problems.push(`${at}: ${what}`);
  };
  need(typeof pkg.BackendWasm === 'function', 'no longer exports the class BackendWasm');
  need(typeof pkg.setThreadsCount === 'function' && typeof pkg.getThreadsCount === 'function', 'no longer exports setThreadsCount/getThreadsCount');
  const build = BUILD;
  try {
    const worker = loadWorkerContents(files);
    for (const m of WORKER_MARKERS) need(worker.includes(m), `its worker script (wasmWorkerContents) no longer contains ${m}`);
  } catch (err) {
    need(false, `wasm-out/tfjs-backend-wasm-threaded-simd.worker.js no longer exports the string wasmWorkerContents (${String(err)})`);
  }
  try {
    const src = readFileSync(files.factory, 'utf8');
    need(src.startsWith('\nvar WasmBackendModuleThreadedSimd') || src.startsWith('var WasmBackendModuleThreadedSimd'),
      `wasm-out/${build}.js no longer defines var WasmBackendModuleThreadedSimd at its top (the workers import it by that name)`);
    need(src.includes('Module["PThread"]=PThread') && src.includes('worker.ref()'),
      `wasm-out/${build}.js no longer exposes Module.PThread (its workers could not be released at exit)`);
    need(src.includes('Module["instantiateWasm"]') && src.includes('Module["mainScriptUrlOrBlob"]'),
      `wasm-out/${build}.js no longer reads Module.instantiateWasm / Module.mainScriptUrlOrBlob`);
  } catch (err) {
    need(false, `wasm-out/${build}.js is missing (${String(err)})`);
  }
  try {
    const mod = await WebAssembly.compile(readFileSync(files.wasm));
    const imports = WebAssembly.Module.imports(mod).map((i) => `${i.module}.${i.name}`);
    const exports = new Set(WebAssembly.Module.exports(mod).map((e) => e.name));
    need(imports.includes(`env.${CORES_IMPORT}`), `wasm-out/${build}.wasm no longer imports env.${CORES_IMPORT} (the thread cap reads the core count there)`);
    for (const [, name] of TFJS_CWRAPS) need(exports.has(name), `wasm-out/${build}.wasm no longer exports ${name}`);
  } catch (err) {
    need(false, `wasm-out/${build}.wasm is missing or does not compile (${String(err)})`);
  }
  return problems;
}

function loadWorkerContents(files: WasmPackageFiles): string {
  const contents = (createRequire(files.workerScript)(files.workerScript) as { wasmWorkerContents?: unknown }).wasmWorkerContents;
  if (typeof contents !== 'string') throw new Error('wasmWorkerContents is not a string');
  return contents;
}

/**
 * The worker as an ES module in a `data:` URL: it runs the package's worker
 * script with the `require` and `__filename` a CommonJS file would have. The
 * script's `"\n"` escapes are real newlines in the exported string (the
 * package escapes them before making its Blob too).
 */
function workerUrl(files: WasmPackageFiles): URL {
  const path = JSON.stringify(files.workerScript);
  const source = [
    "import { createRequire } from 'node:module';",
    "import { workerData, parentPort } from 'node:worker_threads';",
    `const require = createRequire(${path});`,
    `const { wasmWorkerContents } = require(${path});`,
    "const run = new Function('require', '__filename', wasmWorkerContents.replaceAll('\\n', '\\\\n'));",
    // probeWorker: compiled, not run
    `if (workerData === ${JSON.stringify(PROBE)}) parentPort.postMessage('ok'); else run(require, ${path});`,
  ].join('\n');
  return new URL(`data:text/javascript,${encodeURIComponent(source)}`);
}

/**
 * Starts one worker from the same script as the pool's, which compiles the
 * package's worker code and answers: errors that would otherwise surface
 * inside emscripten (which rethrows them, ending the process) surface here.
 */
export async function probeWorker(files: WasmPackageFiles, timeoutMs = 20_000): Promise<void> {
  const { Worker } = await import('node:worker_threads');
  const worker = new Worker(workerUrl(files), { workerData: PROBE });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`a worker thread did not start within ${timeoutMs} ms`)), timeoutMs);
      timer.unref();
      worker.once('message', () => resolve());
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`a worker thread exited with code ${code} before starting`)));
    });
  } finally {
    await worker.terminate();
  }
}

/**
 * Builds the threaded emscripten module with the factory's own options and
 * wraps it as `BackendWasm` expects. The core count the C++ side reads is
 * raised to `reportCores` (never lowered).
 */
export async function loadThreadedModule(files: WasmPackageFiles, reportCores: number): Promise<EmscriptenModule> {
  const factory = createRequire(files.factory)(files.factory) as Factory;
  const url = workerUrl(files);
  let fail: (err: unknown) => void = () => {};
  const failed = new Promise<never>((_, reject) => (fail = reject));
  const module = await Promise.race([
    factory({
      locateFile: (path: string, prefix: string) => (path.endsWith('.worker.js') ? url : path.endsWith('.wasm') ? files.wasm : prefix + path),
      mainScriptUrlOrBlob: files.factory,
      instantiateWasm: (
        info: { env: Record<string, unknown> },
        receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void,
      ) => {
        const cores = info.env[CORES_IMPORT] as () => number;
        info.env[CORES_IMPORT] = () => Math.max(cores(), reportCores);
        WebAssembly.instantiate(readFileSync(files.wasm), info as WebAssembly.Imports).then((r) => receive(r.instance, r.module), fail);
        return {};
      },
    }),
    failed,
  ]);
  module.tfjs = Object.fromEntries(TFJS_CWRAPS.map(([key, name, ret, args]) => [key, module.cwrap(name, ret, args)]));
  return module;
}

/** Lets the process exit while the module's worker threads idle (they stay usable). */
export function releaseWorkers(module: EmscriptenModule): number {
  const workers = [...(module.PThread?.runningWorkers ?? []), ...(module.PThread?.unusedWorkers ?? [])];
  for (const w of workers) w.unref();
  return module.PThread?.runningWorkers.length ?? 0;
}

/** Stops the module's worker threads (a module that will not be used). */
export function terminateWorkers(module: EmscriptenModule): void {
  module.PThread?.terminateAllThreads();
}
