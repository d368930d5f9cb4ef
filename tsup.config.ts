import { defineConfig } from 'tsup';

// The host application owns the single tfjs engine: never bundle it.
const external = [/^@tensorflow\//];

export default defineConfig([
  {
    entry: { index: 'src/index.ts', testing: 'src/testing/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: false, // npm run build empties dist first (the configs build in parallel)
    // One self-contained file per entry: the layer classes register themselves
    // (serialization.registerClass) exactly once, in dist/index.*.
    splitting: false,
    target: 'es2020',
    external,
  },
  {
    // tfjs-mae/node: Node-only code. It imports the library as `tfjs-mae`
    // (external), so the classes stay registered once, by dist/index.*.
    entry: { node: 'src/node/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: false,
    splitting: false,
    platform: 'node',
    target: 'node18',
    shims: true, // import.meta.url in the CommonJS build (useWasmThreads locates the wasm package from it)
    external: [...external, /^tfjs-mae(\/|$)/],
  },
  {
    // The `tfjs-mae` command (Node only): one process, one bundled copy.
    entry: { cli: 'src/cli/bin.ts' },
    format: ['cjs'],
    platform: 'node',
    target: 'node18',
    splitting: false,
    external,
    noExternal: [/^tfjs-mae(\/|$)/],
  },
]);
