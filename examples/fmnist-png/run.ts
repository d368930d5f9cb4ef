/**
 * Fashion-MNIST from PNG files through the CLI: the reference recipe of
 * docs/results.md run by `tfjs-mae pretrain` + `tfjs-mae linprobe` on a folder
 * of images, as a user with their own images would run it.
 *
 *   apt-get install -y dataset-fashion-mnist
 *   npm run build
 *   npm run experiment:fmnist-png -- --out /tmp/fmnist-png              # the full run (~1 h on 2 cores)
 *   npm run experiment:fmnist-png -- --out /tmp/fmnist-png-smoke --limit 512 --epochs 1   # a smoke run
 *
 * 1. Writes the 70,000 images as 8-bit RGBA PNGs (R = G = B) into `OUT/images/train/<class>/NNNNN.png`
 *    and `OUT/images/val/<class>/NNNNN.png` (the 10,000 test images), class folders
 *    `0-T-shirt_top` … `9-Ankle_boot` so ImageFolder's sorted classes keep the
 *    data set's label numbers. Files already there are kept: a re-run writes nothing.
 * 2. Runs the built CLI (`node dist/cli.cjs`):
 *    `pretrain OUT/images/train` with the recipe (28 px grey, mae_vit_tiny_patch4, 4 epochs
 *    of batch 256 with the last partial batch dropped, lr 1.5e-3, 5 % warmup then a
 *    half-cosine per step, AdamW (0.9, 0.95) wd 0.05, `(x/255 − 0.2860406) / 0.3530242`,
 *    no augmentation), then `linprobe OUT/images` on the last checkpoint (BatchNorm
 *    without affine + Linear, AdamW 1e-3, 10 epochs, batch 256; the normalisation and
 *    the crop come from the checkpoint's stored recipe).
 * 3. Prints the probe's top-1 against docs/results.md (MAE encoder, mean pool).
 *
 * Options: --out DIR (required), --limit N (at most N images per class and split),
 * --epochs N (4), --seed N (0), --threads N (1), --backend wasm|cpu (wasm),
 * --model-config JSON (passed to pretrain, e.g. a smaller model for a smoke run),
 * --batch-size N (256, pre-training and probe), --write-only (the PNGs only),
 * --cli FILE (the built CLI to run; default dist/cli.cjs of this repository).
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FMNIST_MEAN, FMNIST_STD, loadFashionMnist } from '../common/fashionMnist';
import { exists, writeSplit } from './pngFolder';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Args {
  out: string;
  limit?: number;
  epochs: number;
  seed: number;
  threads: number;
  backend: string;
  modelConfig?: string;
  batchSize: number;
  writeOnly: boolean;
  /** The built CLI to run. */
  cli: string;
}

