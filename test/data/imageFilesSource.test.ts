import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DataError,
  canvasSourceRect,
  decodeImageBlob,
  imageHeaderSize,
  imageFilesSource,
  listImageFiles,
  samplePlan,
  sampleSeed,
  rgbaToChannels,
  type BadImageFile,
  type BlobDecoder,
  type ImageSourceBatch,
  type SampleSpec,
} from '../../src';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** A blob that sniffs as PNG and carries `value` (the fake decoder's grey level) at byte 8. */
const fakePng = (value: number) => new Blob([new Uint8Array([...PNG, value])]);
const CORRUPT = 255; // the fake decoder's "cannot decode" value

/** Decodes a fake PNG: every pixel is its value; records the spec of each call. */
function fakeDecoder(calls: { value: number; spec: SampleSpec }[] = []): BlobDecoder {
  return async (blob, spec) => {
    const value = new Uint8Array(await blob.arrayBuffer())[8];
    calls.push({ value, spec });
    if (value === CORRUPT) return { kind: 'corrupt', reason: 'corrupt or truncated: fake' };
    return { pixels: new Uint8Array(spec.size * spec.size * spec.channels).fill(value) };
  };
}

/** `{ path, file }` inputs as a picked folder `pics/` gives them (webkitRelativePath). */
function folder(entries: Record<string, Blob>): { path: string; file: Blob }[] {
  return Object.entries(entries).map(([path, file]) => ({ path: `pics/${path}`, file }));
}

async function collect(it: AsyncIterable<ImageSourceBatch>) {
  const out = [];
  for await (const b of it) {
    out.push({ images: Array.from(await b.images.data()), indices: Array.from(b.indices), labels: b.labels && Array.from(await b.labels.data()), shape: b.images.shape });
    tf.dispose([b.images, b.labels]);
  }
  return out;
}

const quiet = { onBadFile: () => {} };

describe('listImageFiles', () => {
  it("lists as listImageFolder: class = first subfolder under the common folder, sorted classes, a folder's files before its subfolders", async () => {
    const input = folder({
      'dog/b.png': fakePng(1),
      'cat/z.png': fakePng(2),
      'cat/sub/a.png': fakePng(3),
      'cat/a.png': fakePng(4),
      'cat/.hidden/x.png': fakePng(5),
      'top.png': fakePng(6), // directly in the root: ignored when labelled (torchvision)
      'dog/notes.txt': new Blob(['hello']),
      'dog/.DS_Store': new Blob([new Uint8Array(8)]),
      'dog/really-a-png.bin': fakePng(7), // content decides
    });
    const listing = await listImageFiles(input, quiet);
    expect(listing.root).toBe('pics');
    expect(listing.classes).toEqual(['cat', 'dog']);
    expect(listing.classToIndex).toEqual({ cat: 0, dog: 1 });
    expect(listing.paths).toEqual(['pics/cat/a.png', 'pics/cat/z.png', 'pics/cat/sub/a.png', 'pics/dog/b.png', 'pics/dog/really-a-png.bin']);
    expect(Array.from(listing.labels!)).toEqual([0, 0, 0, 1, 1]);
    expect(listing.files[0]).toBe(input[3].file);
    expect(listing.skipped).toEqual([]);
  });

  it('names empty files and non-images with an image name, once each; ignores other files silently', async () => {
    const bad: BadImageFile[] = [];
    const listing = await listImageFiles(
      folder({ 'a.png': fakePng(1), 'empty.jpg': new Blob([]), 'text.png': new Blob(['not a png']), 'readme.txt': new Blob(['x']) }),
      { onBadFile: (f) => void bad.push(f) },
    );
    expect(listing.labels).toBeUndefined();
    expect(listing.classes).toEqual([]);
    expect(listing.paths).toEqual(['pics/a.png']);
    expect(bad.map((b) => [b.path, b.kind])).toEqual([
      ['pics/empty.jpg', 'empty'],
      ['pics/text.png', 'not-an-image'],
    ]);
    expect(listing.skipped).toEqual(bad);
    await expect(listImageFiles(folder({ 'a.png': fakePng(1), 'b.png': new Blob([]) }), { strict: true })).rejects.toThrow(/pics\/b\.png: empty file \(0 bytes\) \(strict/);
  });

  it('takes paths from File.webkitRelativePath, else the name; URLs by their path; classes and root can be given', async () => {
    const named = new File([new Uint8Array([...PNG, 1])], 'one.png');
    const listing = await listImageFiles([named, fakePng(2)], quiet);
    expect(listing.paths).toEqual(['blob 1', 'one.png']);
    const urls = await listImageFiles(['https://x.test/data/b/2.png', 'https://x.test/data/a/1.png?v=1'], quiet);
    expect(urls).toMatchObject({ root: 'data', classes: ['a', 'b'], paths: ['data/a/1.png', 'data/b/2.png'] });
    expect(urls.files).toEqual(['https://x.test/data/a/1.png?v=1', 'https://x.test/data/b/2.png']);
    // one subfolder: the common folder is pics/only unless root is given
    const one = folder({ 'only/a.png': fakePng(1) });
    expect((await listImageFiles(one)).classes).toEqual([]);
    expect((await listImageFiles(one, { root: 'pics' })).classes).toEqual(['only']);
    await expect(listImageFiles(folder({ 'cat/a.png': fakePng(1), 'emu/b.png': fakePng(1) }), { classes: ['cat', 'dog'] })).rejects.toThrow(
      /pics\/emu: a class folder not among the 2 classes \[cat, dog\]/,
    );
    await expect(listImageFiles(42 as never)).rejects.toThrow(/files: expected File objects/);
    await expect(listImageFiles([{}] as never)).rejects.toThrow(/files\[0\]: expected a File/);
  });
});

describe('imageFilesSource', () => {
  it('batches: normalised NHWC, labels, same seed same batches, each slot seeded by sampleSeed(seed, epoch, position), resume', async () => {
    const entries: Record<string, Blob> = {};
    for (let i = 0; i < 6; i++) entries[`${i < 3 ? 'a' : 'b'}/${i}.png`] = fakePng(10 * (i + 1));
    const listing = await listImageFiles(folder(entries));
    const calls: { value: number; spec: SampleSpec }[] = [];
    const opts = { batchSize: 2, size: 4, channels: 1 as const, mean: [0.5], std: [0.25], seed: 3, decode: fakeDecoder(calls) };
    const before = tf.memory().numTensors;
    const src = imageFilesSource(listing, opts);
    expect(src.batchesPerEpoch).toBe(3);
    const e1 = await collect(src.batches(1, 0));
    expect(tf.memory().numTensors).toBe(before);
    expect(e1.map((b) => b.shape)).toEqual([[2, 4, 4, 1], [2, 4, 4, 1], [2, 4, 4, 1]]);
    const order = e1.flatMap((b) => b.indices);
    expect([...order].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(order).not.toEqual([0, 1, 2, 3, 4, 5]); // shuffled (train)
    for (const b of e1) {
      b.indices.forEach((index, k) => {
        const v = 10 * (index + 1);
        expect(b.images[k * 16]).toBeCloseTo((v / 255 - 0.5) / 0.25, 5);
        expect(b.labels![k]).toBe(index < 3 ? 0 : 1);
      });
    }
    // each position k of epoch 1 got the seed of (3, 1, k), with the train transform
    const seeds = new Map(calls.map((c) => [c.value, c.spec.seed]));
    order.forEach((index, k) => expect(seeds.get(10 * (index + 1))).toBe(sampleSeed(3, 1, k)));
    expect(calls[0].spec).toMatchObject({ transform: 'train', size: 4, channels: 1, scale: [0.2, 1], flipProbability: 0.5 });
    // reproducible, and a resume from batch 2 sees the same last batch
    const again = await collect(imageFilesSource(listing, opts).batches(1, 0));
    expect(again).toEqual(e1);
    const resumed = await collect(imageFilesSource(listing, opts).batches(1, 2));
    expect(resumed).toEqual(e1.slice(2));
    expect(await collect(imageFilesSource(listing, { ...opts, seed: 4 }).batches(1, 0))).not.toEqual(e1);
  });

  it('bad files: corrupt ones are named once and counted; train replaces them, eval skips them', async () => {
    const bad: BadImageFile[] = [];
    const listing = await listImageFiles(
      folder({ 'a.png': fakePng(1), 'b.png': fakePng(CORRUPT), 'c.png': fakePng(3), 'd.png': fakePng(4), 'e.png': new Blob([]), 'f.txt': new Blob(['x']) }),
      { onBadFile: (f) => void bad.push(f) },
    );
    const src = imageFilesSource(listing, { batchSize: 2, size: 2, decode: fakeDecoder(), onBadFile: (f) => void bad.push(f) });
    const train = await collect(src);
    expect(train.map((b) => b.shape[0])).toEqual([2, 2]); // every batch full: the next good file fills the slot
    expect(train.flatMap((b) => b.indices)).not.toContain(1);
    await collect(src.batches(1, 0));
    expect(bad.map((b) => [b.path, b.kind])).toEqual([
      ['pics/e.png', 'empty'],
      ['pics/b.png', 'corrupt'],
    ]);
    expect(src.summary()).toMatchObject({ listed: 4, read: 8, skipped: 2, reasons: { empty: 1, corrupt: 1 } });
    const evalSrc = imageFilesSource(listing, { batchSize: 2, size: 2, transform: 'eval', decode: fakeDecoder(), ...quiet });
    const rows = (await collect(evalSrc)).flatMap((b) => b.indices);
    expect(rows).toEqual([0, 2, 3]);
    const strict = imageFilesSource(listing, { batchSize: 4, size: 2, transform: 'eval', decode: fakeDecoder(), strict: true });
    await expect(collect(strict)).rejects.toThrow(/pics\/b\.png: corrupt or truncated: fake \(strict/);
  });

  it('URLs: fetched when decoded; a failed fetch, an empty body or other content is a named bad file', async () => {
    const bodies: Record<string, Response> = {};
    const fetchFake = async (url: string) => {
      if (url.endsWith('down.png')) throw new TypeError('Failed to fetch');
      return bodies[url] ?? new Response('nope', { status: 404, statusText: 'Not Found' });
    };
    const urls = ['good.png', 'empty.png', 'html.png', 'missing.png', 'down.png'].map((n) => `https://x.test/set/${n}`);
    const listing = await listImageFiles(urls);
    const bad: BadImageFile[] = [];
    const mk = () => {
      bodies[urls[0]] = new Response(new Uint8Array([...PNG, 9]));
      bodies[urls[1]] = new Response(new Uint8Array(0));
      bodies[urls[2]] = new Response('<html>');
    };
    mk();
    const src = imageFilesSource(listing, { batchSize: 8, size: 1, transform: 'eval', decode: fakeDecoder(), fetch: fetchFake, onBadFile: (f) => void bad.push(f) });
    const [b] = await collect(src);
    expect(b.indices).toEqual([listing.paths.indexOf('set/good.png')]);
    expect(Object.fromEntries(bad.map((f) => [f.path, f.reason]))).toEqual({
      'set/down.png': 'unreadable: Failed to fetch',
      'set/empty.png': 'empty file (0 bytes)',
      'set/html.png': 'not an image (its content is not JPEG, PNG or WebP)',
      'set/missing.png': 'unreadable: HTTP 404 Not Found',
    });
  });

  it('validates its options and says what came', async () => {
    const listing = await listImageFiles(folder({ 'a.png': fakePng(1), 'b.png': fakePng(2) }));
    expect(() => imageFilesSource(listing, { batchSize: 3, size: 4 })).toThrow(/batchSize: expected at most the 2 images of pics with dropLast, got 3/);
    expect(() => imageFilesSource(listing, { batchSize: 1, size: 0 })).toThrow(/size: expected an integer >= 1, got 0/);
    expect(() => imageFilesSource(listing, { batchSize: 1, size: 4, channels: 2 as never })).toThrow(/channels: expected 1 or 3/);
    expect(() => imageFilesSource({ paths: [] } as never, { batchSize: 1, size: 4 })).toThrow(/listing: expected the result of listImageFiles/);
    const none = await listImageFiles([new Blob(['x'])], quiet);
    expect(() => imageFilesSource(none, { batchSize: 1, size: 4 })).toThrow(DataError);
    // the default decoder needs a browser
    const src = imageFilesSource(listing, { batchSize: 1, size: 4 });
    await expect(collect(src)).rejects.toThrow(/createImageBitmap \(a browser or a web worker\).*imageFolderSource/);
  });
});

describe('the canvas geometry', () => {
  const spec: SampleSpec = { transform: 'eval', size: 64, channels: 3, seed: 5, scale: [0.2, 1], ratio: [3 / 4, 4 / 3], flipProbability: 0.5, maxPixels: 1e9 };
  it('eval: the centre crop of the resized image, mapped back to the source (one resampling)', () => {
    // 250×200 (w×h) → resize 91×73 → crop top 4, left 14 (torchvision)
    const r = canvasSourceRect(samplePlan(200, 250, spec), 200, 250);
    expect(r.flip).toBe(false);
    expect(r.sx).toBeCloseTo((14 * 250) / 91, 10);
    expect(r.sy).toBeCloseTo((4 * 200) / 73, 10);
    expect(r.sw).toBeCloseTo((64 * 250) / 91, 10);
    expect(r.sh).toBeCloseTo((64 * 200) / 73, 10);
  });
  it('train: the sampled crop box and flip', () => {
    const plan = samplePlan(200, 250, { ...spec, transform: 'train' });
    if (plan.transform !== 'train') throw new Error('expected a train plan');
    expect(canvasSourceRect(plan, 200, 250)).toEqual({ sx: plan.box.left, sy: plan.box.top, sw: plan.box.width, sh: plan.box.height, flip: plan.flip });
  });
  it('RGBA to RGB or grey (Rec. 601 luma)', () => {
    const rgba = [255, 0, 0, 255, 0, 255, 0, 0, 10, 20, 30, 128];
    expect(Array.from(rgbaToChannels(rgba, 3))).toEqual([255, 0, 0, 0, 255, 0, 10, 20, 30]);
    expect(Array.from(rgbaToChannels(rgba, 1))).toEqual([76, 150, 18]);
  });
  it('decodeImageBlob outside a browser says what it needs', async () => {
    await expect(decodeImageBlob(fakePng(1), spec)).rejects.toThrow(/createImageBitmap/);
  });
});

describe('imageHeaderSize', () => {
  const raw = (w: number, h: number, channels: 3 | 4) => sharp(Buffer.alloc(w * h * channels, 90), { raw: { width: w, height: h, channels } });
  it('reads the size from PNG, JPEG (baseline, progressive, after EXIF) and WebP (lossy, lossless, extended) headers', async () => {
    const cases: [string, Buffer][] = [
      ['png', await raw(37, 21, 3).png().toBuffer()],
      ['jpeg', await raw(37, 21, 3).jpeg().toBuffer()],
      ['jpeg progressive + exif', await raw(37, 21, 3).withMetadata({ orientation: 6 }).jpeg({ progressive: true }).toBuffer()],
      ['webp lossy', await raw(37, 21, 3).webp().toBuffer()],
      ['webp lossless', await raw(37, 21, 3).webp({ lossless: true }).toBuffer()],
      ['webp with alpha (VP8X)', await raw(37, 21, 4).webp({ quality: 50 }).toBuffer()],
    ];
    for (const [what, bytes] of cases) expect(imageHeaderSize(new Uint8Array(bytes)), what).toEqual({ width: 37, height: 21 });
  });
  it('a claimed 100000 × 100000 PNG is refused by decodeImageBlob before any decoding; unknown heads give undefined', async () => {
    const ihdr = new Uint8Array([...PNG, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0, 8, 2, 0, 0, 0]);
    expect(imageHeaderSize(ihdr)).toEqual({ width: 100000, height: 100000 });
    const spec: SampleSpec = { transform: 'eval', size: 8, channels: 3, seed: 0, scale: [0.2, 1], ratio: [3 / 4, 4 / 3], flipProbability: 0.5, maxPixels: 89_478_485 };
    // refused from the header: no createImageBitmap needed (Node has none)
    await expect(decodeImageBlob(new Blob([ihdr]), spec)).resolves.toEqual({
      kind: 'too-many-pixels',
      reason: 'too many pixels: 100000×100000 = 10000000000 > maxPixels 89478485 (a decompression bomb?)',
    });
    expect(imageHeaderSize(new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 16]))).toBeUndefined();
    // a PNG signature followed by garbage claims no size (the decoder finds it corrupt)
    expect(imageHeaderSize(new Uint8Array([...PNG, ...new Array(24).fill(7)]))).toBeUndefined();
    expect(imageHeaderSize(new TextEncoder().encode('hello world, not an image'))).toBeUndefined();
  });
});
