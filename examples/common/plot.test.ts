import { describe, expect, it } from 'vitest';
import { lineChart, ticks } from './plot';

describe('lineChart', () => {
  it('picks round ticks', () => {
    expect(ticks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(ticks(0, 936)).toEqual([0, 200, 400, 600, 800]);
    expect(ticks(0.23, 0.61, 4)).toEqual([0.3, 0.4, 0.5, 0.6]);
  });

  it('draws axes and the line on white', () => {
    const img = lineChart([{ y: [1, 0.5, 0.25], color: [255, 0, 0] }], { width: 200, height: 100, xLabel: 'step' });
    expect([img.width, img.height, img.data.length]).toEqual([200, 100, 200 * 100 * 4]);
    const px = (x: number, y: number) => Array.from(img.data.slice((y * 200 + x) * 4, (y * 200 + x) * 4 + 4));
    expect(px(199, 0)).toEqual([255, 255, 255, 255]); // background
    expect(px(70, 40)).toEqual([40, 40, 40, 255]); // the y axis at x = left
    let red = 0;
    for (let i = 0; i < img.data.length; i += 4) if (img.data[i] === 255 && img.data[i + 1] === 0) red++;
    expect(red).toBeGreaterThan(100); // the polyline
  });
});
