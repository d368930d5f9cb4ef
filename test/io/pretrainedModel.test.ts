/**
 * fromPretrained: our safetensors files, official .pth files (inferred
 * config), HF model folders (config.json + model.safetensors) from a path,
 * a local URL, a Blob or bytes; saveWeights embeds the config; cpu and wasm.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ByteSource,
  CheckpointError,
  MaskedAutoencoder,
  ViTClassifier,
  ViTEncoder,
  encodeSafetensors,
  loadPretrained,
  loadPretrainedModel,
  readWeights,
  maeVitTinyPatch4,
  modelConfigOf,
  parseSafetensors,
  readSafetensors,
  saveWeights,
  toHFConfig,
} from '../../src';
import { describeBackends, expectNoLeaks, expectTensorsClose } from '../../src/testing';
import { FIXTURES_DIR, readBytes } from '../helpers/fixtures';

const fixture = (name: string): string => path.join(FIXTURES_DIR, name);

/** ViTMAEConfig of the mae_tiny fixture (official eps 1e-6). */
const TINY_HF_CONFIG = {
  architectures: ['ViTMAEForPreTraining'], model_type: 'vit_mae', hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4,
  intermediate_size: 256, hidden_act: 'gelu', qkv_bias: true, layer_norm_eps: 1e-6, image_size: 32, patch_size: 8, num_channels: 3,
  decoder_hidden_size: 32, decoder_num_hidden_layers: 1, decoder_num_attention_heads: 4, decoder_intermediate_size: 128,
  mask_ratio: 0.75, norm_pix_loss: false,
};

let dir: string;
let server: http.Server;
let baseUrl: string;
let ref: Record<string, tf.Tensor>;
/** Requests the server saw: path, Range header (if any) and the status it answered. */
const requests: Array<{ path: string; range?: string; status: number }> = [];

/**
 * Serves `file`: under /ranged/ it honours `Range: bytes=a-b` with 206 and a
 * Content-Range (as HF's CDN and most static servers do); elsewhere it
 * ignores Range and sends the whole file with a Content-Length.
 */
function serve(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const ranged = url.pathname.startsWith('/ranged/');
  const file = path.join(dir, decodeURIComponent(ranged ? url.pathname.slice('/ranged'.length) : url.pathname));
  const log = (status: number): void => void requests.push({ path: url.pathname, range: req.headers.range, status });
  if (!file.startsWith(dir) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
    log(404);
    res.writeHead(404).end();
    return;
  }
  const bytes = fs.readFileSync(file);
  const m = ranged ? /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '') : null;
  if (m) {
    const [a, b] = [Number(m[1]), Math.min(Number(m[2]), bytes.length - 1)];
    log(206);
    res.writeHead(206, { 'content-range': `bytes ${a}-${b}/${bytes.length}`, 'content-length': b - a + 1 }).end(bytes.subarray(a, b + 1));
    return;
  }
  log(200);
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length }).end(bytes);
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-mae-pretrained-'));
  // an HF model folder: config.json + model.safetensors (the official fixture's HF copy)
  fs.mkdirSync(path.join(dir, 'tiny-hf'));
  fs.writeFileSync(path.join(dir, 'tiny-hf', 'config.json'), JSON.stringify(TINY_HF_CONFIG));
  fs.copyFileSync(fixture('mae_tiny.hf.safetensors'), path.join(dir, 'tiny-hf', 'model.safetensors'));
  fs.mkdirSync(path.join(dir, 'empty'));
  // a static file server on 127.0.0.1 (no hub)
  server = http.createServer(serve);
  server.keepAliveTimeout = 60_000; // a busy machine can leave more than the 5 s default between two requests
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  ref = readSafetensors(readBytes(fixture('mae_tiny.safetensors')));
});

