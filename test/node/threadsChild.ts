/**
 * Run by test/node/wasmThreads.test.ts in a child process: sets up 2 wasm
 * threads, computes, prints the setup as JSON and ends without any cleanup;
 * the process must exit by itself.
 */
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { useWasmThreads } from '../../src/node/wasmThreads';

const setup = await useWasmThreads(2);
const a = tf.randomUniform([256, 256], -1, 1, 'float32', 1);
const sum = (await tf.sum(tf.matMul(a, a)).data())[0];
process.stdout.write(`${JSON.stringify({ ...setup, backend: tf.getBackend(), finite: Number.isFinite(sum) })}\n`);
