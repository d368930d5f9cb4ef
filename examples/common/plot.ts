/** The line chart of the examples' loss curves: the library's (src/viz/lineChart.ts), also used by `tfjs-mae pretrain`. */
export { lineChart, ticks, type Series, type LineChartArgs } from '../../src/viz/lineChart';