afterAll(async () => {
  tf.dispose(Object.values(ref));
  await new Promise((resolve) => server.close(resolve));
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The model's loss on the fixture's images and noise (the official forward gives out.loss). */
async function lossOn(model: MaskedAutoencoder): Promise<number> {
  const loss = model.loss(ref['input.imgs_nhwc'], { noise: ref['input.noise'] });
  const value = (await loss.data())[0];
  loss.dispose();
  return value;
}

describeBackends(['cpu', 'wasm'], (backend) => {
  describe('MaskedAutoencoder.fromPretrained', () => {
    let officialLoss: number;
    beforeAll(async () => {
      officialLoss = (await ref['out.loss'].data())[0];
    });

    it(`an HF folder (config.json + model.safetensors) from a path and from a 127.0.0.1 URL gives the official loss [${backend}]`, async () => {
      for (const source of [path.join(dir, 'tiny-hf'), `${baseUrl}/tiny-hf`, `${baseUrl}/tiny-hf/`]) {
        const { model, config, report } = await loadPretrainedModel(source);
        expect(config.source).toBe('hf-config');
        expect(model).toBeInstanceOf(MaskedAutoencoder);
        expect(modelConfigOf(model).config).toMatchObject({ numHeads: 4, decoderNumHeads: 4, layerNormEps: 1e-6 });
        expect(report.summary).toContain('config: MaskedAutoencoder from config.json');
        expect(Math.abs((await lossOn(model as MaskedAutoencoder)) - officialLoss)).toBeLessThan(1e-5);
        model.dispose();
      }
    });

    it(`an official .pth needs the heads of its non-preset widths, then gives the official loss [${backend}]`, async () => {
      await expect(MaskedAutoencoder.fromPretrained(fixture('mae_tiny.pth'))).rejects.toThrow(
        /mae_tiny\.pth: cannot infer numHeads: the encoder is 64 wide.*hints\.numHeads/,
      );
      const again = await MaskedAutoencoder.fromPretrained(fixture('mae_tiny.pth'), { hints: { numHeads: 4, decoderNumHeads: 4 } });
      expect(Math.abs((await lossOn(again)) - officialLoss)).toBeLessThan(1e-5);
      again.dispose();
    });

    it(`our file (saveWeights) rebuilds the same model from bytes, a Blob, a file and a URL: same loss [${backend}]`, async () => {
      const mae = maeVitTinyPatch4({ imgSize: 32, inChans: 3, patchSize: 8, embedDim: 48, numHeads: 6, decoderEmbedDim: 24, decoderNumHeads: 3, normPixLoss: true, seed: 4 });
      const bytes = await saveWeights(mae, { metadata: { recipe: '{"lr":0.003}' } });
      expect(parseSafetensors(bytes).metadata.recipe).toBe('{"lr":0.003}');
      fs.writeFileSync(path.join(dir, 'ours.safetensors'), bytes);
      const want = await lossOn(mae);
      for (const source of [bytes, new Blob([bytes as Uint8Array<ArrayBuffer>]), path.join(dir, 'ours.safetensors'), `${baseUrl}/ours.safetensors`, new URL(`file://${path.join(dir, 'ours.safetensors')}`)]) {
        const { model, config, metadata } = await loadPretrainedModel(source);
        expect(config.source).toBe('metadata');
        expect(metadata.recipe).toBe('{"lr":0.003}');
        expect(modelConfigOf(model)).toEqual(modelConfigOf(mae));
        expect(await lossOn(model as MaskedAutoencoder)).toBe(want);
        model.dispose();
      }
      mae.dispose();
    });

    it(`the repository's example weights keep 4 and 4 heads and their trained loss [${backend}]`, async () => {
      const file = path.join(FIXTURES_DIR, '..', '..', 'examples', 'weights', 'mae-fmnist-tiny.safetensors');
      const mae = await MaskedAutoencoder.fromPretrained(file);
      expect(mae.config).toMatchObject({ numHeads: 4, decoderNumHeads: 4, embedDim: 64, decoderEmbedDim: 32 });
      mae.dispose();
    });
  });
}, { describe, beforeAll });

describe('fromPretrained: sources and errors', () => {
  it('{ weights, config } (an HF folder dropped on a page), config as text, bytes or object', async () => {
    const weights = readBytes(fixture('mae_tiny.hf.safetensors'));
    for (const config of [TINY_HF_CONFIG, JSON.stringify(TINY_HF_CONFIG), new TextEncoder().encode(JSON.stringify(TINY_HF_CONFIG)), new Blob([JSON.stringify(TINY_HF_CONFIG)])]) {
      const { model, config: resolved } = await loadPretrainedModel({ weights: new Blob([weights as Uint8Array<ArrayBuffer>]), config, name: 'dropped' });
      expect(resolved.source).toBe('hf-config');
      model.dispose();
    }
  });

  it('an encoder-only file as an MAE gets a fresh official decoder, reported', async () => {
    const enc = new ViTEncoder({ imgSize: 32, patchSize: 8, embedDim: 48, depth: 1, numHeads: 6, seed: 1 });
    const bytes = await saveWeights(enc);
    const { model, report } = await loadPretrainedModel(bytes, {}, 'MaskedAutoencoder');
    expect(model).toBeInstanceOf(MaskedAutoencoder);
    expect(modelConfigOf(model).config).toMatchObject({ embedDim: 48, numHeads: 6, decoderEmbedDim: 512, decoderDepth: 8, decoderNumHeads: 16 });
    expect(report.summary.join('\n')).toMatch(/official decoder .* initialised fresh/);
    expect(report.summary.join('\n')).toMatch(/decoder: 0 of \d+ tensors, initialised fresh/);
    model.dispose();
    const plain = await loadPretrainedModel(bytes);
    expect(plain.model).toBeInstanceOf(ViTEncoder);
    plain.model.dispose();
    enc.dispose();
  });

  it('errors name the file: missing file, folder without weights, 404, not a weights file, a classifier as an MAE', async () => {
    await expect(loadPretrainedModel(path.join(dir, 'nope.safetensors'))).rejects.toThrow(/nope\.safetensors.*no such file/);
    await expect(loadPretrainedModel(path.join(dir, 'empty'))).rejects.toThrow(/model folder ".*empty" has no weights file \(looked for model\.safetensors, pytorch_model\.bin\)/);
    await expect(loadPretrainedModel(`${baseUrl}/missing.safetensors`)).rejects.toThrow(/missing\.safetensors.*HTTP 404/);
    await expect(loadPretrainedModel({ weights: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]), name: 'junk.bin' })).rejects.toThrow(/^junk\.bin: neither a PyTorch/);
    const clf = new ViTClassifier({ imgSize: 16, patchSize: 4, embedDim: 32, depth: 1, numHeads: 2, numClasses: 3 });
    await expect(MaskedAutoencoder.fromPretrained(await saveWeights(clf))).rejects.toThrow(/holds a MAEViTClassifier, not a MaskedAutoencoder/);
    clf.dispose();
    await expect(loadPretrainedModel(42 as unknown as string)).rejects.toThrow(CheckpointError);
  });

  it('a stored config that contradicts a hint fails before building', async () => {
    const mae = maeVitTinyPatch4();
    const bytes = await saveWeights(mae);
    await expect(MaskedAutoencoder.fromPretrained(bytes, { hints: { numHeads: 8 } })).rejects.toThrow(/numHeads 8 \(hints\.numHeads\) contradicts the config stored in the file \(numHeads 4\)/);
    mae.dispose();
  });

  it('leaves no tensors behind on success (beyond the model) and on error', async () => {
    const before = tf.memory().numTensors;
    const model = await MaskedAutoencoder.fromPretrained(path.join(dir, 'tiny-hf'));
    const weights = model.weights.length;
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(weights).toBeGreaterThan(0);
    await expectNoLeaks(() => expect(MaskedAutoencoder.fromPretrained(fixture('mae_tiny.pth'))).rejects.toThrow(CheckpointError), 'fromPretrained error');
  });
});

