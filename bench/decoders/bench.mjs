// Decode (+ random resized crop to 224, bicubic) images/s: sharp (libvips) vs pure-JS decoders (jpeg-js, pngjs; decode only).
import sharp from 'sharp';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import fs from 'node:fs';
const dir = process.argv[2];
const groups = {
  'JPEG 1600px (wallpapers re-encoded q90)': fs.readdirSync(dir + '/photos').filter((f) => f.endsWith('-1600.jpg')).map((f) => dir + '/photos/' + f),
  'PNG 1600px': fs.readdirSync(dir + '/photos').filter((f) => f.endsWith('-1600.png')).map((f) => dir + '/photos/' + f),
  'WebP originals (up to 4096px)': fs.readdirSync(dir + '/photos').filter((f) => f.endsWith('.webp')).map((f) => dir + '/photos/' + f),
  'Fashion-MNIST PNG 28px': fs.readdirSync(dir + '/fmnist').map((f) => dir + '/fmnist/' + f),
};
sharp.cache(false);
async function viaSharp(file, size) {
  const buf = await fs.promises.readFile(file);
  const img = sharp(buf);
  const { width, height } = await img.metadata();
  const w = Math.max(1, Math.round(width * 0.6)), h = Math.max(1, Math.round(height * 0.6));
  const { data } = await img.extract({ left: 0, top: 0, width: w, height: h }).resize(size, size, { kernel: 'cubic', fit: 'fill' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return data.length;
}
function viaJs(file) {
  const buf = fs.readFileSync(file);
  if (file.endsWith('.jpg')) return jpeg.decode(buf, { useTArray: true, maxMemoryUsageInMB: 2048 }).data.length;
  if (file.endsWith('.png')) return PNG.sync.read(buf).data.length;
  return -1;
}
async function rate(files, fn, inFlight, budget = 4) {
  const t0 = performance.now(); let n = 0; let i = 0;
  const worker = async () => { while ((performance.now() - t0) / 1000 < budget || n < 2) { const f = files[i++ % files.length]; await fn(f); n++; } };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return n / ((performance.now() - t0) / 1000);
}
for (const [name, files] of Object.entries(groups)) {
  const size = name.startsWith('Fashion') ? 28 : 224;
  const s1 = await rate(files, (f) => viaSharp(f, size), 1);
  const s4 = await rate(files, (f) => viaSharp(f, size), 4);
  const js = name.startsWith('WebP') ? NaN : await rate(files, async (f) => viaJs(f), 1);
  console.log(`${name}: sharp decode+crop+resize ${s1.toFixed(1)}/s (1 in flight), ${s4.toFixed(1)}/s (4 in flight); pure JS decode only ${js.toFixed(1)}/s; ratio sharp4/js ${(s4 / js).toFixed(1)}`);
}
