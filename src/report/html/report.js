// pgleak's HTML report. Draws the data src/report/html_report.cpp embedded
// (one entry per JSON report) with Chart.js, side by side on shared axes.
// Every string from a report (scenario text, server messages) reaches the
// page through textContent, never as markup. When done it writes a
// self-check into #pgleak-self-check: what each chart drew (points, peak,
// painted pixels) and any error, which tests/browser reads.
(function () {
  'use strict';

  const check = { charts: [], errors: [], blocked: [], done: false };
  window.addEventListener('error', (e) => check.errors.push(String(e.message)));
  document.addEventListener('securitypolicyviolation', (e) => check.blocked.push(e.blockedURI));
  const consoleError = console.error;
  console.error = function (...args) {
    check.errors.push(args.map(String).join(' '));
    consoleError.apply(console, args);
  };

  // Okabe-Ito: told apart with every common colour-vision deficiency, and in
  // grey on paper (lines also differ by dash).
  const C = {
    black: '#000000', orange: '#E69F00', sky: '#56B4E9', green: '#009E73',
    yellow: '#F0E442', blue: '#0072B2', vermillion: '#D55E00', purple: '#CC79A7', grey: '#999999',
  };
  const STATE_COLOURS = {
    'active': C.blue, 'idle': C.sky, 'idle in transaction': C.orange,
    'idle in transaction (aborted)': C.vermillion, 'other': C.grey,
  };
  const LINE_COLOURS = [C.blue, C.orange, C.green, C.vermillion, C.purple, C.sky, C.black,
    C.yellow];
  const DASHES = [[], [6, 3], [2, 2], [8, 3, 2, 3]];

  const el = (tag, attrs, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v; else e.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  };

  const duration = (s) => {
    if (!isFinite(s)) return '-';
    if (s < 1) return `${Math.round(s * 1000)}ms`;
    if (s < 120) return `${+s.toFixed(1)}s`;
    if (s < 7200) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
    return `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m`;
  };
  const max = (xs) => xs.reduce((m, x) => (x > m ? x : m), 0);

  const pages = JSON.parse(document.getElementById('pgleak-data').textContent);
  const main = document.getElementById('reports');
  main.className = pages.length > 1 ? 'side-by-side' : '';

  // Shared axes: every report on the same time span and connection scale.
  const xMax = max(pages.map((p) => Math.max(p.duration_nominal_s || 0, max(p.series.t))));
  const yMax = Math.ceil(1.08 * max(pages.map((p) =>
    Math.max(p.limits.max_connections || 0, max(p.series.own), max(p.series.total)))));

  Chart.defaults.animation = false;
  Chart.defaults.font.family = 'system-ui, sans-serif';
  Chart.defaults.color = '#222';

  const timeAxis = (page) => ({
    type: 'linear', min: 0, max: xMax,
    title: { display: true, text: 'time (nominal)' },
    ticks: { callback: (v) => duration(v) },
  });
  const tooltipTitle = (page) => (items) => {
    if (!items.length) return '';
    const t = items[0].parsed.x;
    return `${duration(t)} nominal (${duration(t * page.time_scale)} applied)`;
  };

  // Shades the scenario's network fault windows behind a time-axis chart,
  // each labelled at its top; counts what it drew for the self-check.
  const faultWindows = (page) => ({
    id: 'faultWindows',
    beforeDatasetsDraw(c) {
      const x = c.scales.x;
      const area = c.chartArea;
      const ctx = c.ctx;
      c.$windowsDrawn = 0;
      for (const w of page.windows) {
        const left = Math.max(area.left, x.getPixelForValue(w.from));
        const right = Math.min(area.right, x.getPixelForValue(Math.max(w.to, w.from)));
        if (!(right >= left)) continue;
        ctx.save();
        ctx.fillStyle = 'rgba(213, 94, 0, 0.13)';
        ctx.fillRect(left, area.top, Math.max(2, right - left), area.bottom - area.top);
        ctx.fillStyle = '#8a3d00';
        ctx.font = '11px system-ui, sans-serif';
        ctx.fillText(w.label, left + 3, area.top + 12);
        ctx.restore();
        c.$windowsDrawn += 1;
      }
    },
  });

  // Draws a chart and records what it drew for the self-check.
  function chart(page, index, id, title, description, config, peakOf) {
    const figure = el('figure', { class: 'chart' });
    const canvas = el('canvas', { role: 'img', tabindex: '0', 'aria-label': `${title}. ${description}` });
    const box = el('div', { class: 'canvas-box' }, canvas);
    figure.append(el('figcaption', {}, el('strong', {}, title), ' ', description), box);
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false }, config.options);
    config.options.plugins = Object.assign({ tooltip: { callbacks: { title: tooltipTitle(page) } } },
      config.options.plugins);
    const timed = config.options.scales && config.options.scales.x && config.options.scales.x.type === 'linear';
    if (timed && page.windows.length) {
      config.plugins = [faultWindows(page)];
    }
    const made = new Chart(canvas.getContext('2d'), config);
    check.charts.push({ report: index, id, chart: made, canvas, peakOf });
    return figure;
  }

  function connectionsChart(page, index) {
    const s = page.series;
    const datasets = Object.keys(STATE_COLOURS).map((state) => ({
      label: state, stack: 'states', fill: true, pointRadius: 0, borderWidth: 1,
      borderColor: STATE_COLOURS[state], backgroundColor: STATE_COLOURS[state] + 'B0',
      data: s.t.map((t, i) => ({ x: t, y: s.states[state][i] })),
    }));
    const limitLine = (label, value, colour, dash, stack) => ({
      label, stack, fill: false, pointRadius: 0, borderWidth: 2, borderColor: colour,
      borderDash: dash, data: [{ x: 0, y: value }, { x: xMax, y: value }],
    });
    datasets.push(limitLine(`max_connections ${page.limits.max_connections}`,
      page.limits.max_connections, C.black, [6, 3], 'l1'));
    datasets.push(limitLine(`limit for the workers' role ${page.limits.limit}`,
      page.limits.limit, C.vermillion, [2, 2], 'l2'));
    if (page.limits.pool_caps !== null) {
      const caps = page.limits.pool_caps;
      datasets.push(limitLine(`pools' caps together ${caps}${caps > yMax ? ' (above the chart)' : ''}`,
        Math.min(caps, yMax), C.purple, [8, 3, 2, 3], 'l3'));
    }
    const peak = max(s.own);
    return chart(page, index, 'connections', 'Server connections by state',
      `The run's backends, stacked by state; peak ${peak} against a limit of ${page.limits.limit}.`,
      {
        type: 'line', data: { datasets },
        options: {
          scales: { x: timeAxis(page), y: { stacked: true, min: 0, max: yMax, title: { display: true, text: 'connections' } } },
          interaction: { mode: 'nearest', axis: 'x', intersect: false },
        },
      },
      (c) => {
        const states = c.data.datasets.filter((d) => d.stack === 'states');
        return max(states[0].data.map((_, i) => states.reduce((sum, d) => sum + d.data[i].y, 0)));
      });
  }

  function heldChart(page, index) {
    const s = page.series;
    const names = Object.keys(s.held);
    const datasets = names.map((name, i) => ({
      label: name, fill: false, pointRadius: 0, borderWidth: 2, stepped: true,
      borderColor: LINE_COLOURS[i % LINE_COLOURS.length], borderDash: DASHES[Math.floor(i / LINE_COLOURS.length) % DASHES.length],
      data: s.t.map((t, j) => ({ x: t, y: s.held[name][j] })),
    }));
    return chart(page, index, 'held', s.held_folded ? 'Connections held per process (replicas folded)' : 'Connections held per process replica',
      'Checked out from each pool, the pools engine.dispose() replaced included.',
      {
        type: 'line', data: { datasets },
        options: { scales: { x: timeAxis(page), y: { min: 0, title: { display: true, text: 'checked out' } } } },
      },
      (c) => max(c.data.datasets.map((d) => max(d.data.map((p) => p.y)))));
  }

  function waitersChart(page, index) {
    const s = page.series;
    const timeouts = page.events.drawn.filter((e) => e.kind === 'pool_timeout');
    return chart(page, index, 'waiters', 'Pool waiters and timeouts',
      `Checkouts waiting in any pool at each sample; ${page.events.by_kind.pool_timeout || 0} pool timeouts.`,
      {
        type: 'line',
        data: {
          datasets: [
            { label: 'waiting', fill: true, pointRadius: 0, borderWidth: 1, borderColor: C.orange,
              backgroundColor: C.orange + '80', data: s.t.map((t, i) => ({ x: t, y: s.waiting[i] })) },
            { label: 'pool timeout', type: 'scatter', pointStyle: 'crossRot', pointRadius: 5,
              borderColor: C.vermillion, backgroundColor: C.vermillion, data: timeouts.map((e) => ({ x: e.t, y: 0 })) },
          ],
        },
        options: { scales: { x: timeAxis(page), y: { min: 0, title: { display: true, text: 'waiting' } } } },
      },
      (c) => max(c.data.datasets[0].data.map((p) => p.y)));
  }

  // The three layers on one time axis, where PgBouncer was in the path: the
  // application's checkouts, PgBouncer's clients and server connections, and
  // the backends PostgreSQL shows.
  function layersChart(page, index) {
    const s = page.series;
    const b = s.pgbouncer;
    const sum = (keys, i) => keys.reduce((n, k) => n + b[k][i], 0);
    const held = s.t.map((t, i) => Object.keys(s.held).reduce((n, k) => n + s.held[k][i], 0));
    const line = (label, color, ys, dash) => ({ label, fill: false, pointRadius: 0, borderWidth: 2,
      borderColor: color, borderDash: dash || [], data: s.t.map((t, i) => ({ x: t, y: ys[i] })) });
    return chart(page, index, 'layers', 'Application, PgBouncer and PostgreSQL',
      'Connections the application checked out, PgBouncer clients (active and waiting) and its server connections, and the backends PostgreSQL shows, at each sample.',
      {
        type: 'line',
        data: {
          datasets: [
            line('application: checked out', C.blue, held),
            line('PgBouncer clients active', C.green, s.t.map((t, i) => b.cl_active[i])),
            line('PgBouncer clients waiting', C.orange, s.t.map((t, i) => b.cl_waiting[i]), [4, 3]),
            line('PgBouncer server connections', C.purple, s.t.map((t, i) => sum(['sv_active', 'sv_idle', 'sv_used'], i))),
            line('PostgreSQL backends', C.vermillion, s.own, [2, 2]),
          ],
        },
        options: { scales: { x: timeAxis(page), y: { min: 0, title: { display: true, text: 'connections' } } } },
      },
      (c) => max(c.data.datasets.map((d) => max(d.data.map((p) => p.y)))));
  }

  function waitDistributionChart(page, index) {
    const w = page.summary.checkout_wait_ms || {};
    let labels;
    let values;
    let what;
    if (Array.isArray(page.wait_histogram) && page.wait_histogram.length) {
      labels = page.wait_histogram.map((b) => `≤ ${b.le_ms} ms`);
      values = page.wait_histogram.map((b) => b.count);
      what = `${w.count || 0} checkouts by how long they waited`;
    } else {
      labels = ['p50', 'p95', 'p99', 'max'];
      values = labels.map((k) => w[k] || 0);
      what = 'percentiles in ms (this report has no histogram)';
    }
    return chart(page, index, 'waits', 'Checkout waits', `${what}; p95 ${w.p95 ?? '-'} ms, max ${w.max ?? '-'} ms.`,
      {
        type: 'bar',
        data: { labels, datasets: [{ label: 'checkouts', backgroundColor: C.blue, data: values }] },
        options: { plugins: { tooltip: { callbacks: { title: (items) => (items.length ? items[0].label : '') } } }, scales: { y: { min: 0 } } },
      },
      (c) => max(c.data.datasets[0].data));
  }

  const EVENT_ROWS = ['pool_timeout', 'connect_error', 'query_error', 'connection_lost', 'server_log',
    'fault', 'process_exit', 'process_crash', 'process_start', 'engine_dispose', 'application_error',
    'holder', 'other'];
  const EVENT_COLOURS = [C.orange, C.vermillion, C.purple, C.black, C.blue, C.green, C.sky, C.vermillion,
    C.green, C.purple, C.grey, C.yellow, C.grey];

  function eventsChart(page, index) {
    const rowOf = (kind) => (EVENT_ROWS.includes(kind) ? EVENT_ROWS.indexOf(kind) : EVENT_ROWS.length - 1);
    const points = page.events.drawn.map((e) => ({ x: e.t, y: rowOf(e.kind), e }));
    // Holders crossing leak_threshold: from the holder table.
    const threshold = page.scenario.leak_threshold ? page.scenario.leak_threshold.nominal_s : null;
    if (threshold !== null) {
      for (const h of page.holders) {
        points.push({ x: h.since_s / page.time_scale + threshold, y: rowOf('holder'),
          e: { kind: 'holder', message: `${h.process}.${h.replica} ${h.worker} held backend ${h.backend_pid} past leak_threshold` } });
      }
    }
    // One row per kind that occurred, in EVENT_ROWS order.
    const used = [...new Set(points.map((p) => p.y))].sort((a, b) => a - b);
    const names = used.map((row) => EVENT_ROWS[row]);
    const datasets = used.map((row, i) => ({
      label: EVENT_ROWS[row], type: 'scatter', pointRadius: 4, pointStyle: ['circle', 'rect', 'triangle', 'crossRot'][row % 4],
      borderColor: EVENT_COLOURS[row], backgroundColor: EVENT_COLOURS[row],
      data: points.filter((p) => p.y === row).map((p) => ({ x: p.x, y: i, e: p.e })),
    }));
    const total = Object.values(page.events.by_kind).reduce((a, b) => a + b, 0);
    return chart(page, index, 'events', 'Events',
      `${total} events${total > page.events.drawn.length ? ` (first ${page.events.drawn.length} drawn)` : ''}: timeouts, refusals, terminations, faults, process ends, holders.`,
      {
        type: 'scatter', data: { datasets },
        options: {
          scales: {
            x: timeAxis(page),
            y: { min: -1, max: Math.max(1, names.length), reverse: true, grid: { display: false },
                 ticks: { stepSize: 1, autoSkip: false, callback: (v) => (Number.isInteger(v) ? names[v] || '' : '') } },
          },
          plugins: {
            legend: { display: false },
            tooltip: { callbacks: { label: (item) => {
              const e = item.raw.e;
              return `${e.kind}${e.sqlstate ? ' ' + e.sqlstate : ''}${e.source ? ' (code from ' + e.source + ')' : ''}: ${(e.message || '').slice(0, 120)}`;
            } } },
          },
        },
      },
      (c) => c.data.datasets.reduce((n, d) => n + d.data.length, 0));
  }

  function table(caption, headers, rows, empty) {
    const t = el('table', {}, el('caption', {}, caption));
    t.append(el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { scope: 'col' }, h)))));
    const body = el('tbody');
    if (!rows.length) {
      body.append(el('tr', {}, el('td', { colspan: String(headers.length) }, empty || 'none')));
    }
    for (const r of rows) body.append(el('tr', {}, ...r.map((c) => el('td', {}, c))));
    t.append(body);
    return t;
  }

  function errorsTable(page) {
    const client = page.summary.errors_by_sqlstate || {};
    const server = page.summary.server_errors_by_sqlstate || {};
    // Maps, not objects: a code is a key from a file ("__proto__" included).
    const count = (counts) => new Map(Object.entries(counts));
    const clientCounts = count(client);
    const serverCounts = count(server);
    const sources = new Map();
    for (const e of page.events.drawn) {
      if (!e.sqlstate) continue;
      if (!sources.has(e.sqlstate)) sources.set(e.sqlstate, new Set());
      sources.get(e.sqlstate).add(e.source || 'unknown');
    }
    const codes = [...new Set([...clientCounts.keys(), ...serverCounts.keys()])].sort();
    return table('Errors by SQLSTATE', ['SQLSTATE', 'clients saw', 'server logged', 'code from'],
      codes.map((c) => [c, clientCounts.get(c) || 0, serverCounts.get(c) || 0,
        sources.has(c) ? [...sources.get(c)].join(', ') : '-']),
      `no SQLSTATE (${page.summary.connections_lost || 0} connections lost, reported without one)`);
  }

  // SQLAlchemy's pool as pool_size+max_overflow; another library's by its
  // own settings.
  function poolText(pool) {
    if (pool.kind && pool.kind !== 'sqlalchemy') {
      const settings = Object.entries(pool.settings || {}).map(([k, v]) =>
        `${k} ${v !== null && typeof v === 'object' ? duration(v.nominal_s) : v}`);
      return `${pool.library || pool.kind}: ${settings.join(', ')}`;
    }
    return `${pool.pool_size}+${pool.max_overflow}${pool.poolclass === 'NullPool' ? ' NullPool' : ''}`;
  }

  function scenarioTable(page) {
    const rows = [];
    for (const p of page.scenario.processes || []) {
      const pool = p.pool || {};
      const wait = pool.checkout_timeout || pool.pool_timeout;
      const timeout = wait ? `${duration(wait.nominal_s)} (${duration(wait.applied_s)} applied)` : '-';
      for (const w of p.workers || []) {
        rows.push([p.name, p.replicas, poolText(pool),
          timeout, w.name, w.steps ? 'steps' : w.pattern, w.count,
          w.think_time ? `${duration(w.think_time.nominal_s)} (${duration(w.think_time.applied_s)})` : '-']);
      }
    }
    return table(`Scenario as run: ${duration(page.duration_nominal_s)} nominal at time_scale ${page.time_scale}`,
      ['process', 'replicas', 'pool', 'checkout timeout', 'group', 'pattern', 'workers', 'think time (applied)'], rows);
  }

  function section(page, index) {
    const v = page.verdict || {};
    const badge = el('span', { class: `badge ${v.pass ? 'pass' : 'fail'}` }, v.pass ? 'PASS' : 'FAIL', ' ', v.diagnosis || '');
    const s = el('section', { 'aria-labelledby': `report-${index}` },
      el('h2', { id: `report-${index}` }, page.name || page.label, ' ', badge),
      el('p', { class: 'label' }, page.label, page.run && page.run.started_at ? ` · ${page.run.started_at}` : '',
        page.run && page.run.status ? ` · ${page.run.status}` : '',
        page.run && page.run.engine ? ` · ${page.run.engine}` : ''),
      page.description ? el('p', { class: 'description' }, page.description) : null);
    s.append(el('ul', { class: 'findings' }, ...(v.findings || []).map((f) => el('li', {}, el('strong', {}, f.diagnosis), ': ', f.evidence))));
    if (page.windows.length) {
      s.append(el('p', { class: 'note' }, 'Network faults (shaded on every time axis): ',
        page.windows.map((w) => `${w.label} ${duration(w.from)}–${duration(w.to)}`).join('; '), '.'));
    }
    if (page.series.drawn < page.series.samples) {
      s.append(el('p', { class: 'note' }, `Drawn: ${page.series.drawn} of ${page.series.samples} samples (the lowest and highest of each stretch, so peaks stay).`));
    }
    s.append(connectionsChart(page, index), heldChart(page, index));
    if (page.series.pgbouncer) {
      s.append(layersChart(page, index));
    }
    s.append(waitersChart(page, index), waitDistributionChart(page, index), eventsChart(page, index));
    s.append(table('Thresholds', ['metric', 'expected', 'actual', 'result'],
      (v.thresholds || []).map((t) => [t.metric, t.expect, t.actual === null || t.actual === undefined ? '-' : t.actual, t.pass ? 'pass' : 'FAIL'])));
    const holders = table(`Holders past leak_threshold (${page.holders_total}, oldest first${page.holders_total > page.holders.length ? `; the first ${page.holders.length}` : ''})`,
      ['process', 'worker', 'pattern', 'backend', 'since', 'held (nominal)'],
      page.holders.map((h) => [`${h.process}.${h.replica}`, h.worker, h.pattern, h.backend_pid, duration(h.since_s / page.time_scale), duration(h.age_nominal_s)]));
    if (page.holders.length > 10) {
      // Long lists fold away (open them with Enter or Space); print shows them.
      s.append(el('details', { class: 'long' }, el('summary', {}, `Holders past leak_threshold: ${page.holders_total}`), holders));
    } else {
      s.append(holders);
    }
    const b = page.budget || {};
    s.append(table(`Budget: worst case ${b.unbounded ? 'unbounded' : b.worst_case} of ${b.available} available`,
      ['process', 'replicas', 'pool (most+overflow)', 'per replica', 'worst case'],
      (b.processes || []).map((p) => [p.name, p.replicas,
        p.kind && p.kind !== 'sqlalchemy' ? `${p.kind} ${p.pool_size}${p.eager ? ` (${p.eager} at start)` : ''}` : `${p.pool_size}+${p.max_overflow}`,
        p.unbounded ? 'unbounded' : p.per_replica, p.unbounded ? '-' : p.worst_case])));
    if (page.shards) {
      s.append(table(`Shards (${page.shards.length}${page.start_skew_ms === null ? '' : `, started within ${page.start_skew_ms} ms of each other`})`,
        ['shard', 'status', 'how it ended', 'replicas', 'wall', 'samples the server'],
        page.shards.map((x) => [x.index, x.status, x.status_detail || '-', x.replicas === null ? '-' : x.replicas,
          x.wall_s === null ? '-' : `${Number(x.wall_s).toFixed(1)} s`, x.samples_server ? 'yes' : 'no'])));
    }
    s.append(errorsTable(page), scenarioTable(page));
    return s;
  }

  // A report of a shape this page does not know costs its own section, not the page.
  pages.forEach((page, i) => {
    try {
      main.append(section(page, i));
    } catch (e) {
      main.append(el('section', { class: 'unreadable' },
        el('h2', {}, String(page.name || page.label || `report ${i + 1}`)),
        el('p', {}, `This report could not be drawn: ${e && e.message ? e.message : e}`)));
    }
  });

  // The self-check: what each chart drew, and whether its canvas has paint.
  const painted = (canvas) => {
    const ctx = canvas.getContext('2d');
    const { width, height } = canvas;
    if (!width || !height) return 0;
    const data = ctx.getImageData(0, 0, width, height).data;
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) n++;
    return n;
  };
  const report = () => {
    const out = check.charts.map((c) => ({
      report: c.report, id: c.id,
      points: c.chart.data.datasets.reduce((n, d) => n + d.data.length, 0),
      peak: c.peakOf(c.chart),
      windows: c.chart.$windowsDrawn || 0,
      painted: painted(c.canvas),
    }));
    document.getElementById('pgleak-self-check').textContent = JSON.stringify({
      charts: out, errors: check.errors, blocked: check.blocked,
      reports: pages.map((p) => ({ name: p.name, samples: p.series.samples, drawn: p.series.drawn, peak: p.summary.peak_connections })),
    });
  };
  requestAnimationFrame(() => requestAnimationFrame(report));
  window.addEventListener('beforeprint', () => {
    document.querySelectorAll('details').forEach((d) => { d.open = true; });
    check.charts.forEach((c) => c.chart.resize());
  });
}());
