// The wallboard's charts, as plain SVG (no chart library to ship): today's
// calls hour by hour (answered, abandoned, the rest) and the service level
// through the day, from /api/v1/analytics/calls/hourly in the browser's zone.
const NS = 'http://www.w3.org/2000/svg';
const W = 480, H = 140, PAD = 18;

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, v);
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function frame(testid, title) {
  const root = svg('svg', { viewBox: `0 0 ${W} ${H + PAD}`, width: W, height: H + PAD, role: 'img', 'aria-label': title, 'data-testid': testid });
  root.append(svg('title', {}, title));
  for (let hour = 0; hour < 24; hour += 3) {
    root.append(svg('text', { x: PAD + hour * ((W - PAD) / 24), y: H + PAD - 4, 'font-size': 10, fill: '#656d76' }, `${hour}h`));
  }
  return root;
}

export function callsPerHour(hours, title) {
  const root = frame('wb-chart-calls', title);
  const max = Math.max(1, ...hours.map((x) => x.total));
  const bw = (W - PAD) / 24;
  for (const x of hours) {
    const g = svg('g', { 'data-hour': x.hour, 'data-total': x.total, 'data-answered': x.answered, 'data-abandoned': x.abandoned });
    let y = H;
    const other = x.total - x.answered - x.abandoned;
    for (const [n, color] of [[x.answered, '#1a7f37'], [x.abandoned, '#cf222e'], [other, '#8c959f']]) {
      if (!n) continue;
      const bh = (n / max) * (H - PAD);
      y -= bh;
      g.append(svg('rect', { x: PAD + x.hour * bw + 1, y, width: bw - 2, height: bh, fill: color }));
    }
    g.append(svg('title', {}, `${x.hour}h: ${x.total} (${x.answered} / ${x.abandoned})`));
    root.append(g);
  }
  root.append(svg('text', { x: 2, y: PAD, 'font-size': 10, fill: '#656d76' }, String(max)));
  return root;
}

export function serviceLevel(hours, title) {
  const root = frame('wb-chart-sl', title);
  const bw = (W - PAD) / 24;
  const pts = hours.filter((x) => x.service_level !== null && x.service_level !== undefined)
    .map((x) => [PAD + x.hour * bw + bw / 2, H - x.service_level * (H - PAD), x]);
  root.append(svg('line', { x1: PAD, x2: W, y1: H - 0.8 * (H - PAD), y2: H - 0.8 * (H - PAD), stroke: '#9a6700', 'stroke-dasharray': '4 3' }));
  if (pts.length > 1) root.append(svg('polyline', { points: pts.map(([x, y]) => `${x},${y}`).join(' '), fill: 'none', stroke: '#0969da', 'stroke-width': 2 }));
  for (const [cx, cy, x] of pts) {
    root.append(svg('circle', { cx, cy, r: 3, fill: '#0969da', 'data-hour': x.hour, 'data-sl': x.service_level },
      svg('title', {}, `${x.hour}h: ${Math.round(x.service_level * 100)} %`)));
  }
  root.append(svg('text', { x: 2, y: PAD, 'font-size': 10, fill: '#656d76' }, '100%'));
  return root;
}
