/**
 * A small line chart rasteriser for loss curves (the examples, `tfjs-mae pretrain`): axes, ticks
 * with numbers, and one or more polylines, as RGBA pixels (encode them with
 * `writePng`). No dependencies, no fonts: digits come from a 3×5 bitmap.
 */
import type { RgbaImage } from './reconstruction';

/** One line of the chart. */
export interface Series {
  /** y values at x = 0, 1, 2, … (or at `x` when given). */
  y: number[];
  /** x values, same length as `y`. Defaults to 0, 1, 2, …. */
  x?: number[];
  /** `[r, g, b]`. Defaults to dark blue. */
  color?: [number, number, number];
  /** Line width in pixels. Defaults to 2. */
  width?: number;
}

/** Options of {@link lineChart}. */
export interface LineChartArgs {
  /** Picture width. Defaults to 640. */
  width?: number;
  /** Picture height. Defaults to 400. */
  height?: number;
  /** Text under the x axis (letters a–z, digits, space, `.-/()`). Defaults to none. */
  xLabel?: string;
  /** Text above the y axis. Defaults to none. */
  yLabel?: string;
  /** Start the y axis at 0. Defaults to `true`. */
  yFromZero?: boolean;
}

// 3×5 glyphs, rows top to bottom, 3 bits each (4 = left column).
const GLYPHS: Record<string, number[]> = {
  '0': [7, 5, 5, 5, 7], '1': [2, 6, 2, 2, 7], '2': [7, 1, 7, 4, 7], '3': [7, 1, 7, 1, 7], '4': [5, 5, 7, 1, 1],
  '5': [7, 4, 7, 1, 7], '6': [7, 4, 7, 5, 7], '7': [7, 1, 1, 2, 2], '8': [7, 5, 7, 5, 7], '9': [7, 5, 7, 1, 7],
  '.': [0, 0, 0, 0, 2], '-': [0, 0, 7, 0, 0], '+': [0, 2, 7, 2, 0], '_': [0, 0, 0, 0, 7], ':': [0, 2, 0, 2, 0], '/': [1, 1, 2, 4, 4], '(': [2, 4, 4, 4, 2], ')': [2, 1, 1, 1, 2], ' ': [0, 0, 0, 0, 0],
  a: [0, 6, 3, 5, 7], b: [4, 4, 6, 5, 6], c: [0, 3, 4, 4, 3], d: [1, 1, 3, 5, 3], e: [0, 7, 7, 4, 3], f: [3, 4, 6, 4, 4],
  g: [0, 3, 5, 3, 6], h: [4, 4, 6, 5, 5], i: [2, 0, 2, 2, 2], j: [1, 0, 1, 5, 2], k: [4, 5, 6, 5, 5], l: [6, 2, 2, 2, 7],
  m: [0, 7, 7, 5, 5], n: [0, 6, 5, 5, 5], o: [0, 2, 5, 5, 2], p: [0, 6, 5, 6, 4], q: [0, 3, 5, 3, 1], r: [0, 6, 5, 4, 4],
  s: [0, 3, 6, 1, 6], t: [4, 7, 4, 4, 3], u: [0, 5, 5, 5, 3], v: [0, 5, 5, 5, 2], w: [0, 5, 5, 7, 5], x: [0, 5, 2, 2, 5],
  y: [0, 5, 5, 2, 4], z: [0, 7, 1, 2, 7],
};

/** A white RGBA raster with dots, lines, 3×5-bitmap text and pasted pictures (for charts and figure labels). */
export class Canvas {
  readonly data: Uint8ClampedArray;
  constructor(readonly width: number, readonly height: number) {
    this.data = new Uint8ClampedArray(width * height * 4).fill(255);
  }

  dot(x: number, y: number, c: [number, number, number], size = 1): void {
    const x0 = Math.round(x - (size - 1) / 2);
    const y0 = Math.round(y - (size - 1) / 2);
    for (let dy = 0; dy < size; dy++) {
      for (let dx = 0; dx < size; dx++) {
        const px = x0 + dx;
        const py = y0 + dy;
        if (px < 0 || py < 0 || px >= this.width || py >= this.height) continue;
        this.data.set([c[0], c[1], c[2], 255], (py * this.width + px) * 4);
      }
    }
  }

