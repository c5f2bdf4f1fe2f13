// Small charts as server-rendered SVG: bars per minute, no script and no style attribute (the
// Content-Security-Policy allows neither); colours come from classes in style.ts.
import { html, raw, type Html } from './html.ts';

export interface Series {
  label: string;
  /** A class in style.ts that colours the bars. */
  className: string;
  values: number[];
}

const WIDTH = 360;
const HEIGHT = 80;

/** Stacked bars, one column per value; the tallest column fills the height. */
export function barChart(title: string, series: Series[], axis: { first: string; last: string }): Html {
  const columns = Math.max(1, ...series.map((s) => s.values.length));
  const totals = Array.from({ length: columns }, (_, i) => series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0));
  const peak = Math.max(1, ...totals);
  const step = WIDTH / columns;
  const barWidth = Math.max(1, step - 1);
  const bars = series.map((s, seriesIndex) => {
    const rects = s.values.map((value, i) => {
      if (value === 0) return '';
      const below = series.slice(0, seriesIndex).reduce((sum, earlier) => sum + (earlier.values[i] ?? 0), 0);
      const height = (value / peak) * HEIGHT;
      const y = HEIGHT - (below / peak) * HEIGHT - height;
      return `<rect x="${(i * step).toFixed(1)}" y="${y.toFixed(1)}" width="${barWidth.toFixed(1)}" height="${height.toFixed(1)}"><title>${value}</title></rect>`;
    }).join('');
    return raw(`<g class="${s.className}">${rects}</g>`);
  });
  const sums = series.map((s) => html`<span class="legend ${s.className}">${s.label}: ${s.values.reduce((a, b) => a + b, 0)}</span>`);
  return html`<figure class="chart">
    <figcaption>${title} <span class="muted">(peak ${peak}/min)</span></figcaption>
    <svg viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-label="${title}">${bars}</svg>
    <div class="axis"><span>${axis.first}</span><span>${axis.last}</span></div>
    <div>${sums}</div>
  </figure>`;
}
