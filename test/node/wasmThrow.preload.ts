/** Preloaded (`--import`) before the CLI by wasmErrors.test.ts: the wasm backend, then an uncaught error. */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';

await tf.setBackend('wasm');
setTimeout(() => {
  throw new Error('the real message (cli)');
}, 300);
