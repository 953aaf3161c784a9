/**
 * The parts of streamctl's self-contained HTML reports (`bench --html`, `chaos run --html`): inline
 * SVG charts with inline CSS and no script, so a page opens offline, from a mail attachment or a CI
 * artefact, and references nothing outside itself.
 */
export const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const W = 760;
const H = 280;
const M = { l: 64, r: 16, t: 14, b: 40 };

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export const num = (v: number, digits = 3) =>
  Number.isFinite(v) ? v.toLocaleString('en', { maximumFractionDigits: digits }) : '-';
/** SVG coordinates: two decimals are below a pixel and keep the file small. */
const px = (v: number) => String(Math.round(v * 100) / 100);

interface Series {
  name: string;
  color: string;
  dashed?: boolean;
  points: [number, number][];
}

/** Round tick values for a linear axis from 0 to at least `max`. */
function linearTicks(max: number): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let v = 0; v < max + step; v += step) ticks.push(Math.round(v * 1e9) / 1e9);
  return ticks;
}

/** Powers of ten covering [min, max] for a log axis. */
function logTicks(min: number, max: number): number[] {
  const lo = Math.floor(Math.log10(min));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(max)));
  return Array.from({ length: hi - lo + 1 }, (_, i) => 10 ** (lo + i));
}

interface Axis {
  ticks: number[];
  at(v: number): number;
}

function yAxis(values: number[], log: boolean): Axis {
  const h = H - M.t - M.b;
  if (log) {
    const positive = values.filter((v) => v > 0);
    const ticks = logTicks(positive.length ? Math.min(...positive) : 1, positive.length ? Math.max(...positive) : 10);
    const [lo, hi] = [Math.log10(ticks[0]!), Math.log10(ticks[ticks.length - 1]!)];
    return { ticks, at: (v) => M.t + h - ((Math.log10(Math.max(v, ticks[0]!)) - lo) / (hi - lo)) * h };
  }
  const ticks = linearTicks(values.length ? Math.max(...values) : 1);
  const top = ticks[ticks.length - 1]!;
  return { ticks, at: (v) => M.t + h - (v / top) * h };
}

function frame(y: Axis, yLabel: string, xLabel: string, xTicks: { v: number; x: number; label: string }[]): string {
  const parts: string[] = [];
  for (const t of y.ticks) {
    const yy = px(y.at(t));
    parts.push(
      `<line class="grid" x1="${M.l}" x2="${W - M.r}" y1="${yy}" y2="${yy}"/>`,
      `<text class="tick" x="${M.l - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle">${num(t)}</text>`,
    );
  }
  for (const t of xTicks)
    parts.push(
      `<text class="tick" x="${px(t.x)}" y="${H - M.b + 16}" text-anchor="middle">${escapeHtml(t.label)}</text>`,
    );
  parts.push(
    `<line class="axis" x1="${M.l}" x2="${M.l}" y1="${M.t}" y2="${H - M.b}"/>`,
    `<line class="axis" x1="${M.l}" x2="${W - M.r}" y1="${H - M.b}" y2="${H - M.b}"/>`,
    `<text class="label" x="${(M.l + W - M.r) / 2}" y="${H - 4}" text-anchor="middle">${escapeHtml(xLabel)}</text>`,
    `<text class="label" x="14" y="${(M.t + H - M.b) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(M.t + H - M.b) / 2})">${escapeHtml(yLabel)}</text>`,
  );
  return parts.join('');
}

function legend(series: { name: string; color: string; dashed?: boolean | undefined }[]): string {
  return `<ul class="legend">${series.map((s) => `<li><span class="swatch${s.dashed ? ' dashed' : ''}" style="border-color:${s.color}"></span>${escapeHtml(s.name)}</li>`).join('')}</ul>`;
}

function svg(title: string, body: string): string {
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeHtml(title)}"><title>${escapeHtml(title)}</title>${body}</svg>`;
}

