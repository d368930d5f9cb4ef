/**
 * Preloaded (`--import`) before the CLI by wasmErrors.test.ts: the wasm
 * backend, then an uncaught error once the CLI is done (not on a timer: under
 * load the CLI's modules take long to load).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';

await tf.setBackend('wasm');
process.once('beforeExit', () => {
  throw new Error('the real message (cli)');
});