/**
 * A safetensors file made to look 2.5 GB big: a padding tensor of `pad`
 * bytes comes first, the real tensors after it. The padding is never
 * stored: reads of it return zeros, and every read is recorded.
 */
function paddedSource(bytes: Uint8Array, pad: number, name: string): { source: ByteSource; reads: Array<[number, number]> } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, { data_offsets?: [number, number] }>;
  const shifted: Record<string, unknown> = { pad: { dtype: 'U8', shape: [pad], data_offsets: [0, pad] } };
  for (const [key, value] of Object.entries(header)) {
    shifted[key] = value.data_offsets ? { ...value, data_offsets: value.data_offsets.map((o) => o + pad) } : value;
  }
  const json = new TextEncoder().encode(JSON.stringify(shifted));
  const head = new Uint8Array(8 + json.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(json.length), true);
  head.set(json, 8);
  const data = bytes.subarray(8 + n);
  const reads: Array<[number, number]> = [];
  const source: ByteSource = {
    name,
    size: head.length + pad + data.length,
    async read(offset, length) {
      reads.push([offset, length]);
      if (offset + length > source.size) throw new CheckpointError(`${name}: read past the end`);
      const out = new Uint8Array(length);
      for (let i = 0; i < length; i++) {
        const at = offset + i;
        out[i] = at < head.length ? head[at] : at < head.length + pad ? 0 : data[at - head.length - pad];
      }
      return out;
    },
  };
  return { source, reads };
}

