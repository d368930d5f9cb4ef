/**
 * `npm run demo`: pre-trains a tiny masked autoencoder on the Fashion-MNIST
 * subset embedded in this repository (2,000 training images), on the
 * TensorFlow.js wasm backend, in about two to three minutes, then writes
 *
 * - `demo-output/reconstructions.png`: 8 test images; rows = original,
 *   masked input (removed patches grey), reconstruction, reconstruction with
 *   the visible patches pasted back;
 * - `demo-output/loss.png`: the training loss per step;
 * - `demo-output/mae-demo.safetensors`: the trained weights under the
 *   official MAE names (loadable by PyTorch's `MaskedAutoencoderViT`).
 *
 * `--epochs N` changes the length (default 20); `--out DIR` the folder;
 * `--save-example-weights` also refreshes `examples/weights/mae-fmnist-tiny.safetensors`.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-wasm';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MaskedAutoencoder } from '../../src/model/MaskedAutoencoder';
import { imagesToTensor } from '../../src/data/batches';
import { imageDataSource } from '../../src/train/data';
import { pretrain } from '../../src/train/pretrain';
import { saveWeights } from '../../src/io/pretrainedModel';
import { renderReconstructions } from '../../src/viz/reconstruction';
import { FMNIST_MEAN, FMNIST_STD, loadFashionMnist } from '../common/fashionMnist';
import { writePng } from '../common/png';
import { lineChart } from '../common/plot';

/**
 * The demo model: 28×28 grey images in 4×4 patches (49 tokens, 12 visible), a
 * 2-block encoder of width 64 and a 1-block decoder of width 32 (about 0.1 M
 * parameters): small enough to learn garment shapes from 2,000 images in
 * about two minutes of one wasm thread.
 */
export const DEMO_CONFIG = {
  imgSize: 28, patchSize: 4, inChans: 1, embedDim: 64, depth: 2, numHeads: 4,
  decoderEmbedDim: 32, decoderDepth: 1, decoderNumHeads: 4, mlpRatio: 4, maskRatio: 0.75, normPixLoss: false,
} as const;

/** The demo recipe: 20 epochs × 62 steps of 32 images, warmup-cosine to 3e-3, AdamW (0.9, 0.95), wd 0.05. */
export const DEMO_RECIPE = { epochs: 20, batchSize: 32, lr: 3e-3, warmupFraction: 0.05, weightDecay: 0.05, seed: 0 } as const;

function parseArgs(argv: string[]) {
  const a = { epochs: DEMO_RECIPE.epochs as number, out: 'demo-output', saveExampleWeights: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--epochs') a.epochs = Number(argv[++i]);
    else if (argv[i] === '--out') a.out = argv[++i];
    else if (argv[i] === '--save-example-weights') a.saveExampleWeights = true;
    else throw new Error(`unknown option ${argv[i]} (use --epochs N, --out DIR, --save-example-weights)`);
  }
  if (!Number.isSafeInteger(a.epochs) || a.epochs < 1) throw new Error(`--epochs: expected a positive integer, got ${a.epochs}`);
  return a;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  await tf.setBackend('wasm');
  await tf.ready();
  const data = await loadFashionMnist({ subset: true });
  console.log(`tfjs-mae demo: backend ${tf.getBackend()}, ${data.train.n} training images (embedded subset), ${args.epochs} epochs`);

  const mae = new MaskedAutoencoder({ ...DEMO_CONFIG, seed: DEMO_RECIPE.seed });
  const source = imageDataSource(data.train.images, undefined, {
    batchSize: DEMO_RECIPE.batchSize, imageShape: [28, 28, 1], seed: DEMO_RECIPE.seed, mean: FMNIST_MEAN, std: FMNIST_STD,
  });
  const totalSteps = args.epochs * source.batchesPerEpoch!;
  const result = await pretrain(mae, source, {
    epochs: args.epochs,
    lr: DEMO_RECIPE.lr,
    warmupSteps: DEMO_RECIPE.warmupFraction * totalSteps,
    weightDecay: DEMO_RECIPE.weightDecay,
    seed: DEMO_RECIPE.seed,
  });

  await mkdir(args.out, { recursive: true });
  const test8 = imagesToTensor(data.test.images.subarray(0, 8 * 784), [8, 28, 28, 1], { mean: FMNIST_MEAN, std: FMNIST_STD });
  const figure = await renderReconstructions(mae, test8, { seed: 0, mean: FMNIST_MEAN, std: FMNIST_STD });
  test8.dispose();
  const reconPath = join(args.out, 'reconstructions.png');
  await writePng(reconPath, figure);

  const losses = result.losses;
  const smooth = losses.map((_, i) => {
    const w = losses.slice(Math.max(0, i - 15), i + 1);
    return w.reduce((s, v) => s + v, 0) / w.length;
  });
  const lossPath = join(args.out, 'loss.png');
  await writePng(
    lossPath,
    lineChart(
      [
        { y: losses, color: [170, 190, 225], width: 1 },
        { y: smooth, color: [31, 78, 168], width: 2 },
      ],
      { xLabel: 'step', yLabel: 'loss (mse on the masked patches)' },
    ),
  );

  // __metadata__: format "pt", config {className, config} (so fromPretrained and convert rebuild this model), recipe
  const weights = await saveWeights(mae, {
    metadata: {
      recipe: JSON.stringify({ ...DEMO_RECIPE, epochs: args.epochs, data: 'fashion-mnist subset (2,000 train)', mean: FMNIST_MEAN, std: FMNIST_STD }),
    },
  });
  const weightsPath = join(args.out, 'mae-demo.safetensors');
  await writeFile(weightsPath, weights);
  if (args.saveExampleWeights) {
    const examplePath = fileURLToPath(new URL('../weights/mae-fmnist-tiny.safetensors', import.meta.url));
    await writeFile(examplePath, weights);
    console.log(`copied the weights to ${examplePath}`);
  }
  mae.dispose();

  const seconds = (performance.now() - t0) / 1000;
  const last = result.epochLosses.at(-1)!;
  console.log(`done in ${seconds.toFixed(0)} s: final epoch loss ${last.toFixed(4)}, test-image loss ${figure.loss.toFixed(4)} (fixed masks)`);
  console.log(`wrote ${reconPath}, ${lossPath}, ${weightsPath} (${(weights.length / 1e6).toFixed(1)} MB)`);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack ?? err.message : String(err));
  process.exit(1);
});
