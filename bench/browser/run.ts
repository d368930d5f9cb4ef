/**
 * `npm run bench:browser -- [options]`: the small64 training step in headless
 * Chromium (Debian's /usr/bin/chromium through playwright-core, as the demo's
 * end-to-end test), on wasm at 1 and N threads and on webgl and webgpu.
 *
 * Builds the page (bench/browser, Vite), serves it cross-origin isolated on
 * 127.0.0.1 and loads it once per (backend, thread count): the wasm backend
 * takes its thread count only at start. N is the page's own cap (the logical
 * cores, at most 8). Here webgl and webgpu run on SwiftShader, Chromium's CPU
 * renderer: those lines say so and are not GPU numbers.
 *
 *   --backend wasm,webgl,webgpu,cpu  (default wasm,webgl,webgpu)
 *   --threads 1,N       wasm thread counts (default 1 and the page's cap)
 *   --config NAME       tiny32|small64|vitb16                 (default small64)
 *   --warmup N --steps N  per line (default 2 / 5 on wasm and cpu, 1 / 2 on webgl and webgpu: SwiftShader is slow)
 *   --json              JSON lines only (default: JSON lines, then a table)
 *
 * Environment: CHROMIUM_PATH (default /usr/bin/chromium), MAE_BENCH_SKIP_BUILD=1
 * to reuse bench/browser/dist.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { build as viteBuild } from 'vite';
import { serveStatic } from '../../examples/browser/e2e/serve';
import { isConfigName } from '../configs';
import type { PageInfo, StepResult } from './page';

const HERE = dirname(fileURLToPath(import.meta.url));
const DIST = join(HERE, 'dist');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// As the demo's e2e test (shared/notes/tfjs-backends.md §3): no sandbox as root, no network chatter.
const FLAGS = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const BACKENDS = ['wasm', 'webgl', 'webgpu', 'cpu'];
const SOFTWARE = 'SwiftShader (software), not a GPU number';

interface Options {
  backends: string[];
  threads: number[] | undefined;
  config: string;
  warmup: number | undefined;
  steps: number | undefined;
  json: boolean;
}

function usage(message: string): never {
  process.stderr.write(`bench:browser: ${message}\n(see the header of bench/browser/run.ts for the options)\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const o: Options = { backends: ['wasm', 'webgl', 'webgpu'], threads: undefined, config: 'small64', warmup: undefined, steps: undefined, json: false };
  for (let i = 0; i < argv.length; i++) {
    const [key, inline] = argv[i].startsWith('--') ? argv[i].slice(2).split('=', 2) : [argv[i], undefined];
    const value = () => inline ?? argv[++i] ?? usage(`--${key} needs a value`);
    const int = (min: number) => {
      const n = Number(value());
      return Number.isInteger(n) && n >= min ? n : usage(`--${key} must be an integer ≥ ${min}`);
    };
    if (key === 'backend') o.backends = value().split(',');
    else if (key === 'threads') o.threads = value().split(',').map((t) => (Number.isInteger(Number(t)) && Number(t) >= 1 ? Number(t) : usage(`--threads must be integers ≥ 1, got ${t}`)));
    else if (key === 'config') o.config = value();
    else if (key === 'warmup') o.warmup = int(0);
    else if (key === 'steps') o.steps = int(1);
    else if (key === 'json') o.json = true;
    else if (key !== '') usage(`unknown option ${argv[i]}`);
  }
  for (const b of o.backends) if (!BACKENDS.includes(b)) usage(`--backend must be among ${BACKENDS.join(', ')}, got ${b}`);
  if (!isConfigName(o.config)) usage(`--config must be tiny32, small64 or vitb16, got ${o.config}`);
  return o;
}

const log = (s: string) => process.stderr.write(`${s}\n`);
const r1 = (x: number) => Math.round(x * 10) / 10;

/** One page load: starts `backend` at `threads`, reports what runs, optionally times the step. */
async function onPage(
  context: BrowserContext,
  url: string,
  timing: { warmup: number; steps: number } | null,
): Promise<{ info: PageInfo; result?: StepResult }> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(url);
    const info = await page.evaluate(() => window.__bench.ready);
    const result = timing ? await page.evaluate((t) => window.__bench.run(t), timing) : undefined;
    if (errors.length) throw new Error(`errors in the page: ${errors.join('; ')}`);
    return { info, result };
  } finally {
    await page.close();
  }
}

