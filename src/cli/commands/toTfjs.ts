/**
 * `tfjs-mae convert IN OUTDIR --to tfjs`: builds the model the file holds
 * (its stored config, else names and shapes plus the hints) and saves it as a
 * tfjs model folder. This needs a tfjs backend in Node (see ../backend.ts).
 */
import { nodeFolderHandler } from '../../io/nodeFolder';
import { saveModel } from '../../io/tfjsModel';
import { summarise } from '../../io/stateDict';
import { setupBackend } from '../backend';
import { loadModel, type LoadModelOptions } from '../model';

/** Writes the model of weights file `input` as a tfjs model folder `outDir`. */
export async function convertToTfjsFolder(input: string, outDir: string, hints: LoadModelOptions, out: (line: string) => void): Promise<void> {
  await setupBackend('auto');
  const { model, config, notes, report } = await loadModel(input, hints);
  try {
    for (const note of notes) out(`note: ${note}`);
    out(`loaded: ${summarise(report)}`);
    const result = await saveModel(model, nodeFolderHandler(outDir));
    const bytes = result.modelArtifactsInfo.weightDataBytes ?? 0;
    const className = (model.constructor as unknown as { className: string }).className;
    out(`wrote ${outDir}: ${className} (embedDim ${config.embedDim}, depth ${config.depth}, ${config.numHeads} heads), ${bytes.toLocaleString('en-US')} weight bytes`);
  } finally {
    model.dispose();
  }
}