function parseArgs(argv: string[]): Args {
  const a: Partial<Args> = { epochs: 4, seed: 0, threads: 1, backend: 'wasm', batchSize: 256, writeOnly: false, cli: join(ROOT, 'dist', 'cli.cjs') };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${name}: expected a value`);
      return v;
    };
    const int = (min: number): number => {
      const v = Number(value());
      if (!Number.isSafeInteger(v) || v < min) throw new Error(`${name}: expected an integer >= ${min}, got ${argv[i]}`);
      return v;
    };
    if (name === '--out') a.out = value();
    else if (name === '--limit') a.limit = int(1);
    else if (name === '--epochs') a.epochs = int(1);
    else if (name === '--seed') a.seed = int(0);
    else if (name === '--threads') a.threads = int(1);
    else if (name === '--backend') a.backend = value();
    else if (name === '--model-config') a.modelConfig = value();
    else if (name === '--batch-size') a.batchSize = int(2);
    else if (name === '--write-only') a.writeOnly = true;
    else if (name === '--cli') a.cli = value();
    else throw new Error(`unknown option ${name} (see the comment at the top of examples/fmnist-png/run.ts)`);
  }
  if (a.out === undefined) throw new Error('--out DIR is required: the PNG folders and the runs go there');
  return a as Args;
}

/** Runs `node dist/cli.cjs ...args`, echoing its output; resolves with the output, rejects on a non-zero exit. */
function cli(file: string, args: string[]): Promise<string> {
  console.log(`\n$ node ${file} ${args.join(' ')}`);
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [file, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      process.stdout.write(chunk);
    });
    child.on('error', fail);
    child.on('close', (code) => (code === 0 ? done(text) : fail(new Error(`tfjs-mae ${args[0]} exited with ${code}`))));
  });
}

/** The mean-pool MAE probe of docs/results.md: ours (mean of 2 seeds) and the PyTorch reference. */
async function referenceNumbers(): Promise<{ ours: number; reference: string }> {
  const text = await readFile(join(ROOT, 'docs', 'results.md'), 'utf8');
  const row = text.split('\n').find((l) => l.includes('linear probe, MAE encoder (mean pool)'));
  const cells = row?.split('|').map((c) => c.replace(/\*/g, '').trim());
  if (!cells || cells.length < 6) throw new Error('docs/results.md: no "linear probe, MAE encoder (mean pool)" row');
  return { ours: Number(cells[4]), reference: cells[5] };
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const images = join(a.out, 'images');
  const data = await loadFashionMnist();
  if (data.source.kind !== 'full') console.log(`note: dataset-fashion-mnist is not installed; using the embedded subset (${data.source.dir})`);
  const t0 = Date.now();
  for (const [split, name] of [[data.train, 'train'], [data.test, 'val']] as const) {
    const [written, kept] = await writeSplit(split, join(images, name), a.limit);
    console.log(`${join(images, name)}: ${written} PNGs written, ${kept} already there`);
  }
  console.log(`images ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (a.writeOnly) return;
  if (!(await exists(a.cli))) throw new Error(`${a.cli} not found: run npm run build first`);

  const common = ['--backend', a.backend, '--threads', String(a.threads), '--seed', String(a.seed)];
  const pretrainDir = join(a.out, 'pretrain');
  const last = join(pretrainDir, `checkpoint-${a.epochs - 1}.safetensors`);
  if (await exists(last)) console.log(`\n${last} exists: pre-training skipped`);
  else {
    await cli(a.cli, [
      'pretrain', join(images, 'train'),
      '--model', 'mae_vit_tiny_patch4', '--input-size', '28', '--in-chans', '1',
      ...(a.modelConfig ? ['--model-config', a.modelConfig] : []),
      '--no-aug', '--crop-pct', '1', '--mean', String(FMNIST_MEAN), '--std', String(FMNIST_STD),
      '--epochs', String(a.epochs), '--warmup-epochs', String(0.05 * a.epochs),
      '--lr', '1.5e-3', '--min-lr', '0', '--batch-size', String(a.batchSize), '--weight-decay', '0.05',
      '--save-every', '1', '--resume', 'auto', '--output-dir', pretrainDir,
      ...common,
    ]);
  }
  const probe = await cli(a.cli, [
    'linprobe', images, '--weights', last, '--pool', 'mean', '--batch-size', String(a.batchSize), '--epochs', '10',
    '--output-dir', join(a.out, 'linprobe'), ...common,
  ]);
  // the final result line (`top-1 X% on N val images …`), not epoch 1's progress line
  const top1 = Number(/^top-1 ([\d.]+)% on \d+ val images/m.exec(probe)?.[1]);
  if (!Number.isFinite(top1)) throw new Error(`linprobe printed no final "top-1 X% on N val images" line:\n${probe}`);
  const { ours, reference } = await referenceNumbers();
  const delta = top1 - ours;
  console.log(
    `\nFashion-MNIST from PNG files: linear probe (MAE encoder, mean pool) top-1 ${top1.toFixed(2)}%; ` +
      `docs/results.md: ${ours} (in memory, mean of 2 seeds), PyTorch reference ${reference}; ` +
      `difference ${delta >= 0 ? '+' : ''}${delta.toFixed(2)} (${Math.abs(delta) <= 1 ? 'within' : 'NOT within'} 1 point)`,
  );
  console.log(JSON.stringify({ kind: 'fmnist-png', seed: a.seed, epochs: a.epochs, limit: a.limit ?? null, top1, inMemory: ours, delta: Number(delta.toFixed(2)) }));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
