/**
 * Run by wasmErrors.test.ts in its own process: `node --import tsx this-file MODE`.
 * MODE: `plain` (no helper), `after` (helper after setBackend), `before`
 * (helper before setBackend), `rejection` (helper, then an unhandled rejection).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { removeWasmRethrowHandlers } from '../../src/node/wasmErrors';

const mode = process.argv[2];
if (mode === 'before') removeWasmRethrowHandlers();
await tf.setBackend('wasm');
if (mode === 'after' || mode === 'rejection') removeWasmRethrowHandlers();
if (mode === 'rejection') void Promise.reject(new Error('the real message (rejected)'));
else setTimeout(() => {
  throw new Error('the real message');
}, 10);
