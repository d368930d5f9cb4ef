/** Tiny generated image folders for the CLI tests: PNG blobs, optionally in class subfolders. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';

/** Writes `perClass` PNGs of `size`² px into `dir/<class>/` for each class (or into `dir` when `classes` is empty). */
export function writeImageFolder(dir: string, { classes = ['a', 'b'], perClass = 4, size = 16 }: { classes?: string[]; perClass?: number; size?: number } = {}): string[] {
  const written: string[] = [];
  (classes.length ? classes : ['']).forEach((cls, c) => {
    fs.mkdirSync(path.join(dir, cls), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const png = new PNG({ width: size, height: size });
      const cy = ((i * 5 + 3) % size) + 0.5;
      const cx = ((i * 7 + c * 4 + 2) % size) + 0.5;
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const v = Math.round(255 * Math.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (size / 2)));
          png.data.set([v, c === 0 ? v : 255 - v, (x * 16) & 255, 255], (y * size + x) * 4);
        }
      }
      const file = path.join(dir, cls, `img${i}.png`);
      fs.writeFileSync(file, PNG.sync.write(png));
      written.push(file);
    }
  });
  return written;
}

/** `root/train` (4 images per class) and `root/val` (2 per class), classes `a` and `b`, 16 px: the labelled folder of the finetune/linprobe tests. */
export function writeTrainVal(root: string): string {
  writeImageFolder(path.join(root, 'train'), { classes: ['a', 'b'], perClass: 4, size: 16 });
  writeImageFolder(path.join(root, 'val'), { classes: ['a', 'b'], perClass: 2, size: 16 });
  return root;
}
