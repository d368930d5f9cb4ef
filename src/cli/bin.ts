#!/usr/bin/env node
import { removeWasmRethrowHandlers } from '../node/wasmErrors';
import { main } from './main';

// The wasm backend's emscripten glue rethrows every uncaught error from its own
// handler, and Node then prints the glue's one-line source (39 KB) first.
removeWasmRethrowHandlers();

// Anything that escapes main (a timer, a stray promise) still ends in one line, not a stack
// (or, from the wasm backend's bundle, 39 KB of minified source); --verbose shows the stack.
const last = (e: unknown): void => {
  const error = e instanceof Error ? e : new Error(String(e));
  console.error(`tfjs-mae: ${error.message.split('\n')[0]}`);
  if (process.argv.includes('--verbose') && error.stack) console.error(error.stack);
  process.exit(1);
};
process.on('uncaughtException', last);
process.on('unhandledRejection', last);

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