describe('fromPretrained reads by ranges', () => {
  it('a source over 2 GiB (a ByteSource that serves ranges lazily): only the header and the model tensors are read, one at a time', async () => {
    const mae = maeVitTinyPatch4({ seed: 3 });
    const bytes = await saveWeights(mae, { metadata: { recipe: '{"epochs":1}' } });
    const { source, reads } = paddedSource(bytes, Math.round(2.5 * 2 ** 30), 'mae_pretrain_vit_huge.safetensors');
    expect(source.size).toBeGreaterThan(2 ** 31);
    const loaded: number[] = [];
    const { model, metadata, file, report } = await loadPretrainedModel(source, { onProgress: (l, total) => (expect(total).toBe(source.size), loaded.push(l)) });
    expect(file).toBe('mae_pretrain_vit_huge.safetensors');
    expect(metadata.recipe).toBe('{"epochs":1}');
    expect(report.ignored.map((i) => i.name)).toEqual(['pad']);
    const sd = (model as MaskedAutoencoder).stateDict();
    const want = mae.stateDict();
    for (const name of Object.keys(want)) await expectTensorsClose(sd[name], want[name], { atol: 0, rtol: 0, name });
    // the padding is never read; the largest read is one tensor (or the header)
    const padEnd = source.size - (bytes.length - 8 - Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true)));
    const largest = Math.max(...Object.values(want).map((t) => t.size * 4));
    expect(reads.every(([o, l]) => o + l <= 2 ** 20 || o >= padEnd)).toBe(true);
    expect(Math.max(...reads.map(([, l]) => l))).toBeLessThanOrEqual(Math.max(largest, 2 ** 16));
    expect(loaded.at(-1)).toBeGreaterThan(0);
    expect(loaded).toEqual([...loaded].sort((a, b) => a - b));
    tf.dispose([...Object.values(sd), ...Object.values(want)]);
    model.dispose();
    mae.dispose();
  });

  it('a URL whose server honours Range is read by Range requests (the weights never in one response); onProgress counts the tensor bytes', async () => {
    requests.length = 0;
    const size = fs.statSync(path.join(dir, 'tiny-hf', 'model.safetensors')).size;
    const progress: Array<[number, number | undefined]> = [];
    const { model, config } = await loadPretrainedModel(`${baseUrl}/ranged/tiny-hf`, { onProgress: (l, t) => progress.push([l, t]) });
    expect(config.source).toBe('hf-config');
    expect(Math.abs((await lossOn(model as MaskedAutoencoder)) - (await ref['out.loss'].data())[0])).toBeLessThan(1e-5);
    model.dispose();
    const weights = requests.filter((r) => r.path === '/ranged/tiny-hf/model.safetensors');
    expect(weights.length).toBeGreaterThan(3);
    expect(weights.every((r) => r.status === 206 && r.range !== undefined)).toBe(true);
    expect(progress.every(([, t]) => t === size)).toBe(true);
    expect(progress.at(-1)![0]).toBeGreaterThan(size / 2);
  });

  it('a URL whose server ignores Range is downloaded once, streamed, with progress against its Content-Length', async () => {
    requests.length = 0;
    const size = fs.statSync(path.join(dir, 'tiny-hf', 'model.safetensors')).size;
    const progress: Array<[number, number | undefined]> = [];
    const model = await MaskedAutoencoder.fromPretrained(`${baseUrl}/tiny-hf`, { onProgress: (l, t) => progress.push([l, t]) });
    model.dispose();
    expect(requests.filter((r) => r.path === '/tiny-hf/model.safetensors').map((r) => r.status)).toEqual([200]);
    expect(progress.at(-1)).toEqual([size, size]);
  });
});

