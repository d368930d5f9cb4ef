/**
 * What the browser end-to-end tests share: the demo's build, and Debian's
 * Chromium launched headless through playwright-core with a fresh profile.
 */
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { build as viteBuild } from 'vite';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The demo's folder, its build and the repository. */
export const DEMO = join(HERE, '..');
export const DIST = join(DEMO, 'dist');
export const REPO = join(DEMO, '..', '..');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// Flags that work on this kind of machine (shared/notes/tfjs-backends.md §3):
// no sandbox as root, no network chatter (the network is closed).
const FLAGS = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Builds the page with Vite, unless `MAE_E2E_SKIP_BUILD=1` and a build exists (`npm run test:browser` builds once for every file). */
export async function buildDemo(): Promise<void> {
  if (process.env.MAE_E2E_SKIP_BUILD === '1' && existsSync(join(DIST, 'index.html'))) return;
  await viteBuild({ configFile: join(DEMO, 'vite.config.ts'), logLevel: 'warn' });
}

/** Chromium headless with a fresh profile in a temporary folder (remove `dir` after `context.close()`). */
export async function launch(extraArgs: string[]): Promise<{ context: BrowserContext; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'tfjs-mae-chromium-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...FLAGS, ...extraArgs],
    viewport: { width: 1100, height: 820 },
    acceptDownloads: true,
  });
  return { context, dir };
}
