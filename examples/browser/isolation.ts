/**
 * The response headers that make the demo page cross-origin isolated
 * (`self.crossOriginIsolated === true`), which browsers require before a page
 * may share memory between threads: without them tfjs' wasm backend runs its
 * single-threaded build. Used by the dev server, `vite preview` and the
 * end-to-end test's server, so all three serve the same page.
 */
export const CROSS_ORIGIN_ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  // Every file is same-origin; saying so keeps the page loadable under require-corp.
  'Cross-Origin-Resource-Policy': 'same-origin',
};