describe('loadPretrained with the file metadata', () => {
  it('a model whose heads differ from the stored config is refused before anything is written; other sizes are reported', async () => {
    const source = maeVitTinyPatch4({ seed: 1 });
    const file = readWeights(await saveWeights(source, { metadata: { recipe: '{}' } }));
    const other = maeVitTinyPatch4({ numHeads: 2, decoderNumHeads: 8, seed: 2 });
    const before = other.stateDict();
    expect(() => loadPretrained(other, file.tensors, { metadata: file.metadata, file: 'mae.safetensors' })).toThrow(
      /mae\.safetensors stores a MaskedAutoencoder config that does not match the model: numHeads 4 in the file, 2 in the model; decoderNumHeads 4 in the file, 8 in the model/,
    );
    const after = other.stateDict();
    await expectTensorsClose(after['blocks.0.attn.qkv.weight'], before['blocks.0.attn.qkv.weight'], { atol: 0, rtol: 0 });
    const bigger = maeVitTinyPatch4({ imgSize: 32 });
    const report = loadPretrained(bigger, file.tensors, { metadata: file.metadata });
    expect(report.storedConfig?.className).toBe('MaskedAutoencoder');
    expect(report.summary).toContain('config: imgSize [28, 28] in the file, [32, 32] in the model');
    tf.dispose([...Object.values(before), ...Object.values(after), ...Object.values(file.tensors)]);
    [source, other, bigger].forEach((m) => m.dispose());
  });
});

