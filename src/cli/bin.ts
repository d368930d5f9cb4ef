#!/usr/bin/env node
import { removeWasmRethrowHandlers } from '../node/wasmErrors';
import { main } from './main';

// The wasm backend's emscripten glue rethrows every uncaught error from its own
// handler, and Node then prints the glue's one-line source (39 KB) first.
removeWasmRethrowHandlers();

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