/** A line chart of numeric x (seconds, steps) against y, optionally on a log scale. */
export function lineChart(o: {
  title: string;
  series: Series[];
  xLabel: string;
  yLabel: string;
  log?: boolean;
}): string {
  const all = o.series.flatMap((s) => s.points);
  if (all.length === 0) return `<p class="empty">${escapeHtml(o.title)}: no data</p>`;
  const xs = all.map((p) => p[0]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs) === Math.min(...xs) ? Math.min(...xs) + 1 : Math.max(...xs)];
  const xAt = (v: number) => M.l + ((v - x0) / (x1 - x0)) * (W - M.l - M.r);
  const y = yAxis(
    all.map((p) => p[1]),
    o.log ?? false,
  );
  // Ticks at round multiples inside the range, wherever it starts.
  const spacing = linearTicks(x1 - x0)[1]!;
  const xTicks: { v: number; x: number; label: string }[] = [];
  for (let v = Math.ceil(x0 / spacing) * spacing; v <= x1 + 1e-9; v += spacing)
    xTicks.push({ v, x: xAt(v), label: num(v) });
  const lines = o.series
    .filter((s) => s.points.length)
    .map((s) => {
      const pts = s.points.map(([a, b]) => `${px(xAt(a))},${px(y.at(b))}`).join(' ');
      // Dots with a tooltip each, while there are few enough to hover.
      const dots =
        s.points.length <= 120
          ? s.points
              .map(
                ([a, b]) =>
                  `<circle cx="${px(xAt(a))}" cy="${px(y.at(b))}" r="2.5" fill="${s.color}"><title>${escapeHtml(s.name)}: ${num(b)} at ${num(a)}</title></circle>`,
              )
              .join('')
          : '';
      return `<g><title>${escapeHtml(s.name)}</title><polyline fill="none" stroke="${s.color}" stroke-width="1.6"${s.dashed ? ' stroke-dasharray="5 3"' : ''} points="${pts}"/>${dots}</g>`;
    })
    .join('');
  return svg(o.title, frame(y, o.yLabel, o.xLabel, xTicks) + lines) + legend(o.series);
}

/** Grouped bars: one group per category, one bar per series, optionally on a log scale. */
export function barChart(o: {
  title: string;
  categories: string[];
  series: { name: string; color: string; values: number[] }[];
  yLabel: string;
  xLabel: string;
  log?: boolean;
}): string {
  const values = o.series.flatMap((s) => s.values);
  if (values.length === 0) return `<p class="empty">${escapeHtml(o.title)}: no data</p>`;
  const y = yAxis(values, o.log ?? false);
  const groupW = (W - M.l - M.r) / o.categories.length;
  const barW = (groupW * 0.8) / Math.max(1, o.series.length);
  const base = H - M.b;
  const bars = o.series
    .map((s, si) =>
      s.values
        .map((v, ci) => {
          const x = M.l + ci * groupW + groupW * 0.1 + si * barW;
          const top = Math.min(base, y.at(v));
          return `<rect x="${px(x)}" y="${px(top)}" width="${px(barW * 0.9)}" height="${px(base - top)}" fill="${s.color}"><title>${escapeHtml(s.name)} ${escapeHtml(o.categories[ci]!)}: ${num(v)}</title></rect>`;
        })
        .join(''),
    )
    .join('');
  const xTicks = o.categories.map((c, i) => ({ v: i, x: M.l + (i + 0.5) * groupW, label: c }));
  return svg(o.title, frame(y, o.yLabel, o.xLabel, xTicks) + bars) + legend(o.series);
}

export function table(header: string[], rows: (string | number)[][], classes: (string | undefined)[] = []): string {
  const cell = (v: string | number) => (typeof v === 'number' ? num(v) : escapeHtml(v));
  return `<table><thead><tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map(
      (r, i) => `<tr${classes[i] ? ` class="${classes[i]}"` : ''}>${r.map((v) => `<td>${cell(v)}</td>`).join('')}</tr>`,
    )
    .join('')}</tbody></table>`;
}

export function section(title: string, body: string): string {
  return `<section><h2>${escapeHtml(title)}</h2>${body}</section>`;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px auto;max-width:820px;color:#222;padding:0 12px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#666}.cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 12px;min-width:120px}.card b{display:block;font-size:18px}
table{border-collapse:collapse;margin:8px 0;font-variant-numeric:tabular-nums}th,td{border-bottom:1px solid #eee;padding:3px 10px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f6f6f6}
tr.bad td,.bad{color:#b00020}tr.good td,.good{color:#1b7f2a}
svg{display:block;max-width:100%;height:auto}svg .grid{stroke:#eee}svg .axis{stroke:#999}
svg text{font:11px system-ui,sans-serif;fill:#555}svg .label{fill:#333}
.legend{list-style:none;padding:0;margin:2px 0 10px 64px;display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12px}
.swatch{display:inline-block;width:18px;border-top:3px solid;margin-right:6px;vertical-align:middle}.swatch.dashed{border-top-style:dashed}
.empty{color:#888}
`;

/** A whole report page: a title, a line under it, figure cards, then the sections. */
export function htmlPage(o: { title: string; meta: string; cards: [string, string][]; body: string }): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>${escapeHtml(o.title)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>${escapeHtml(o.title)}</h1>
<p class="meta">${escapeHtml(o.meta)}</p>
<div class="cards">${o.cards.map(([k, v]) => `<div class="card">${escapeHtml(k)}<b>${escapeHtml(v)}</b></div>`).join('')}</div>
${o.body}</body>
</html>
`;
}
