/**
 * useWasmThreads relies on internals of @tensorflow/tfjs-backend-wasm (see
 * src/node/wasmInternals.ts). If this fails after a tfjs upgrade, the message
 * names the version and what changed; update wasmInternals.ts to match.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as wasm from '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { checkWasmInternals, TESTED_WASM_VERSION, wasmPackageFiles } from '../../src/node/wasmInternals';

const files = wasmPackageFiles([pathToFileURL(fileURLToPath(import.meta.url)).href]);

describe('tfjs-backend-wasm internals used by useWasmThreads', () => {
  it(`the installed package is the version they were read from (${TESTED_WASM_VERSION})`, () => {
    expect(files.version, `@tensorflow/tfjs-backend-wasm is ${files.version}: re-check src/node/wasmInternals.ts against it, then update TESTED_WASM_VERSION`).toBe(TESTED_WASM_VERSION);
    expect(wasm.version_wasm).toBe(files.version); // the imported module is that installed copy
  });

  it('every internal still holds', async () => {
    expect(await checkWasmInternals(files, wasm as never)).toEqual([]);
  });

  it('says what changed, naming the version', async () => {
    const problems = await checkWasmInternals(files, { ...wasm, BackendWasm: undefined } as never);
    expect(problems).toEqual([
      `@tensorflow/tfjs-backend-wasm ${files.version} (useWasmThreads was written against ${TESTED_WASM_VERSION}): no longer exports the class BackendWasm`,
    ]);
  });
});
