/**
 * The Fashion-MNIST MAE experiment: the PyTorch reference recipe of
 * `shared/bench/fmnist_ref/README.md`, step for step, on the tfjs wasm backend.
 *
 *     npm run experiment:fmnist -- [--norm-pix] [--seed N] [--json]
 *
 * Phases: load data → pre-train (4 epochs, 936 steps) → masked test loss →
 * reconstruction figure → linear probes on MAE features (mean-pool, cls) →
 * probes on the same seed's random-init encoder → probe on raw pixels →
 * fine-tune from MAE and from scratch (2 epochs each). One JSON line per
 * phase on stdout, ending with `{"kind":"result", ...}`.
 *
 * Options: `--seed N` (default 0), `--norm-pix` (norm_pix_loss), `--json`
 * (stdout holds only the JSON lines; progress goes to stderr), `--epochs N`
 * (default 4), `--ft-epochs N` (default 2; 0 skips fine-tuning),
 * `--no-random-probe`, `--no-raw-probe`, `--no-probe` (no linear probe at all), `--data-dir DIR`, `--out DIR`
 * (default `experiment-output`: reconstruction PNG, pre-trained weights,
 * the JSON lines appended to `runs.jsonl`), `--load FILE` (skip pre-training,
 * load these official-name weights), `--ft both|mae|scratch` (which
 * fine-tunings run; default both).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-wasm';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MaskedAutoencoder } from '../../src/model/MaskedAutoencoder';
import { imagesToTensor } from '../../src/data/batches';
import { mixSeed } from '../../src/data/rng';
import { imageDataSource } from '../../src/train/data';
import { pretrain } from '../../src/train/pretrain';
import { formatStep } from '../../src/train/progress';
import { extractPooledFeatures } from '../../src/eval/features';
import { linearProbe, type LinearProbeResult } from '../../src/eval/linearProbe';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors';
import { renderReconstructions } from '../../src/viz/reconstruction';
import { FMNIST_MEAN, FMNIST_STD, loadFashionMnist, type FashionMnistSplit } from '../common/fashionMnist';
import { writePng } from '../common/png';
import { finetunePhase } from './finetunePhase';
import { referenceModel, splitBatches } from './recipe';

interface Args {
  seed: number;
  normPix: boolean;
  json: boolean;
  epochs: number;
  ftEpochs: number;
  randomProbe: boolean;
  rawProbe: boolean;
  probe: boolean;
  dataDir?: string;
  out: string;
  load?: string;
  ft: 'both' | 'mae' | 'scratch';
}

function parseArgs(argv: string[]): Args {
  const a: Args = { seed: 0, normPix: false, json: false, epochs: 4, ftEpochs: 2, randomProbe: true, rawProbe: true, probe: true, out: 'experiment-output', ft: 'both' };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag}: expected a value`);
      return v;
    };
    const int = () => {
      const v = Number(value());
      if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${flag}: expected an integer >= 0, got ${argv[i]}`);
      return v;
    };
    if (flag === '--seed') a.seed = int();
    else if (flag === '--norm-pix') a.normPix = true;
    else if (flag === '--json') a.json = true;
    else if (flag === '--epochs') a.epochs = int();
    else if (flag === '--ft-epochs') a.ftEpochs = int();
    else if (flag === '--no-random-probe') a.randomProbe = false;
    else if (flag === '--no-raw-probe') a.rawProbe = false;
    else if (flag === '--no-probe') a.probe = a.randomProbe = a.rawProbe = false;
    else if (flag === '--data-dir') a.dataDir = value();
    else if (flag === '--out') a.out = value();
    else if (flag === '--load') a.load = value();
    else if (flag === '--ft') {
      const v = value();
      if (v !== 'both' && v !== 'mae' && v !== 'scratch') throw new Error(`--ft: expected both, mae or scratch, got ${v}`);
      a.ft = v;
    }
    else throw new Error(`unknown option ${flag} (see the comment at the top of examples/fmnist/experiment.ts)`);
  }
  return a;
}

const pct = (x: number) => Math.round(x * 10000) / 100;
const round = (x: number, d = 5) => Math.round(x * 10 ** d) / 10 ** d;

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const log = (s: string) => (args.json ? process.stderr : process.stdout).write(`${s}\n`);
  const lines: string[] = [];
  const emit = (obj: Record<string, unknown>) => {
    const line = JSON.stringify(obj);
    lines.push(line);
    process.stdout.write(`${line}\n`);
  };
  const times: Record<string, number> = {};
  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const out = await fn();
    times[name] = round((performance.now() - t0) / 1000, 1);
    log(`[time] ${name}: ${times[name]} s`);
    return out;
  };
  const tAll = performance.now();
  await tf.setBackend('wasm');
  await tf.ready();
  await mkdir(args.out, { recursive: true });

  // ---- data ---------------------------------------------------------------
  const data = await phase('data', () => loadFashionMnist(args.dataDir ? { dir: args.dataDir } : {}));
  if (data.source.kind !== 'full') log(`warning: the full data set was not found; using the embedded subset (${data.source.dir})`);
  const tag = `seed${args.seed}_np${args.normPix ? 1 : 0}`;
  emit({
    kind: 'config', tag, seed: args.seed, normPixLoss: args.normPix, backend: tf.getBackend(), tfjs: tf.version_core,
    data: { ...data.source, train: data.train.n, test: data.test.n, mean: FMNIST_MEAN, std: FMNIST_STD },
    recipe: {
      model: 'img 28 patch 4 C 1, 128/4/4, decoder 64/2/4, mlp 4, mask 0.75, eps 1e-6',
      pretrain: { epochs: args.epochs, batch: 256, dropLast: true, lr: 1.5e-3, warmupFraction: 0.05, minLr: 0, betas: [0.9, 0.95], weightDecay: 0.05 },
      probe: { epochs: 10, batch: 256, lr: 1e-3, betas: [0.9, 0.999], bn: 'affine=false eps 1e-6 momentum 0.1' },
      finetune: { epochs: args.ftEpochs, batch: 256, lr: 1e-3, betas: [0.9, 0.999], weightDecay: 0.05, layerDecay: 0.75 },
    },
    timeSeconds: times.data,
  });

  // ---- model --------------------------------------------------------------
  const mae = referenceModel(args.seed, args.normPix);
  const initDict = mae.stateDict();
  const initWeights = await writeSafetensors(initDict); // the random init, for the baselines
  tf.dispose(Object.values(initDict));

  // ---- pre-training -------------------------------------------------------
  const batchSize = 256;
  const source = imageDataSource(data.train.images, undefined, {
    batchSize, imageShape: [28, 28, 1], seed: args.seed, mean: FMNIST_MEAN, std: FMNIST_STD, dropLast: true,
  });
  const totalSteps = args.epochs * source.batchesPerEpoch!;
  let lossCurve: number[] = [];
  if (args.load) {
    const tensors = readSafetensors(new Uint8Array(await readFile(args.load)));
    mae.loadStateDict(tensors);
    tf.dispose(Object.values(tensors));
    log(`loaded ${args.load}; pre-training skipped`);
  } else if (args.epochs > 0) {
    const every = Math.max(1, Math.round(source.batchesPerEpoch! / 10));
    const result = await phase('pretrain', () =>
      pretrain(mae, source, {
        epochs: args.epochs,
        lr: 1.5e-3,
        warmupSteps: 0.05 * totalSteps,
        minLr: 0,
        weightDecay: 0.05,
        betas: [0.9, 0.95],
        eps: 1e-8,
        seed: args.seed,
        progress: false,
        onStep: (i) => {
          if ((i.stepInEpoch + 1) % every === 0) log(`[pretrain] ${formatStep(i)}`);
        },
        onEpoch: (e) => {
          log(`[pretrain] epoch ${e.epoch + 1}/${e.epochs} loss ${e.meanLoss.toFixed(4)} (${e.seconds.toFixed(1)} s)`);
          emit({ kind: 'epoch', phase: 'pretrain', epoch: e.epoch + 1, loss: round(e.meanLoss), seconds: round(e.seconds, 1) });
        },
      }),
    );
    lossCurve = result.epochLosses.map((l) => round(l));
    emit({ kind: 'phase', phase: 'pretrain', steps: totalSteps, lossCurve, timeSeconds: times.pretrain });
    const dict = mae.stateDict();
    await writeFile(join(args.out, `mae_${tag}.safetensors`), await writeSafetensors(dict, { recipe: 'fmnist_ref', seed: String(args.seed) }));
    tf.dispose(Object.values(dict));
  }

  // ---- masked test loss (fixed masks) and the reconstruction figure -------
  const testLoss = await phase('test_loss', async () => {
    let total = 0;
    let k = 0;
    for (const xb of splitBatches(data.test, 250)) {
      const loss = mae.loss(xb, { seed: mixSeed(0, k++) });
      total += (await loss.data())[0] * xb.shape[0];
      tf.dispose([loss, xb]);
    }
    return total / data.test.n;
  });
  emit({ kind: 'phase', phase: 'test_loss', testLoss: round(testLoss), timeSeconds: times.test_loss });
  const first8 = imagesToTensor(data.test.images.subarray(0, 8 * 784), [8, 28, 28, 1], { mean: FMNIST_MEAN, std: FMNIST_STD });
  const figure = await renderReconstructions(mae, first8, { seed: 0, mean: FMNIST_MEAN, std: FMNIST_STD });
  first8.dispose();
  const png = join(args.out, `recon_${tag}.png`);
  if (!args.normPix) await writePng(png, figure);

  // ---- linear probes ------------------------------------------------------
  const probes: Record<string, LinearProbeResult> = {};
  const probeBoth = async (name: string, model: MaskedAutoencoder) => {
    const feats = await phase(`features_${name}`, async () => {
      const train = await extractPooledFeatures(model.encoder, splitBatches(data.train, 128));
      const test = await extractPooledFeatures(model.encoder, splitBatches(data.test, 128));
      return { train, test };
    });
    await phase(`probe_${name}`, async () => {
      for (const pool of ['mean', 'cls'] as const) {
        probes[`${name}_${pool}`] = await linearProbe(feats.train[pool]!, data.train.labels, feats.test[pool]!, data.test.labels, { seed: args.seed });
      }
    });
    tf.dispose([feats.train.mean!, feats.train.cls!, feats.test.mean!, feats.test.cls!]);
    const summary = (r: LinearProbeResult) => ({ testAcc: pct(r.accuracy), trainAcc: pct(r.trainAccuracy), finalTrainLoss: round(r.epochLosses.at(-1)!, 4) });
    emit({
      kind: 'phase', phase: `probe_${name}`, mean: summary(probes[`${name}_mean`]), cls: summary(probes[`${name}_cls`]),
      timeSeconds: { features: times[`features_${name}`], probe: times[`probe_${name}`] },
    });
    log(`[probe] ${name}: mean-pool ${pct(probes[`${name}_mean`].accuracy)} %, cls ${pct(probes[`${name}_cls`].accuracy)} %`);
  };
  if (args.probe) await probeBoth('mae', mae);

  const fromInit = () => {
    const model = referenceModel(args.seed, args.normPix);
    const tensors = readSafetensors(initWeights);
    model.loadStateDict(tensors);
    tf.dispose(Object.values(tensors));
    return model;
  };
  if (args.randomProbe) {
    const rnd = fromInit();
    await probeBoth('random', rnd);
    rnd.dispose();
  }
  if (args.rawProbe) {
    await phase('probe_raw', async () => {
      const pixels = (split: FashionMnistSplit) =>
        tf.tidy(() => tf.reshape(imagesToTensor(split.images, [split.n, 28, 28, 1], { mean: FMNIST_MEAN, std: FMNIST_STD }), [split.n, 784]));
      const tr = pixels(data.train);
      const te = pixels(data.test);
      probes.raw_pixels = await linearProbe(tr, data.train.labels, te, data.test.labels, { seed: args.seed });
      tf.dispose([tr, te]);
    });
    emit({ kind: 'phase', phase: 'probe_raw', testAcc: pct(probes.raw_pixels.accuracy), trainAcc: pct(probes.raw_pixels.trainAccuracy), timeSeconds: times.probe_raw });
    log(`[probe] raw pixels: ${pct(probes.raw_pixels.accuracy)} %`);
  }

  // ---- fine-tuning --------------------------------------------------------
  const ft: Record<string, { testAcc: number; lossCurve: number[] }> = {};
  if (args.ftEpochs > 0) {
    for (const [name, model] of [['mae', mae], ['scratch', undefined]] as const) {
      if (args.ft !== 'both' && args.ft !== name) continue;
      const source = model ?? fromInit();
      ft[name] = await phase(`finetune_${name}`, () =>
        finetunePhase(source, data, { seed: args.seed, epochs: args.ftEpochs, log: (s) => log(`[ft ${name}] ${s}`) }),
      );
      if (model === undefined) source.dispose();
      emit({ kind: 'phase', phase: `finetune_${name}`, ...ft[name], timeSeconds: times[`finetune_${name}`] });
    }
  }
  mae.dispose();

  const total = round((performance.now() - tAll) / 1000, 1);
  const acc = (k: string) => (probes[k] ? pct(probes[k].accuracy) : null);
  emit({
    kind: 'result', tag, seed: args.seed, normPixLoss: args.normPix, backend: tf.getBackend(),
    pretrainLoss: lossCurve, testLoss: round(testLoss),
    linearProbe: acc('mae_mean'), linearProbeCls: acc('mae_cls'),
    linearProbeRandomInit: acc('random_mean'), linearProbeRandomInitCls: acc('random_cls'),
    linearProbePixels: acc('raw_pixels'),
    finetune: ft.mae?.testAcc ?? null, finetuneScratch: ft.scratch?.testAcc ?? null,
    finetuneLoss: { mae: ft.mae?.lossCurve ?? null, scratch: ft.scratch?.lossCurve ?? null },
    png: args.normPix ? null : png,
    timeSeconds: { ...times, total },
  });
  await appendFile(join(args.out, 'runs.jsonl'), `${lines.join('\n')}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
