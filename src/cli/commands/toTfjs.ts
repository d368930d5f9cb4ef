/**
 * `tfjs-mae convert IN OUTDIR --to tfjs`: builds the model a state dict
 * implies and saves it as a tfjs model folder. This needs a tfjs backend in
 * Node: `@tensorflow/tfjs-node` when installed, else `@tensorflow/tfjs-backend-cpu`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MAEError } from '../../errors';
import { type HostTensors, toTfTensors } from '../../io/hostTensor';
import { inferConfig, type InferHints } from '../../io/inferConfig';
import { nodeFolderHandler } from '../../io/nodeFolder';
import { saveModel } from '../../io/tfjsModel';
import { MaskedAutoencoder } from '../../model/MaskedAutoencoder';
import { ViTEncoder } from '../../encode/ViTEncoder';
import { ViTClassifier } from '../../classify/ViTClassifier';
import { loadStateDict, summarise } from '../../io/stateDict';
import type { MAELayer } from '../../nn/MAELayer';

async function ensureBackend(): Promise<void> {
  for (const pkg of ['@tensorflow/tfjs-node', '@tensorflow/tfjs-backend-cpu']) {
    try {
      await import(pkg);
      if (pkg.endsWith('cpu')) await tf.setBackend('cpu');
      await tf.ready();
      return;
    } catch {
      // try the next one
    }
  }
  throw new MAEError('--to tfjs needs a tfjs backend: npm install @tensorflow/tfjs-backend-cpu (or @tensorflow/tfjs-node)');
}

/** Writes `official` (official names, torch layouts) as a tfjs model folder `outDir`. */
export async function convertToTfjsFolder(official: HostTensors, outDir: string, hints: InferHints, out: (line: string) => void): Promise<void> {
  await ensureBackend();
  const shapes = new Map([...official].map(([n, t]) => [n, t.shape]));
  const { kind, config } = inferConfig(shapes, hints);
  const { imgSize, patchSize, inChans, embedDim, depth, numHeads, mlpRatio, layerNormEps } = config;
  const encoderArgs = { imgSize, patchSize, inChans, embedDim, depth, numHeads, mlpRatio, layerNormEps };
  const model: MAELayer =
    kind === 'mae'
      ? new MaskedAutoencoder(config)
      : kind === 'encoder'
        ? new ViTEncoder(encoderArgs)
        : new ViTClassifier({ ...encoderArgs, numClasses: config.numClasses, globalPool: config.globalPool });
  const className = (model.constructor as unknown as { className: string }).className;
  const tensors = toTfTensors(official);
  try {
    const report = loadStateDict(model.stateEntries(), tensors, { naming: 'official', strict: true });
    out(`loaded: ${summarise(report)}`);
    const result = await saveModel(model, nodeFolderHandler(outDir));
    const bytes = result.modelArtifactsInfo.weightDataBytes ?? 0;
    out(`wrote ${outDir}: ${className} (embedDim ${config.embedDim}, depth ${config.depth}, ${config.numHeads} heads), ${bytes.toLocaleString('en-US')} weight bytes`);
  } finally {
    tf.dispose(Object.values(tensors));
    model.dispose();
  }
}
