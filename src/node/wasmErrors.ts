/**
 * The wasm backend's emscripten glue, once instantiated in Node, installs
 *
 * ```js
 * process.on('uncaughtException', (ex) => { if (!(ex instanceof ExitStatus)) throw ex; });
 * process.on('unhandledRejection', (reason) => { throw reason; });
 * ```
 *
 * Rethrowing from inside a handler is fatal: Node prints the source line of
 * that `throw` with a caret, then the error, and exits with code 7. In the
 * ES-module build of `@tensorflow/tfjs-backend-wasm` (what tsx, vitest and
 * bundlers load) the glue is one minified line of 36,592 characters
 * (`dist/wasm-out/tfjs-backend-wasm.js`, line 9), so every uncaught error of
 * the application is preceded by about 39 KB of it.
 */

type Listener = (...args: unknown[]) => void;

const RETHROWS: Record<string, RegExp> = {
  uncaughtException: /instanceof\s+ExitStatus\)\s*\)\s*\{\s*throw\s+\w+/,
  unhandledRejection: /^function\s*\(\s*(\w+)\s*\)\s*\{\s*throw\s+\1\s*;?\s*\}$/,
};

/** Whether `listener` is emscripten's rethrowing handler for `event`. */
function isRethrow(event: string | symbol, listener: unknown): boolean {
  const pattern = typeof event === 'string' ? RETHROWS[event] : undefined;
  return pattern !== undefined && typeof listener === 'function' && pattern.test(String(listener));
}

/**
 * Removes the `uncaughtException` / `unhandledRejection` handlers that the
 * wasm backend's emscripten glue installs in Node (see above), so that an
 * uncaught error prints as Node prints it without them: the error and its
 * stack, exit code 1. Call it once at start-up, before or after
 * `tf.setBackend('wasm')`: it removes the handlers already there and, until
 * `stop()` is called, the ones added later (the glue adds them when the
 * backend initialises). Other handlers are left alone.
 *
 * ```ts
 * import { removeWasmRethrowHandlers } from 'tfjs-mae/node';
 * removeWasmRethrowHandlers();
 * await tf.setBackend('wasm');
 * ```
 *
 * @returns how many handlers were removed now, and `stop()` to stop watching
 */
export function removeWasmRethrowHandlers(): {
  /** Handlers removed by this call (later removals are not counted). */
  removed: number;
  /** Stops removing handlers added from now on. */
  stop: () => void;
} {
  let removed = 0;
  for (const event of Object.keys(RETHROWS)) {
    for (const listener of process.listeners(event as 'uncaughtException')) {
      if (isRethrow(event, listener)) {
        process.removeListener(event, listener as Listener);
        removed++;
      }
    }
  }
  const watch = (event: string | symbol, listener: unknown): void => {
    // 'newListener' fires just before the listener is added: remove it right after.
    if (isRethrow(event, listener)) queueMicrotask(() => process.removeListener(event, listener as Listener));
  };
  process.on('newListener', watch);
  return { removed, stop: () => void process.removeListener('newListener', watch) };
}
