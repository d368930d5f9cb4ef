/**
 * The `tfjs-mae` command: inspect and convert the official fixtures, and a
 * folder of malformed and hostile files, each of which must give a non-zero
 * exit and exactly one line on stderr, starting `tfjs-mae:`, without a stack.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from './run';
import { parseSafetensors } from '../../src/io/safetensors';
import { FIXTURES_DIR } from '../helpers/fixtures';
import { Pickle, f32Bytes, makeCheckpoint } from '../io/torchBuilders';

const fixture = (name: string): string => path.join(FIXTURES_DIR, name);

function sameTensors(aFile: string, bFile: string, prefix = ''): void {
  const a = parseSafetensors(new Uint8Array(fs.readFileSync(aFile))).tensors;
  const b = parseSafetensors(new Uint8Array(fs.readFileSync(bFile))).tensors;
  const bNames = [...b.keys()].filter((n) => n.startsWith(prefix));
  expect([...a.keys()].sort()).toEqual(bNames.map((n) => n.slice(prefix.length)).sort());
  for (const [name, t] of a) {
    const r = b.get(prefix + name)!;
    expect(t.shape).toEqual(r.shape);
    expect(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength))).toBe(true);
  }
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-mae-cli-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('inspect', () => {
  it('prints the format, then name, dtype and shape of each tensor of an official .pth', async () => {
    const r = await run('inspect', fixture('mae_tiny.pth'));
    expect(r.code).toBe(0);
    expect(r.out[0]).toBe("format: PyTorch checkpoint (zip, state dict under 'model'), official names, 50 tensors, 135,360 numbers");
    expect(r.out).toContain('cls_token\tF32\t[1, 1, 64]');
    expect(r.out).toContain('patch_embed.proj.weight\tF32\t[64, 3, 8, 8]');
    expect(r.out.length).toBe(52); // format, model, 50 tensors
  });

  it('recognises HF names in safetensors', async () => {
    const r = await run('inspect', fixture('mae_tiny.hf.safetensors'));
    expect(r.code).toBe(0);
    expect(r.out[0]).toMatch(/^format: safetensors, hf names, 62 tensors, 135,360 numbers/);
  });
});

describe('convert', () => {
  it('official .pth → official safetensors: the official state dict, bit for bit', async () => {
    const out = path.join(dir, 'official.safetensors');
    const r = await run('convert', fixture('mae_tiny.pth'), out);
    expect(r.code).toBe(0);
    sameTensors(out, fixture('mae_tiny.safetensors'), 'param.');
  });

  it('official .pth → HF names: the HF file, bit for bit', async () => {
    const out = path.join(dir, 'hf.safetensors');
    expect((await run('convert', fixture('mae_rect_gray.pth'), out, '--to', 'hf')).code).toBe(0);
    sameTensors(out, fixture('mae_rect_gray.hf.safetensors'));
  });

  it('HF safetensors (detected) → official names: the official state dict, bit for bit', async () => {
    const out = path.join(dir, 'back.safetensors');
    expect((await run('convert', fixture('mae_tiny_normpix.hf.safetensors'), out, '--to', 'official')).code).toBe(0);
    sameTensors(out, fixture('mae_tiny_normpix.safetensors'), 'param.');
  });

  it('rejects an unknown --to', async () => {
    const r = await run('convert', fixture('mae_tiny.pth'), path.join(dir, 'x'), '--to', 'onnx');
    expect(r.code).toBe(2);
    expect(r.err).toEqual(['tfjs-mae: --to must be official, hf or tfjs, got "onnx"']);
  });
});

describe('malformed and hostile files', () => {
  const pth = () => new Uint8Array(fs.readFileSync(fixture('mae_tiny.pth')));
  const st = () => new Uint8Array(fs.readFileSync(fixture('mae_tiny.safetensors')));
  const header = (json: string, data = new Uint8Array(0)): Uint8Array => {
    const h = new TextEncoder().encode(json);
    const out = new Uint8Array(8 + h.length + data.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
    out.set(h, 8);
    out.set(data, 8 + h.length);
    return out;
  };
  const files: Record<string, () => Uint8Array> = {
    'empty.safetensors': () => new Uint8Array(0),
    'garbage.bin': () => Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24),
    'truncated-half.pth': () => pth().subarray(0, pth().length >> 1),
    'truncated-tail.pth': () => pth().subarray(0, pth().length - 10),
    'truncated.safetensors': () => st().subarray(0, 5000),
    'lying-header-length.safetensors': () => {
      const b = st().slice();
      new DataView(b.buffer).setBigUint64(0, 1n << 40n, true);
      return b;
    },
    'overflowing-shape.safetensors': () => header('{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}', new Uint8Array(4)),
    'offsets-past-end.safetensors': () => header('{"a":{"dtype":"F32","shape":[1000],"data_offsets":[0,4000]}}', new Uint8Array(8)),
    'unknown-dtype.safetensors': () => header('{"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,1]}}', new Uint8Array(1)),
    'os-system.pth': () => makeCheckpoint(new Pickle().proto().global('os', 'system').str('echo pwned').op(0x85).op('R').stop().bytes()),
    'missing-storage.pth': () =>
      makeCheckpoint(new Pickle().proto().stateDict([['w', (p) => p.tensor({ key: '0', numel: 4, size: [4] })]]).stop().bytes()),
    'short-storage.pth': () =>
      makeCheckpoint(new Pickle().proto().stateDict([['w', (p) => p.tensor({ key: '0', numel: 4, size: [4] })]]).stop().bytes(), { '0': f32Bytes([1, 2]) }),
    'view-out-of-range.pth': () =>
      makeCheckpoint(new Pickle().proto().stateDict([['w', (p) => p.tensor({ key: '0', numel: 4, size: [4], offset: 3 })]]).stop().bytes(), { '0': f32Bytes([1, 2, 3, 4]) }),
  };

  beforeAll(() => {
    fs.mkdirSync(path.join(dir, 'malformed'));
    for (const [name, make] of Object.entries(files)) fs.writeFileSync(path.join(dir, 'malformed', name), make());
  });

  for (const name of [...Object.keys(files), 'does-not-exist.pth', '.']) {
    it(`inspect ${name}: exit 1, one line on stderr, no stack`, async () => {
      const target = name === '.' ? path.join(dir, 'malformed') : path.join(dir, 'malformed', name);
      const t0 = Date.now();
      const r = await run('inspect', target);
      expect(r.code).toBe(1);
      expect(r.out).toEqual([]);
      expect(r.err.length).toBe(1);
      expect(r.err[0]).toMatch(/^tfjs-mae: \S/);
      expect(r.err[0]).not.toMatch(/\bat .*:\d+:\d+/);
      expect(Date.now() - t0).toBeLessThan(10_000);
      if (name === 'os-system.pth') expect(r.err[0]).toContain('refusing global "os.system"');
    });
  }

  it('--verbose adds the stack', async () => {
    const r = await run('inspect', path.join(dir, 'malformed', 'os-system.pth'), '--verbose');
    expect(r.code).toBe(1);
    expect(r.err[0]).toMatch(/^tfjs-mae: /);
    expect(r.err.length).toBeGreaterThan(1);
  });
});

describe('convert --to tfjs', () => {
  it('official .pth → a tfjs model folder that loads back to the same weights', async () => {
    const { loadModel } = await import('../../src/io/tfjsModel');
    const { nodeFolderHandler } = await import('../../src/io/nodeFolder');
    const tf = await import('@tensorflow/tfjs-core');
    const outDir = path.join(dir, 'tfjs-model');
    const r = await run('convert', fixture('mae_tiny.pth'), outDir, '--to', 'tfjs', '--heads', '4', '--decoder-heads', '4');
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(fs.existsSync(path.join(outDir, 'model.json'))).toBe(true);
    const model = (await loadModel(nodeFolderHandler(outDir))) as import('../../src').MaskedAutoencoder;
    const sd = model.stateDict();
    const ref = parseSafetensors(new Uint8Array(fs.readFileSync(fixture('mae_tiny.safetensors')))).tensors;
    for (const [name, t] of Object.entries(sd)) {
      expect(Array.from(await t.data())).toEqual(Array.from(ref.get(`param.${name}`)!.data));
    }
    const { readSafetensors } = await import('../../src/io/safetensors');
    const io = readSafetensors(new Uint8Array(fs.readFileSync(fixture('mae_tiny.safetensors'))));
    const loss = model.loss(io['input.imgs_nhwc'], { noise: io['input.noise'] });
    expect(Math.abs((await loss.data())[0] - (await io['out.loss'].data())[0])).toBeLessThan(1e-5);
    tf.dispose([loss, ...Object.values(io), ...Object.values(sd)]);
    model.dispose();
  });
});

describe('convert --to tfjs, other kinds', () => {
  it('an encoder-only file (as mae_pretrain_*) becomes a ViTEncoder folder', async () => {
    const st = parseSafetensors(new Uint8Array(fs.readFileSync(fixture('mae_tiny.safetensors')))).tensors;
    const { encodeSafetensors } = await import('../../src/io/safetensors');
    const encoderOnly = new Map(
      [...st].filter(([n]) => n.startsWith('param.') && !/^param\.(decoder|mask_token)/.test(n)).map(([n, t]) => [n.slice(6), t]),
    );
    const file = path.join(dir, 'encoder.safetensors');
    fs.writeFileSync(file, encodeSafetensors(encoderOnly));
    const r = await run('convert', file, path.join(dir, 'encoder-tfjs'), '--to', 'tfjs', '--heads', '4');
    expect(r.err).toEqual([]);
    expect(r.out.at(-1)).toMatch(/MAEViTEncoder \(embedDim 64, depth 2, 4 heads\)/);
  });
});

describe('the dispatcher', () => {
  it('--version prints the package version', async () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(__dirname, '../../package.json'), 'utf8'));
    const r = await run('--version');
    expect(r).toEqual({ code: 0, out: [version], err: [] });
  });

  it('--help lists the commands; no arguments prints it with exit 2', async () => {
    const r = await run('--help');
    expect(r.code).toBe(0);
    expect(r.out.some((l) => /^\s+inspect\s+\S/.test(l))).toBe(true);
    expect(r.out.some((l) => /^\s+convert\s+\S/.test(l))).toBe(true);
    expect((await run()).code).toBe(2);
  });

  it('CMD --help prints every flag with its default', async () => {
    const r = await run('convert', '--help');
    expect(r.code).toBe(0);
    expect(r.out[0]).toBe('usage: tfjs-mae convert IN OUT [flags]');
    const text = r.out.join('\n');
    for (const f of ['--to official|hf|tfjs', '(default: official)', '--heads N', '--decoder-heads N', '--norm-pix', '--verbose']) expect(text).toContain(f);
  });

  it('an unknown command is named, with the list and the nearest', async () => {
    const r = await run('convrt', 'a', 'b');
    expect(r.code).toBe(2);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(/^tfjs-mae: unknown command "convrt"; did you mean convert\? \(commands: inspect, convert, [a-z, ]+; see tfjs-mae --help\)$/);
  });

  it('usage mistakes exit 2 with one line', async () => {
    expect(await run('inspect')).toEqual({ code: 2, out: [], err: ['tfjs-mae: inspect needs FILE (usage: tfjs-mae inspect FILE)'] });
    const r = await run('convert', fixture('mae_tiny.pth'), path.join(dir, 'x'), '--hedas', '4');
    expect(r.code).toBe(2);
    expect(r.err).toEqual(['tfjs-mae: unknown flag --hedas for convert; did you mean --heads? (see tfjs-mae convert --help)']);
  });
});

describe('convert keeps the config', () => {
  const example = path.join(__dirname, '../../examples/weights/mae-fmnist-tiny.safetensors');

  it('--to tfjs of the example weights keeps their 4 heads and 4 decoder heads without flags', async () => {
    const { loadModel } = await import('../../src/io/tfjsModel');
    const { nodeFolderHandler } = await import('../../src/io/nodeFolder');
    const outDir = path.join(dir, 'example-tfjs');
    const r = await run('convert', example, outDir, '--to', 'tfjs');
    expect(r.err).toEqual([]);
    const model = (await loadModel(nodeFolderHandler(outDir))) as import('../../src').MaskedAutoencoder;
    expect([model.config.numHeads, model.config.decoderNumHeads]).toEqual([4, 4]);
    model.dispose();
  });

  it('--to hf and back keeps the config and recipe metadata', async () => {
    const hf = path.join(dir, 'example.hf.safetensors');
    const back = path.join(dir, 'example.back.safetensors');
    expect((await run('convert', example, hf, '--to', 'hf')).code).toBe(0);
    expect((await run('convert', hf, back)).code).toBe(0);
    const meta = (f: string) => parseSafetensors(new Uint8Array(fs.readFileSync(f))).metadata;
    const original = meta(example);
    expect(original.config).toBeDefined();
    for (const f of [hf, back]) {
      expect(meta(f).config).toBe(original.config);
      expect(meta(f).recipe).toBe(original.recipe);
    }
  });

  it('--to tfjs with a hint that contradicts the stored config is refused', async () => {
    const r = await run('convert', example, path.join(dir, 'x-tfjs'), '--to', 'tfjs', '--heads', '2');
    expect(r.code).toBe(1);
    expect(r.err[0]).toMatch(/^tfjs-mae: .*numHeads/);
  });
});
