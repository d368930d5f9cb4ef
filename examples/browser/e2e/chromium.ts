/**
 * What the page's end-to-end tests share: where the page is built and
 * screenshots go, building it, launching Debian's Chromium headless through
 * playwright-core with a fresh profile, and reading a canvas's pixels.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { build as viteBuild } from 'vite';

/** The demo's folder, its build and the repository. */
export const DEMO = join(dirname(fileURLToPath(import.meta.url)), '..');
export const DIST = join(DEMO, 'dist');
export const REPO = join(DEMO, '..', '..');
/** Where screenshots go. */
export const SHOTS = join(REPO, 'test-output', 'browser');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/**
 * Flags that work on this kind of machine (shared/notes/tfjs-backends.md §3):
 * no sandbox as root, no network chatter (the network is closed).
 */
export const FLAGS = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Builds the page into `dist/` with Vite, unless `MAE_E2E_SKIP_BUILD=1` and a build exists. */
export async function buildDemo(): Promise<void> {
  if (process.env.MAE_E2E_SKIP_BUILD === '1' && existsSync(join(DIST, 'index.html'))) return;
  await viteBuild({ configFile: join(DEMO, 'vite.config.ts'), logLevel: 'warn' });
}

/** A headless Chromium with a fresh profile in `dir`; `close()` closes it and removes the profile. */
export async function launch(
  extraArgs: string[] = [],
  viewport = { width: 1100, height: 820 },
): Promise<{ context: BrowserContext; page: Page; dir: string; close(): Promise<void> }> {
  const profile = await mkdtemp(join(tmpdir(), 'tfjs-mae-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: [...FLAGS, ...extraArgs], viewport, acceptDownloads: true });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    dir: profile,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** The RGBA pixels of canvas `#id`. */
export async function canvasPixels(page: Page, id: string): Promise<{ width: number; height: number; data: Uint8Array }> {
  const { width, height, base64 } = await page.evaluate((canvasId) => {
    const c = document.getElementById(canvasId) as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let binary = '';
    for (let i = 0; i < d.length; i += 0x8000) binary += String.fromCharCode(...d.subarray(i, i + 0x8000));
    return { width: c.width, height: c.height, base64: btoa(binary) };
  }, id);
  return { width, height, data: new Uint8Array(Buffer.from(base64, 'base64')) };
}