/** Every line of one backend (wasm: each thread count); false when one failed (an `error` line says why). */
async function benchBackend(context: BrowserContext, base: string, backend: string, o: Options, rows: string[][]): Promise<boolean> {
  let threadCounts = [1];
  if (backend === 'wasm') {
    const { info } = await onPage(context, `${base}&threads=1`, null);
    if (!info.crossOriginIsolated) throw new Error('the page is not cross-origin isolated: wasm cannot run threaded');
    threadCounts = o.threads ?? [...new Set([1, info.maxThreads])];
  }
  const slow = backend === 'webgl' || backend === 'webgpu';
  const timing = { warmup: o.warmup ?? (slow ? 1 : 2), steps: o.steps ?? (slow ? 2 : 5) };
  for (const threads of threadCounts) {
    log(`[${backend} ×${threads}] ${o.config}: ${timing.warmup} warm-up + ${timing.steps} timed steps`);
    let r: StepResult;
    try {
      r = (await onPage(context, `${base}&threads=${threads}`, timing)).result!;
      if (r.backend !== backend) throw new Error(`the page runs ${r.backend}, not ${backend}`);
    } catch (err) {
      const error = err instanceof Error ? err.message.split('\n')[0] : String(err);
      log(`  failed: ${error}`);
      process.stdout.write(`${JSON.stringify({ kind: 'error', config: o.config, backend, requestedThreads: threads, error })}\n`);
      rows.push([backend, String(threads), 'failed', '', error.slice(0, 80)]);
      return false;
    }
    const software = /swiftshader/i.test(r.device);
    const line = {
      kind: 'browserTrain', config: r.config, backend: r.backend, threads: r.threads, requestedThreads: r.requestedThreads,
      variant: 'mae', batch: r.batch, stepMs: r1(r.stepMs), allStepMs: r.allStepMs.map(r1), warmup: timing.warmup, steps: timing.steps,
      leakedTensorsPerStep: r.leakedTensorsPerStep, lastLoss: r.lastLoss, crossOriginIsolated: r.crossOriginIsolated,
      cores: r.cores, device: r.device, ...(software ? { note: SOFTWARE } : {}),
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
    log(`  median ${line.stepMs} ms/step (steps ${line.allStepMs.join(' ')}), ${line.threads} thread(s) running`);
    rows.push([backend, String(r.threads), (r.stepMs / 1000).toFixed(3), String(line.leakedTensorsPerStep ?? 'n/a'), software ? SOFTWARE : r.device]);
  }
  return true;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2).filter((a) => a !== '--'));
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: run scripts/ensure-chromium.sh (apt-get install chromium)`);
  if (process.env.MAE_BENCH_SKIP_BUILD !== '1' || !existsSync(join(DIST, 'index.html'))) {
    log('building the page (vite)');
    await viteBuild({ configFile: join(HERE, 'vite.config.ts') });
  }
  const server = await serveStatic(DIST);
  const rows: string[][] = [];
  let failed = false;
  try {
    for (const backend of o.backends) {
      // a fresh browser per backend (webgpu needs --enable-unsafe-webgpu; a crash stays with its backend)
      const dir = await mkdtemp(join(tmpdir(), 'tfjs-mae-bench-chromium-'));
      const args = [...FLAGS, ...(backend === 'webgpu' ? ['--enable-unsafe-webgpu'] : [])];
      const context = await chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, headless: true, args });
      try {
        failed = !(await benchBackend(context, `${server.url}?backend=${backend}&config=${o.config}`, backend, o, rows)) || failed;
      } finally {
        await context.close().catch(() => undefined);
        await rm(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await server.close();
  }
  if (!o.json) {
    const head = ['backend', 'threads', 's/step', 'leak/step', 'device'];
    const all = [head, ...rows];
    const width = head.map((_, i) => Math.max(...all.map((r) => r[i].length)));
    process.stdout.write(`\nheadless Chromium, ${o.config} mae training step\n`);
    for (const r of all) process.stdout.write(`${r.map((c, i) => (i < 4 ? c.padStart(width[i]) : c)).join('  ')}\n`);
  }
  if (failed) process.exitCode = 1;
}

main().catch((err) => {
  process.stderr.write(`bench:browser failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
