/**
 * What every page built from the repository source shares (the demo and the
 * browser benchmark): one copy of each tfjs package, and an unminified build.
 */
import type { BuildOptions, ResolveOptions } from 'vite';

/** One copy of each tfjs package, whoever imports it (see docs/backends.md). */
export const ONE_TFJS: ResolveOptions = { dedupe: ['@tensorflow/tfjs-core', '@tensorflow/tfjs-layers'] };

/**
 * The build into `dist/`, unminified: minified identifiers break tfjs'
 * threaded wasm, whose pthread workers run the factory's own source text
 * (Function.toString), which then names variables renamed outside it
 * ("e is not defined" in the worker).
 */
export function unminifiedBuild(chunkSizeWarningLimit: number): BuildOptions {
  return { outDir: 'dist', emptyOutDir: true, target: 'es2022', minify: false, chunkSizeWarningLimit };
}
