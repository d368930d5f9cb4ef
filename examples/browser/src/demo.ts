/**
 * The demo's state machine: load the weights and test images once, build the
 * model on the chosen backend, run forward passes and draw the reconstruction
 * figure. Every operation runs in one queue, so a backend switch never
 * overlaps a forward pass. Tensors are read only with `await data()`
 * (webgpu cannot read synchronously).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { MaskedAutoencoder } from '../../../src';
import { readIdx } from '../../../src/data/idx';
import type { RgbaImage } from '../../../src/viz/reconstruction';
import { buildModel, figure, imageBatch, lossOf, type DemoModelSpec } from './model';

// The wasm binaries are served next to the page (see demoAssets.ts).
setWasmPaths(new URL('./wasm/', document.baseURI).href);

/** Backends the page offers. */
export const BACKENDS = ['webgl', 'wasm', 'cpu', 'webgpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** What one rendered forward pass produced. */
export interface Rendered {
  /** The figure: rows original, masked, reconstruction, pasted; one column per image. */
  picture: RgbaImage;
  /** Indices of the images (columns). */
  indices: number[];
  /** Wall time of the forward pass until its outputs were on the host, ms. */
  forwardMs: number;
  /** The masked-patch loss of the batch (normalised pixel units). */
  loss: number;
  /** Patches removed per image. */
  maskedCount: number;
  /** Patches per image, L. */
  numPatches: number;
  backend: string;
  seed: number;
  maskRatio: number;
}

async function fetchBytes(path: string): Promise<Uint8Array> {
  const res = await fetch(new URL(path, document.baseURI));
  if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** Model, data and the serial queue of the page. */
export class Demo {
  private weights!: Uint8Array;
  /** `N·28·28` uint8 test pixels. */
  pixels!: Uint8Array;
  /** `N` labels. */
  labels!: Uint8Array;
  private model: MaskedAutoencoder | null = null;
  spec!: DemoModelSpec;
  private queue: Promise<unknown> = Promise.resolve();

  /** Fetches the weights and the test images. */
  async load(): Promise<void> {
    const [weights, images, labels] = await Promise.all([
      fetchBytes('weights/mae-fmnist-tiny.safetensors'),
      fetchBytes('data/fmnist-test-16-images.idx'),
      fetchBytes('data/fmnist-test-16-labels.idx'),
    ]);
    this.weights = weights;
    this.pixels = (await readIdx(images)).data as Uint8Array;
    this.labels = (await readIdx(labels)).data as Uint8Array;
  }

  /** Number of test images available. */
  get numImages(): number {
    return this.labels.length;
  }

  /** Runs `fn` after every operation queued before it. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Switches tfjs to `name` and rebuilds the model there from the weight
   * bytes (rather than letting tfjs move the old backend's tensors, which
   * would read them synchronously).
   */
  useBackend(name: BackendName): Promise<string> {
    return this.serial(async () => {
      this.model?.dispose();
      this.model = null;
      // (No tf.ready() after a failed setBackend: it would start the highest-priority backend instead.)
      if (!(await tf.setBackend(name)) || tf.getBackend() !== name) throw new Error(`backend ${name} did not initialise`);
      const built = buildModel(this.weights);
      this.model = built.model;
      this.spec = built.spec;
      return tf.getBackend();
    });
  }

  /** The model's resolved configuration, once a backend has been chosen. */
  get config(): MaskedAutoencoder['config'] | undefined {
    return this.model?.config;
  }

  private requireModel(): MaskedAutoencoder {
    if (!this.model) throw new Error('no model: choose a backend first');
    return this.model;
  }

  /** One forward pass over `indices` with the mask from `seed`, and its figure. */
  render(indices: number[], seed: number, maskRatio: number): Promise<Rendered> {
    return this.serial(async () => {
      const model = this.requireModel();
      const imgs = imageBatch(this.pixels, indices, this.spec);
      try {
        const t0 = performance.now();
        const out = model.forward(imgs, { seed, maskRatio });
        try {
          const [loss, mask] = await Promise.all([out.loss.data(), out.mask.data(), out.pred.data()]);
          const forwardMs = performance.now() - t0;
          const picture = await figure(model, imgs, out.pred, out.mask, this.spec);
          const numPatches = model.numPatches;
          let maskedCount = 0;
          for (let j = 0; j < numPatches; j++) maskedCount += mask[j];
          return { picture, indices, forwardMs, loss: loss[0], maskedCount, numPatches, backend: tf.getBackend(), seed, maskRatio };
        } finally {
          tf.dispose([out.loss, out.pred, out.mask, out.idsRestore, out.idsKeep, out.latent]);
        }
      } finally {
        imgs.dispose();
      }
    });
  }

  /** The loss of image `index` alone with the mask drawn from `noiseSeed`. */
  lossFor(index: number, noiseSeed: number, maskRatio = 0.75): Promise<number> {
    return this.serial(() => lossOf(this.requireModel(), this.pixels, index, noiseSeed, maskRatio, this.spec));
  }
}