  line(x0: number, y0: number, x1: number, y1: number, c: [number, number, number], size = 1): void {
    const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    for (let i = 0; i <= steps; i++) this.dot(x0 + ((x1 - x0) * i) / steps, y0 + ((y1 - y0) * i) / steps, c, size);
  }

  /** Copies `image` with its top-left corner at (x, y). */
  paste(image: RgbaImage, x: number, y: number): void {
    for (let row = 0; row < image.height; row++) {
      if (y + row < 0 || y + row >= this.height) continue;
      const from = Math.max(0, -x);
      const to = Math.min(image.width, this.width - x);
      if (to <= from) continue;
      this.data.set(image.data.subarray((row * image.width + from) * 4, (row * image.width + to) * 4), ((y + row) * this.width + x + from) * 4);
    }
  }

  /** Width in pixels of `s` drawn at `scale` by {@link Canvas.text}. */
  static textWidth(s: string, scale: number): number {
    return s.length * 4 * scale - scale;
  }

  /** The picture drawn so far. */
  image(): RgbaImage {
    return { data: this.data, width: this.width, height: this.height };
  }

  /** Text with its top-left corner at (x, y); `align` moves the anchor. */
  text(s: string, x: number, y: number, scale: number, align: 'left' | 'right' | 'center' = 'left'): void {
    const w = s.length * 4 * scale - scale;
    const left = align === 'left' ? x : align === 'right' ? x - w : x - w / 2;
    [...s.toLowerCase()].forEach((ch, k) => {
      const glyph = GLYPHS[ch] ?? GLYPHS[' '];
      glyph.forEach((bits, row) => {
        for (let col = 0; col < 3; col++) {
          if (bits & (4 >> col)) {
            for (let sy = 0; sy < scale; sy++) for (let sx = 0; sx < scale; sx++) this.dot(left + (k * 4 + col) * scale + sx, y + row * scale + sy, [40, 40, 40]);
          }
        }
      });
    });
  }
}

/** About `count` round tick values covering [lo, hi]. */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) out.push(Number((k * step).toPrecision(12)));
  return out;
}

function label(v: number): string {
  const s = Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(1) : String(Number(v.toPrecision(4)));
  return s.replace('+', '');
}

/** Draws the series on white with axes, ticks and labels. */
export function lineChart(series: Series[], args: LineChartArgs = {}): RgbaImage {
  const width = args.width ?? 640;
  const height = args.height ?? 400;
  const c = new Canvas(width, height);
  const scale = 2;
  const left = 70;
  const right = width - 20;
  const top = 30;
  const bottom = height - 50;
  const xs = series.flatMap((s) => s.x ?? s.y.map((_, i) => i));
  const ys = series.flatMap((s) => s.y).filter(Number.isFinite);
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs, xMin + 1);
  const yMin = args.yFromZero ?? true ? Math.min(0, ...ys) : Math.min(...ys);
  const yMax = Math.max(...ys, yMin + 1e-9);
  const px = (x: number) => left + ((x - xMin) / (xMax - xMin)) * (right - left);
  const py = (y: number) => bottom - ((y - yMin) / (yMax - yMin)) * (bottom - top);
  for (const t of ticks(yMin, yMax)) {
    c.line(left, py(t), right, py(t), [225, 225, 225]);
    c.line(left - 5, py(t), left, py(t), [40, 40, 40]);
    c.text(label(t), left - 9, py(t) - 5, scale, 'right');
  }
  for (const t of ticks(xMin, xMax)) {
    c.line(px(t), bottom, px(t), bottom + 5, [40, 40, 40]);
    c.text(label(t), px(t), bottom + 10, scale, 'center');
  }
  c.line(left, top, left, bottom, [40, 40, 40], 2);
  c.line(left, bottom, right, bottom, [40, 40, 40], 2);
  if (args.xLabel) c.text(args.xLabel, (left + right) / 2, bottom + 28, scale, 'center');
  if (args.yLabel) c.text(args.yLabel, left, top - 18, scale, 'left');
  for (const s of series) {
    const color = s.color ?? [31, 78, 168];
    const x = s.x ?? s.y.map((_, i) => i);
    for (let i = 1; i < s.y.length; i++) {
      if (!Number.isFinite(s.y[i - 1]) || !Number.isFinite(s.y[i])) continue;
      c.line(px(x[i - 1]), py(s.y[i - 1]), px(x[i]), py(s.y[i]), color, s.width ?? 2);
    }
  }
  return { data: c.data, width, height };
}
