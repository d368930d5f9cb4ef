import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', testing: 'src/testing/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  // One self-contained file per entry: the layer classes register themselves
  // (serialization.registerClass) exactly once, in dist/index.*.
  splitting: false,
  target: 'es2020',
  // The host application owns the single tfjs engine: never bundle it.
  external: [/^@tensorflow\//],
});
