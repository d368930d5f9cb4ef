/**
 * Experiment: the time cost of recomputation. One MAE and one AdamW; the
 * training steps alternate between `recompute: false` and `true` (per-call
 * option), so both modes see the same phases of a shared machine. Prints
 * the median wall and CPU seconds per mode and their ratio. (Memory needs
 * one process per mode, as the wasm heap never shrinks: `npm run bench --
 * --recompute`.)
 *
 *   npx tsx bench/experiments/recompute.ts [config] [batch] [pairs]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers';
import { BATCH, CONFIGS, MASK_RATIO, isConfigName } from '../configs';
import { maeOptimizer, median } from '../measure';
import { buildMae } from '../models';

async function main() {
  const [name = 'small64', batchArg, pairs = '5'] = process.argv.slice(2).filter((a) => a !== '--');
  if (!isConfigName(name)) throw new Error(`unknown config ${name}`);
  await tf.setBackend('wasm');
  const cfg = CONFIGS[name];
  const batch = batchArg === undefined ? BATCH[name] : Number(batchArg);
  const mae = buildMae(cfg, MASK_RATIO);
  const opt = maeOptimizer(mae);
  const imgs = tf.randomUniform([batch, cfg.imgSize, cfg.imgSize, cfg.inChans], 0, 1, 'float32', 7);
  const step = async (recompute: boolean) => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const { value, grads } = tf.variableGrads(() => mae.model.loss(imgs, { recompute }), opt.variables);
    opt.step(grads);
    tf.dispose(Object.values(grads));
    await value.data();
    value.dispose();
    const c = process.cpuUsage(c0);
    return { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
  };
  await step(false); // warm-up: JIT, XNNPACK caches, optimiser state
  await step(true);
  const res = { plain: { wall: [] as number[], cpu: [] as number[] }, recompute: { wall: [] as number[], cpu: [] as number[] } };
  for (let i = 0; i < Number(pairs); i++) {
    for (const recompute of i % 2 ? [true, false] : [false, true]) {
      const t = await step(recompute);
      const r = res[recompute ? 'recompute' : 'plain'];
      r.wall.push(t.wall);
      r.cpu.push(t.cpu);
      console.log(`${name} batch ${batch} ${recompute ? 'recompute' : 'plain    '} ${t.wall.toFixed(3)} s wall, ${t.cpu.toFixed(3)} s cpu`);
    }
  }
  const [p, r] = [res.plain, res.recompute];
  console.log(
    `${name} batch ${batch}: plain ${median(p.wall).toFixed(3)} s wall / ${median(p.cpu).toFixed(3)} s cpu, ` +
      `recompute ${median(r.wall).toFixed(3)} / ${median(r.cpu).toFixed(3)}; ratio wall ${(median(r.wall) / median(p.wall)).toFixed(3)}, ` +
      `cpu ${(median(r.cpu) / median(p.cpu)).toFixed(3)}`,
  );
  tf.dispose(imgs);
  opt.dispose();
  mae.dispose();
}
main();
