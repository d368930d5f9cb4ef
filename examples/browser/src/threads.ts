/**
 * Threads for tfjs' wasm backend in the page. The threaded-SIMD build runs
 * only in a cross-origin isolated page (our servers send the headers, see
 * `../isolation.ts`), and the thread count must be set before the backend
 * starts: the page takes it from `?threads=N` and reloads to change it.
 *
 * tfjs' C++ side caps the pool at `min(requested, 8, hardwareConcurrency / 2)`
 * (tfjs-backend-wasm `backend.cc`), so a 2-core machine would always get 1
 * thread. We honour an explicit request up to the machine's logical cores by
 * reporting `2·n` cores to that check, and never more threads than cores.
 */
import { getThreadsCount, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';

/** The logical cores the browser reports, read before {@link planWasmThreads} may raise the reported count. */
const CORES = navigator.hardwareConcurrency || 1;

/** What the page asked of the wasm backend, and why it may get fewer threads. */
export interface ThreadPlan {
  /** Threads asked for (`?threads=N`, default 1). */
  requested: number;
  /** Threads the backend will be asked for: `requested`, at most the logical cores and 8; 1 when not isolated. */
  planned: number;
  /** `navigator.hardwareConcurrency` as the browser reported it. */
  cores: number;
  /** Whether the page is cross-origin isolated (required for threads). */
  isolated: boolean;
  /** Why `planned < requested`, in words; `''` when it is not. */
  note: string;
}

/** The most threads the page offers: the logical cores, at most 8 (tfjs' own ceiling). */
export function maxThreads(): number {
  return Math.max(1, Math.min(CORES, 8));
}

/** `?threads=N` of the page URL (a positive integer), else 1. */
export function requestedThreads(search: string = location.search): number {
  const n = Number(new URLSearchParams(search).get('threads') ?? '1');
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

/** Tells the wasm backend how many threads to start with; call before its first `setBackend('wasm')`. */
export function planWasmThreads(requested: number): ThreadPlan {
  const cores = CORES;
  const isolated = globalThis.crossOriginIsolated === true;
  let planned = Math.min(requested, maxThreads());
  let note = planned < requested ? `capped at ${planned}: ${cores} logical cores` : '';
  if (planned > 1 && !isolated) {
    planned = 1;
    note = 'one thread: the page is not cross-origin isolated (serve it with COOP/COEP headers)';
  }
  if (planned > 1 && cores < 2 * planned) {
    // the C++ cap reads the core count once, at the backend's start
    Object.defineProperty(navigator, 'hardwareConcurrency', { value: 2 * planned, configurable: true });
  }
  setThreadsCount(planned);
  return { requested, planned, cores, isolated, note };
}

/** Threads the wasm backend runs with; `undefined` before it has started. */
export function wasmThreads(): number | undefined {
  try {
    return getThreadsCount();
  } catch {
    return undefined; // not initialised yet
  }
}
