import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (p: string): string => fileURLToPath(new URL(`./src/${p}`, import.meta.url));

export default defineConfig({
  resolve: {
    // src/node imports the library as `tfjs-mae` (see src/node/index.ts); tests run the sources.
    alias: [
      { find: /^tfjs-mae$/, replacement: src('index.ts') },
      { find: /^tfjs-mae\/testing$/, replacement: src('testing/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    // Numerics on the cpu backend are slow; each file gets its own worker (and tfjs engine).
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
