// Builds the decode benchmark corpus: real wallpapers (WebP, PNG) re-encoded as JPEG and PNG too, and Fashion-MNIST PNGs.
import sharp from 'sharp';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
const out = process.argv[2];
fs.mkdirSync(out + '/photos', { recursive: true });
fs.mkdirSync(out + '/fmnist', { recursive: true });
const sources = fs.readdirSync('/usr/share/backgrounds/gnome').filter((f) => f.endsWith('.webp')).map((f) => '/usr/share/backgrounds/gnome/' + f)
  .filter((f) => fs.statSync(f).size > 10000);
sources.push('/usr/share/backgrounds/warty-final-ubuntu.png');
for (const f of fs.readdirSync('/usr/share/desktop-base', { recursive: true })) if (/sddm-preview.*\.jpg$/.test(f)) sources.push('/usr/share/desktop-base/' + f);
let i = 0;
for (const s of sources) {
  const base = `${out}/photos/${String(i++).padStart(2, '0')}`;
  fs.copyFileSync(s, base + path.extname(s));
  // photo-sized (1600 px long side) JPEG and PNG copies
  const img = sharp(s).resize(1600, 1600, { fit: 'inside' });
  await img.clone().jpeg({ quality: 90 }).toFile(base + '-1600.jpg');
  await img.clone().png().toFile(base + '-1600.png');
}
const raw = zlib.gunzipSync(fs.readFileSync('/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz'));
for (let k = 0; k < 1000; k++) {
  await sharp(raw.subarray(16 + k * 784, 16 + (k + 1) * 784), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(`${out}/fmnist/${k}.png`);
}
console.log(sources.length, 'sources');