describe('ViTClassifier.fromPretrained', () => {
  let cls: Record<string, tf.Tensor>;
  beforeAll(() => {
    cls = readSafetensors(readBytes(fixture('vit_cls_tiny.safetensors')));
  });
  afterAll(() => tf.dispose(Object.values(cls)));

  it('a fine-tuned classifier file (official names, inferred config) gives the official logits', async () => {
    const params = parseSafetensors(readBytes(fixture('vit_cls_tiny.safetensors'))).tensors;
    const official = new Map([...params].filter(([n]) => n.startsWith('param.')).map(([n, t]) => [n.slice(6), t]));
    const bytes = encodeSafetensors(official);
    await expect(ViTClassifier.fromPretrained(bytes)).rejects.toThrow(/cannot infer numHeads/);
    const clf = await ViTClassifier.fromPretrained(bytes, { hints: { numHeads: 4 } });
    expect(clf.numClasses).toBe(10);
    const { logits, features } = clf.forward(cls['input.imgs_nhwc']);
    await expectTensorsClose(logits, cls['out.logits'], { atol: 1e-5, name: 'logits' });
    tf.dispose([logits, features]);
    await expect(ViTClassifier.fromPretrained(bytes, { hints: { numHeads: 4 }, numClasses: 5 })).rejects.toThrow(/holds a classifier of 10 classes, options.numClasses is 5/);
    // our own classifier file needs no hint
    const again = await ViTClassifier.fromPretrained(await saveWeights(clf));
    expect(modelConfigOf(again)).toEqual(modelConfigOf(clf));
    again.dispose();
    clf.dispose();
  });

  it('an HF ViTMAE folder becomes a classifier through fromMAE (encoder loaded, new head); numClasses is required', async () => {
    await expect(ViTClassifier.fromPretrained(path.join(dir, 'tiny-hf'))).rejects.toThrow(/holds a pre-trained MAE, not a classifier: pass options.numClasses/);
    const clf = await ViTClassifier.fromPretrained(`${baseUrl}/tiny-hf`, { numClasses: 7, seed: 1 });
    expect(clf.numClasses).toBe(7);
    const mae = await MaskedAutoencoder.fromPretrained(path.join(dir, 'tiny-hf'));
    const a = clf.stateDict();
    const b = mae.stateDict();
    await expectTensorsClose(a['blocks.1.attn.qkv.weight'], b['blocks.1.attn.qkv.weight'], { atol: 0, rtol: 0 });
    // built straight from the file (one model in memory), it is the classifier fromMAE makes: every weight, the new head included
    const viaMAE = ViTClassifier.fromMAE(mae, { numClasses: 7, seed: 1 });
    expect(modelConfigOf(clf)).toEqual({ ...modelConfigOf(viaMAE), config: { ...modelConfigOf(viaMAE).config } });
    const c = viaMAE.stateDict();
    expect(Object.keys(a)).toEqual(Object.keys(c));
    for (const name of Object.keys(c)) await expectTensorsClose(a[name], c[name], { atol: 0, rtol: 0, name });
    tf.dispose([...Object.values(a), ...Object.values(b), ...Object.values(c)]);
    viaMAE.dispose();
    mae.dispose();
    clf.dispose();
  });

  it('without numClasses an MAE file fails before any tensor is read', async () => {
    const bytes = fs.readFileSync(path.join(dir, 'tiny-hf', 'model.safetensors'));
    const reads: number[] = [];
    const inner = { name: 'tiny.safetensors', size: bytes.length, read: async (o: number, n: number) => (reads.push(n), new Uint8Array(bytes.subarray(o, o + n))) };
    await expect(ViTClassifier.fromPretrained({ weights: inner, config: TINY_HF_CONFIG })).rejects.toThrow(/tiny\.safetensors holds a pre-trained MAE, not a classifier: pass options\.numClasses/);
    expect(reads.reduce((a, b) => a + b, 0)).toBeLessThan(bytes.length / 4); // the header only
  });
});

describe('toHFConfig', () => {
  it('writes a config.json that reads back as the same model', async () => {
    const mae = maeVitTinyPatch4({ imgSize: 32, inChans: 3, patchSize: 8, seed: 2 });
    const folder = path.join(dir, 'ours-hf');
    fs.mkdirSync(folder);
    fs.writeFileSync(path.join(folder, 'config.json'), JSON.stringify(toHFConfig(modelConfigOf(mae))));
    // HF names and no stored config: the config.json alone decides
    const hfBytes = await saveWeights(mae, { naming: 'hf' });
    const { tensors } = parseSafetensors(hfBytes);
    fs.writeFileSync(path.join(folder, 'model.safetensors'), encodeSafetensors(tensors));
    const { model, config } = await loadPretrainedModel(folder);
    expect(config.source).toBe('hf-config');
    const { masking: _m, ...want } = modelConfigOf(mae).config;
    expect(modelConfigOf(model).config).toMatchObject(want);
    model.dispose();
    mae.dispose();
  });
});
