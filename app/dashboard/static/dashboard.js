/* entropy-budget dashboard: reads the public API and draws it with uPlot (vendored).
 *
 * Nothing here evaluates a rule: alerts, statistics and diversity are shown as the API reports
 * them. Everything is rendered with textContent (never innerHTML), and the page is served with a
 * CSP that forbids inline script and style.
 *
 * window.dashboardState exposes what the page last fetched and what the charts hold, for tests
 * and for anyone poking at the page from the browser console.
 */
(function () {
  "use strict";

  const body = document.body;
  const CONFIG = Object.freeze({
    floor: Number(body.dataset.floor),
    ceiling: Number(body.dataset.ceiling),
    diversityThreshold: Number(body.dataset.diversityThreshold),
    refreshMs: Number(body.dataset.refreshSeconds) * 1000,
    pageSize: 1000,
    maxHistory: 2000,
    maxJobs: 1000,
    recentResponses: 5,
    maxWebhooks: 20,
    recentDeliveries: 5,
  });
  const KEY_STORAGE = "entropy-budget.read-key";

  /** The range picker's choices: each chart shows this window of time, or all of its data. */
  const RANGES = Object.freeze({
    hour: { seconds: 3600, text: "the last hour" },
    day: { seconds: 86400, text: "the last day" },
    all: { seconds: null, text: "everything" },
  });
  const DEFAULT_RANGE = "all";

  const MARKERS = [
    { type: "initial", label: "initial", color: "#64748b", shape: "diamond" },
    { type: "boost", label: "boost", color: "#16a34a", shape: "up" },
    { type: "decay", label: "decay", color: "#ea580c", shape: "down" },
    { type: "floor_enforced", label: "floor enforced", color: "#dc2626", shape: "square" },
    { type: "ceiling_enforced", label: "ceiling enforced", color: "#7c3aed", shape: "square" },
    { type: "manual", label: "manual", color: "#0f172a", shape: "circle" },
  ];
  const COLORS = {
    budget: "#2563eb",
    band: "rgba(37, 99, 235, 0.08)",
    bandEdge: "rgba(37, 99, 235, 0.35)",
    event: "#db2777",
    diversity: "#0d9488",
    jobDiversity: "#d97706",
    threshold: "#dc2626",
  };

  const BUDGET_STATS = [
    ["current_budget", "current", fixed3],
    ["avg_budget", "average", fixed3],
    ["min_budget", "minimum", fixed3],
    ["max_budget", "maximum", fixed3],
    ["total_adjustments", "adjustments", integer],
    ["initial_count", "initial", integer],
    ["boost_count", "boosts", integer],
    ["decay_count", "decays", integer],
    ["floor_enforcements", "floor enforced", integer],
    ["ceiling_enforcements", "ceiling enforced", integer],
  ];
  const RESPONSE_STATS = [
    ["total_responses", "responses", integer],
    ["avg_entropy_at_trigger", "avg entropy at trigger", fixed3],
    ["budget_boosts", "budget boosts", integer],
    ["quarantine_revisits", "quarantine revisits", integer],
    ["last_response", "last response", timestamp],
  ];
  const ENTROPY_STATS = [
    ["diversity_index", "diversity index", fixed3],
    ["threshold_exceeded", "below threshold", yesNo],
    ["shannon_entropy", "Shannon entropy (bits)", fixed3],
    ["max_possible_entropy", "max possible (bits)", fixed3],
    ["unique_pattern_count", "patterns", integer],
    ["effective_pattern_count", "patterns applied", integer],
    ["total_applications", "applications", integer],
    ["dominant_pattern_share", "dominant pattern share", percent],
  ];

  const state = {
    job: null,
    range: DEFAULT_RANGE,
    window: null, // {since, until} in epoch seconds while a range other than "all" is shown
    jobs: [],
    status: "loading",
    lastUpdated: null,
    refreshCount: 0,
    error: null,
    budget: { records: [], truncated: false, plotted: null },
    responses: { records: [], truncated: false, events: [], recent: [] },
    // snapshots: the global line; job: the selected job's policy scope (null without a job);
    // rows: both lines on one time axis, as the chart holds them.
    diversity: { snapshots: [], truncated: false, job: null, rows: [], plotted: null },
    statistics: { budget: null, responses: null, entropy: null },
    alerts: null,
    webhooks: { endpoints: [], truncated: false },
  };
  window.dashboardState = state;

  const $ = (id) => document.getElementById(id);
  const els = {
    picker: $("job-picker"),
    rangePicker: $("range-picker"),
    lastUpdated: $("last-updated"),
    statusDot: $("status-dot"),
    keyForm: $("key-form"),
    keyInput: $("api-key"),
    keyForget: $("key-forget"),
    authBanner: $("auth-banner"),
    authDetail: $("auth-detail"),
    errorBanner: $("error-banner"),
    budgetChart: $("budget-chart"),
    budgetReadout: $("budget-readout"),
    budgetNote: $("budget-note"),
    budgetSubtitle: $("budget-subtitle"),
    diversityChart: $("diversity-chart"),
    diversityReadout: $("diversity-readout"),
    diversityNote: $("diversity-note"),
    jobDiversity: $("job-diversity"),
    jobDiversityScope: $("job-diversity-scope"),
    jobDiversityValue: $("job-diversity-value"),
    jobDiversityDetail: $("job-diversity-detail"),
    jobDiversityKey: $("job-diversity-key"),
    jobDiversityKeyLabel: $("job-diversity-key-label"),
    alerts: $("alerts"),
    alertsFiring: $("alerts-firing"),
    budgetStats: $("budget-stats"),
    responseStats: $("response-stats"),
    recentResponses: $("recent-responses"),
    entropyStats: $("entropy-stats"),
    webhooks: $("webhooks"),
    webhooksBadge: $("webhooks-badge"),
  };

  // ---- formatting ----------------------------------------------------------------------------

  function fixed3(value) {
    return value === null || value === undefined ? "–" : Number(value).toFixed(3);
  }
  function integer(value) {
    return value === null || value === undefined ? "–" : String(value);
  }
  function percent(value) {
    return value === null || value === undefined ? "–" : `${(value * 100).toFixed(1)}%`;
  }
  function yesNo(value) {
    return value ? "yes" : "no";
  }
  function pad(n, width = 2) {
    return String(n).padStart(width, "0");
  }
  function utcText(date) {
    return (
      `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ` +
      `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} UTC`
    );
  }
  function timestamp(value) {
    return value ? utcText(new Date(epochSeconds(value) * 1000)) : "never";
  }

  /** RFC 3339 -> epoch seconds, keeping the microseconds that Date would drop. */
  function epochSeconds(text) {
    const match = /^(.*T\d{2}:\d{2}:\d{2})(\.\d+)?(.*)$/.exec(text);
    if (!match) return Date.parse(text) / 1000;
    return Date.parse(match[1] + match[3]) / 1000 + (match[2] ? Number(`0${match[2]}`) : 0);
  }

  // ---- the read key and the API --------------------------------------------------------------

  function readKey() {
    try {
      return window.localStorage.getItem(KEY_STORAGE) || "";
    } catch (_error) {
      return els.keyInput.value.trim();
    }
  }
  function storeKey(key) {
    try {
      if (key) window.localStorage.setItem(KEY_STORAGE, key);
      else window.localStorage.removeItem(KEY_STORAGE);
    } catch (_error) {
      /* storage disabled: the key lives in the field for this page only */
    }
  }

  class AuthError extends Error {
    constructor(status, detail) {
      super(detail || `HTTP ${status}`);
      this.status = status;
    }
  }
  class ApiError extends Error {}

  async function api(path, params) {
    const url = new URL(path, document.baseURI);
    for (const [name, value] of Object.entries(params || {})) {
      if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
    }
    const headers = { Accept: "application/json" };
    const key = readKey();
    if (key) headers.Authorization = `Bearer ${key}`;
    let response;
    try {
      response = await fetch(url, { headers, cache: "no-store", credentials: "same-origin" });
    } catch (error) {
      throw new ApiError(`cannot reach the server (${error.message})`);
    }
    if (response.ok) return response.json();
    let detail = "";
    try {
      const problem = await response.json();
      detail = problem.detail || problem.title || "";
    } catch (_error) {
      /* not a problem document */
    }
    if (response.status === 401 || response.status === 403) {
      throw new AuthError(response.status, detail);
    }
    throw new ApiError(`${url.pathname} answered ${response.status}${detail ? `: ${detail}` : ""}`);
  }

  /** Follows next_cursor until `maxItems` items (newest first). */
  async function collect(path, params, maxItems) {
    const items = [];
    let cursor = null;
    do {
      const page = await api(path, {
        ...params,
        limit: Math.min(CONFIG.pageSize, maxItems - items.length),
        cursor,
      });
      items.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor && items.length < maxItems);
    return { items, truncated: Boolean(cursor) };
  }

  // ---- time charts ---------------------------------------------------------------------------

  const cursorSync = uPlot.sync("entropy-budget-timeline");
  const resizers = [];

  function utcDate(seconds) {
    return uPlot.tzDate(new Date(seconds * 1e3), "Etc/UTC");
  }

  /** The time window of the chosen range, ending now; null for everything. */
  function currentWindow() {
    const seconds = RANGES[state.range].seconds;
    if (seconds === null) return null;
    const until = Date.now() / 1000;
    return { since: until - seconds, until };
  }

  /** The query parameters that limit a history to the window. */
  function windowParams(view) {
    return view.window ? { since: new Date(view.window.since * 1000).toISOString() } : {};
  }

  /** A chart's time axis: the chosen window, or else its own data with a 3% margin. */
  function xRangeOf(times, window) {
    if (window) return [window.since, window.until];
    if (times.length === 0) {
      const now = Date.now() / 1000;
      return [now - 3600, now];
    }
    let min = Infinity;
    let max = -Infinity;
    for (const time of times) {
      if (time < min) min = time;
      if (time > max) max = time;
    }
    const span = max - min;
    const margin = span > 0 ? span * 0.03 : 60;
    return [min - margin, max + margin];
  }

  /** A points path builder drawing `shape` at every non-null value of the series. */
  function shapePoints(shape) {
    return (u, seriesIdx, idx0, idx1) => {
      const series = u.series[seriesIdx];
      const size = (series.points.size * devicePixelRatio) / 2;
      const path = new Path2D();
      const xs = u.data[0];
      const ys = u.data[seriesIdx];
      for (let i = idx0; i <= idx1; i++) {
        if (ys[i] === null || ys[i] === undefined) continue;
        const x = u.valToPos(xs[i], "x", true);
        const y = u.valToPos(ys[i], series.scale, true);
        if (shape === "up") {
          path.moveTo(x, y - size);
          path.lineTo(x + size, y + size * 0.8);
          path.lineTo(x - size, y + size * 0.8);
          path.closePath();
        } else if (shape === "down") {
          path.moveTo(x, y + size);
          path.lineTo(x + size, y - size * 0.8);
          path.lineTo(x - size, y - size * 0.8);
          path.closePath();
        } else if (shape === "square") {
          path.rect(x - size * 0.8, y - size * 0.8, size * 1.6, size * 1.6);
        } else if (shape === "diamond") {
          path.moveTo(x, y - size);
          path.lineTo(x + size, y);
          path.lineTo(x, y + size);
          path.lineTo(x - size, y);
          path.closePath();
        } else {
          path.moveTo(x + size * 0.8, y);
          path.arc(x, y, size * 0.8, 0, 2 * Math.PI);
        }
      }
      return { stroke: path, fill: path };
    };
  }

  function chartWidth(element) {
    return Math.max(320, element.clientWidth);
  }

  // uPlot's time-axis table (tick size, format, then the format when the year, month, day,
  // hour, minute or second rolls over): 24-hour UTC times, dates in ISO order.
  const DAY = 86400;
  const TIME_AXIS_FORMATS = [
    [DAY * 365, "{YYYY}", null, null, null, null, null, null, 1],
    [DAY * 28, "{YYYY}-{MM}", null, null, null, null, null, null, 1],
    [DAY, "{MM}-{DD}", "\n{YYYY}", null, null, null, null, null, 1],
    [3600, "{HH}:{mm}", "\n{YYYY}-{MM}-{DD}", null, "\n{MM}-{DD}", null, null, null, 1],
    [60, "{HH}:{mm}", "\n{YYYY}-{MM}-{DD}", null, "\n{MM}-{DD}", null, null, null, 1],
    [1, "{HH}:{mm}:{ss}", "\n{YYYY}-{MM}-{DD}", null, "\n{MM}-{DD}", null, null, null, 1],
    [0.001, ":{ss}.{fff}", "\n{YYYY}-{MM}-{DD} {HH}:{mm}", null, "\n{MM}-{DD} {HH}:{mm}", null, "\n{HH}:{mm}", null, 1],
  ];

  function sameKey(own, source) {
    return own === source;
  }

  /**
   * A chart over time with a time axis of its own: `times()` lists the instants it must show
   * (its records, its event lines), and the axis fits them, or the chosen window. `plotted()`
   * is the object in `dashboardState` that describes what the chart shows; the scales it was
   * drawn with are added to it after every redraw. Charts follow each other's cursor by time.
   */
  function timeChart({ element, height, series, yRange, times, plotted, hooks = {} }) {
    const recordScales = (u) => {
      const target = plotted();
      if (target) {
        target.scales = {
          x: [u.scales.x.min, u.scales.x.max],
          y: [u.scales.y.min, u.scales.y.max],
        };
      }
    };
    const options = {
      width: chartWidth(element),
      height,
      tzDate: utcDate,
      cursor: {
        // The charts follow the cursor's time; the horizontal line stays on its own chart.
        sync: { key: cursorSync.key, scales: ["x", "y"], match: [sameKey, () => false] },
        drag: { x: false, y: false },
      },
      legend: { show: false },
      scales: {
        x: { time: true, range: () => xRangeOf(times(), state.window) },
        y: { range: yRange },
      },
      axes: [
        {
          stroke: "#475569",
          grid: { stroke: "#e2e8f0" },
          ticks: { stroke: "#cbd5e1" },
          values: TIME_AXIS_FORMATS,
        },
        {
          stroke: "#475569",
          grid: { stroke: "#e2e8f0" },
          ticks: { stroke: "#cbd5e1" },
          values: (_u, splits) => splits.map((v) => v.toFixed(2)),
        },
      ],
      series: [{}, ...series],
      hooks: { ...hooks, draw: [...(hooks.draw || []), recordScales] },
    };
    const chart = new uPlot(options, [[], ...series.map(() => [])], element);
    cursorSync.sub(chart);
    resizers.push(() => chart.setSize({ width: chartWidth(element), height }));
    return chart;
  }

  new ResizeObserver(() => {
    for (const resize of resizers) resize();
  }).observe(document.querySelector("main"));

  function seriesOf(u, label) {
    const idx = u.series.findIndex((s) => s.label === label);
    return idx < 0 ? [] : u.data[idx];
  }

  // ---- page elements -------------------------------------------------------------------------

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function showNote(node, text) {
    node.hidden = !text;
    node.textContent = text || "";
  }

  function renderStats(container, group, spec, values) {
    const rows = [];
    for (const [field, label, format] of spec) {
      const row = element("div", "stat");
      row.append(element("dt", "", label));
      const value = values ? values[field] : undefined;
      const dd = element("dd", "", values ? format(value) : "–");
      dd.dataset.stat = `${group}.${field}`;
      dd.dataset.value = JSON.stringify(value === undefined ? null : value);
      row.append(dd);
      rows.push(row);
    }
    container.replaceChildren(...rows);
  }

  function chronological(page) {
    return page.items.slice().reverse();
  }

  // ---- panel: the exploration budget of the job, with its entropy responses ------------------

  function drawBand(u) {
    const { ctx } = u;
    const { left, width } = u.bbox;
    const top = u.valToPos(CONFIG.ceiling, "y", true);
    const bottom = u.valToPos(CONFIG.floor, "y", true);
    ctx.save();
    ctx.fillStyle = COLORS.band;
    ctx.fillRect(left, top, width, bottom - top);
    ctx.strokeStyle = COLORS.bandEdge;
    ctx.lineWidth = devicePixelRatio;
    ctx.setLineDash([4 * devicePixelRatio, 4 * devicePixelRatio]);
    for (const y of [top, bottom]) {
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + width, y);
      ctx.stroke();
    }
    ctx.restore();
  }

  function drawResponseEvents(u) {
    const { ctx } = u;
    const { left, top, width, height } = u.bbox;
    ctx.save();
    ctx.strokeStyle = COLORS.event;
    ctx.fillStyle = COLORS.event;
    ctx.lineWidth = 1.5 * devicePixelRatio;
    ctx.setLineDash([6 * devicePixelRatio, 3 * devicePixelRatio]);
    ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
    ctx.textAlign = "center";
    for (const x of state.responses.events) {
      const px = u.valToPos(x, "x", true);
      if (px < left || px > left + width) continue;
      ctx.beginPath();
      ctx.moveTo(px, top + 14 * devicePixelRatio);
      ctx.lineTo(px, top + height);
      ctx.stroke();
      ctx.fillText("response", px, top + 10 * devicePixelRatio);
    }
    ctx.restore();
  }

  function budgetReadout(u) {
    const idx = u.cursor.idx;
    const record = idx === null || idx === undefined ? null : state.budget.records[idx];
    els.budgetReadout.textContent = record
      ? `${timestamp(record.recorded_at)} · ${record.adjustment_type} · ` +
        `${fixed3(record.budget_value)}` +
        (record.entropy_at_time === null ? "" : ` · entropy ${fixed3(record.entropy_at_time)}`) +
        (record.adjustment_reason ? ` · ${record.adjustment_reason}` : "")
      : "\u00a0";
  }

  function budgetRange(_u, _min, max) {
    const top = Math.max(CONFIG.ceiling, Number.isFinite(max) ? max : 0);
    return [0, Math.min(1, top * 1.12 + 0.01)];
  }

  const budgetChart = timeChart({
    element: els.budgetChart,
    height: 300,
    yRange: budgetRange,
    times: () => [...state.budget.records.map((r) => r.x), ...state.responses.events],
    plotted: () => state.budget.plotted,
    series: [
      { label: "budget", stroke: COLORS.budget, width: 2, points: { show: false } },
      ...MARKERS.map((marker) => ({
        label: marker.label,
        stroke: marker.color,
        fill: marker.color,
        paths: () => null,
        points: {
          show: true,
          size: 11,
          width: 1,
          stroke: "#ffffff",
          fill: marker.color,
          paths: shapePoints(marker.shape),
        },
      })),
    ],
    hooks: { drawAxes: [drawBand], draw: [drawResponseEvents], setCursor: [budgetReadout] },
  });

  function plotBudget() {
    const records = state.budget.records;
    budgetChart.setData([
      records.map((r) => r.x),
      records.map((r) => r.budget_value),
      ...MARKERS.map((marker) =>
        records.map((r) => (r.adjustment_type === marker.type ? r.budget_value : null)),
      ),
    ]);
    const u = budgetChart;
    state.budget.plotted = {
      x: Array.from(u.data[0]),
      budget: Array.from(seriesOf(u, "budget")),
      markers: Object.fromEntries(
        MARKERS.map((marker) => [
          marker.type,
          seriesOf(u, marker.label).filter((v) => v !== null && v !== undefined).length,
        ]),
      ),
      events: state.responses.events.slice(),
      band: [CONFIG.floor, CONFIG.ceiling],
    };
  }

  const budgetPanel = {
    load(view) {
      if (!view.job) return null;
      const params = { job_hash: view.job, ...windowParams(view) };
      return Promise.all([
        collect("v1/budget/history", params, CONFIG.maxHistory),
        collect("v1/entropy-responses/history", params, CONFIG.maxHistory),
      ]);
    },
    show(histories, view) {
      const [budget, responses] = histories || [null, null];
      state.budget.records = budget
        ? chronological(budget).map((r) => ({ ...r, x: epochSeconds(r.recorded_at) }))
        : [];
      state.budget.truncated = Boolean(budget && budget.truncated);
      state.responses.records = responses ? chronological(responses) : [];
      state.responses.truncated = Boolean(responses && responses.truncated);
      state.responses.events = state.responses.records.map((r) => epochSeconds(r.recorded_at));
      els.budgetSubtitle.textContent = view.job || "";
      plotBudget();
      let note = "";
      if (!view.job) {
        note =
          "No job has a budget yet: the first reading (POST /v1/jobs/{job}/entropy-readings " +
          "or /v1/budget/adjustments) creates one.";
      } else if (state.budget.records.length === 0 && view.window) {
        note = `No budget records in ${RANGES[view.range].text}.`;
      } else if (state.budget.truncated) {
        note = `Showing the latest ${state.budget.records.length} budget records.`;
      }
      showNote(els.budgetNote, note);
    },
  };

  // ---- panel: pattern diversity over time, with the alert threshold --------------------------

  /** The threshold's label: an element over the plot, beside its line, never across it. */
  function placeThresholdLabel(u, lineY) {
    let label = u.over.querySelector(".threshold-label");
    if (!label) {
      label = element("span", "threshold-label", `alert threshold ${CONFIG.diversityThreshold}`);
      u.over.append(label);
    }
    const gap = 4;
    const above = lineY - gap - label.offsetHeight;
    label.style.top = `${above >= 0 ? above : lineY + gap}px`;
  }

  function drawThreshold(u) {
    const { ctx } = u;
    const { left, width } = u.bbox;
    const y = u.valToPos(CONFIG.diversityThreshold, "y", true);
    ctx.save();
    ctx.strokeStyle = COLORS.threshold;
    ctx.lineWidth = 1.5 * devicePixelRatio;
    ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(left + width, y);
    ctx.stroke();
    ctx.restore();
    placeThresholdLabel(u, u.valToPos(CONFIG.diversityThreshold, "y"));
  }

  /** The scope of the global line: every job's applications, all counted (the seed's). */
  const GLOBAL_ALL_TIME = Object.freeze({ job_hash: null, half_life_seconds: null });

  /** A scope in words, e.g. "job nightly-etl, half-life 300 s" or "all jobs, all-time". */
  function scopeText(scope) {
    const whose = scope.job_hash === null ? "all jobs" : `job ${scope.job_hash}`;
    const when =
      scope.half_life_seconds === null ? "all-time" : `half-life ${scope.half_life_seconds} s`;
    return `${whose}, ${when}`;
  }

  function sameScope(a, b) {
    return a.job_hash === b.job_hash && a.half_life_seconds === b.half_life_seconds;
  }

  /** The query parameters of GET /v1/pattern-entropy that measure `scope`. */
  function scopeParams(scope) {
    return { job_hash: scope.job_hash, half_life_seconds: scope.half_life_seconds };
  }

  /**
   * The snapshots of one scope, oldest first. The history filters by job (or keeps only
   * global ones); the half-life is matched here, as it has no filter of its own.
   */
  async function scopeSnapshots(scope, view) {
    const whose = scope.job_hash === null ? { scope: "global" } : { job_hash: scope.job_hash };
    const page = await collect(
      "v1/pattern-entropy/history",
      { ...whose, ...windowParams(view) },
      CONFIG.maxHistory,
    );
    const items = chronological(page).filter(
      (s) => s.scope.half_life_seconds === scope.half_life_seconds,
    );
    return {
      items: items.map((s) => ({ ...s, x: epochSeconds(s.calculated_at) })),
      truncated: page.truncated,
    };
  }

  /**
   * The job's own diversity: the scope its policy measures (what its readings without an
   * entropy use), now (judged against its policy's threshold by the API) and its snapshots.
   * A policy measuring every job all-time is the global line itself: no second line.
   */
  async function jobDiversity(view) {
    const policy = await api(`v1/jobs/${encodeURIComponent(view.job)}/policy`);
    // `job`: the job's own applications; `global`: every job's (as the service reads a policy).
    const scope = {
      job_hash: policy.diversity.scope === "job" ? view.job : null,
      half_life_seconds: policy.diversity.half_life_seconds,
    };
    const ownLine = !sameScope(scope, GLOBAL_ALL_TIME);
    const [now, snapshots] = await Promise.all([
      api("v1/pattern-entropy", {
        ...scopeParams(scope),
        alert_threshold: policy.entropy_threshold,
      }),
      ownLine ? scopeSnapshots(scope, view) : null,
    ]);
    return { job: view.job, scope, threshold: policy.entropy_threshold, now, snapshots };
  }

  /** The two lines on one time axis: a row per instant, with a value from either or both. */
  function diversityRows(globalSnapshots, jobSnapshots) {
    const rows = [];
    let g = 0;
    let j = 0;
    while (g < globalSnapshots.length || j < jobSnapshots.length) {
      const nextGlobal = globalSnapshots[g];
      const nextJob = jobSnapshots[j];
      const x = Math.min(nextGlobal ? nextGlobal.x : Infinity, nextJob ? nextJob.x : Infinity);
      const row = { x, global: null, job: null };
      if (nextGlobal && nextGlobal.x === x) row.global = globalSnapshots[g++];
      if (nextJob && nextJob.x === x) row.job = jobSnapshots[j++];
      rows.push(row);
    }
    return rows;
  }

  function diversityReadout(u) {
    const idx = u.cursor.idx;
    const row = idx === null || idx === undefined ? null : state.diversity.rows[idx];
    if (!row) {
      els.diversityReadout.textContent = "\u00a0";
      return;
    }
    const parts = [timestamp((row.global || row.job).calculated_at)];
    if (row.global) {
      parts.push(
        `all jobs: ${fixed3(row.global.diversity_index)}, ` +
          `${row.global.effective_pattern_count} patterns applied, ` +
          `${row.global.total_applications} applications`,
      );
    }
    if (row.job) {
      parts.push(
        `${scopeText(row.job.scope)}: ${fixed3(row.job.diversity_index)}, ` +
          `${row.job.effective_pattern_count} patterns`,
      );
    }
    els.diversityReadout.textContent = parts.join(" · ");
  }

  const diversityChart = timeChart({
    element: els.diversityChart,
    height: 220,
    yRange: [0, 1.05],
    times: () => state.diversity.rows.map((row) => row.x),
    plotted: () => state.diversity.plotted,
    series: [
      {
        label: "global",
        stroke: COLORS.diversity,
        fill: "rgba(13, 148, 136, 0.08)",
        width: 2,
        spanGaps: true,
        points: { show: true, size: 7, fill: COLORS.diversity },
      },
      {
        label: "job",
        stroke: COLORS.jobDiversity,
        width: 2,
        spanGaps: true,
        points: { show: true, size: 7, fill: COLORS.jobDiversity },
      },
    ],
    hooks: { draw: [drawThreshold], setCursor: [diversityReadout] },
  });

  /** What a line of the chart holds: its instants and values, the gaps left out. */
  function plottedLine(label) {
    const xs = diversityChart.data[0];
    const ys = seriesOf(diversityChart, label);
    const line = { x: [], diversity: [] };
    for (let i = 0; i < xs.length; i++) {
      if (ys[i] === null || ys[i] === undefined) continue;
      line.x.push(xs[i]);
      line.diversity.push(ys[i]);
    }
    return line;
  }

  function showJobNow(job) {
    els.jobDiversity.hidden = !job;
    els.jobDiversityKey.hidden = !(job && job.snapshots);
    if (!job) return;
    const { now, scope } = job;
    const whose = job.snapshots ? "the job's policy" : "the job's policy: the global line";
    els.jobDiversityScope.textContent = `Now, ${scopeText(scope)} (${whose}):`;
    els.jobDiversityValue.textContent = fixed3(now.diversity_index);
    els.jobDiversityValue.dataset.value = JSON.stringify(now.diversity_index);
    els.jobDiversityDetail.textContent =
      `${now.threshold_exceeded ? "below" : "at or above"} its threshold ${job.threshold} · ` +
      `${now.effective_pattern_count} patterns applied · ` +
      (scope.half_life_seconds === null
        ? `${now.total_applications} applications`
        : `weight ${fixed3(now.weighted_applications)} of ${now.total_applications} applications`);
    els.jobDiversityKeyLabel.textContent = `${scopeText(scope)} (the job's policy)`;
  }

  const diversityPanel = {
    load(view) {
      return Promise.all([
        scopeSnapshots(GLOBAL_ALL_TIME, view),
        view.job ? jobDiversity(view) : null,
      ]);
    },
    show([global, job], view) {
      state.diversity.snapshots = global.items;
      state.diversity.truncated = global.truncated;
      state.diversity.job = job;
      const jobSnapshots = job && job.snapshots ? job.snapshots.items : [];
      const rows = diversityRows(global.items, jobSnapshots);
      state.diversity.rows = rows;
      diversityChart.setData([
        rows.map((row) => row.x),
        rows.map((row) => (row.global ? row.global.diversity_index : null)),
        rows.map((row) => (row.job ? row.job.diversity_index : null)),
      ]);
      state.diversity.plotted = {
        ...plottedLine("global"),
        job: job
          ? {
              scope: job.scope,
              current: job.now.diversity_index,
              line: job.snapshots ? plottedLine("job") : null,
            }
          : null,
        threshold: CONFIG.diversityThreshold,
      };
      showJobNow(job);
      const notes = [];
      if (global.items.length === 0) {
        notes.push(
          view.window
            ? `No diversity snapshots in ${RANGES[view.range].text}.`
            : "No diversity snapshots recorded yet (POST /v1/pattern-entropy/snapshots).",
        );
      } else if (global.truncated) {
        notes.push(`Showing the latest ${global.items.length} snapshots.`);
      }
      if (job && job.snapshots && job.snapshots.items.length === 0) {
        notes.push(
          `No snapshots of ${scopeText(job.scope)}` +
            (view.window
              ? ` in ${RANGES[view.range].text}.`
              : " yet (POST /v1/pattern-entropy/snapshots with its scope records one)."),
        );
      } else if (job && job.snapshots && job.snapshots.truncated) {
        notes.push(`Showing the job's latest ${job.snapshots.items.length} snapshots.`);
      }
      showNote(els.diversityNote, notes.join(" "));
    },
  };

  // ---- panels: alerts and statistics (all time, whatever the range) --------------------------

  const alertsPanel = {
    load: (view) => (view.job ? api("v1/alerts", { job_hash: view.job }) : null),
    show(report) {
      state.alerts = report;
      if (!report) {
        els.alerts.replaceChildren(element("li", "empty", "no job selected"));
        els.alertsFiring.textContent = "";
        return;
      }
      els.alertsFiring.textContent = report.firing ? `${report.firing} firing` : "all clear";
      els.alertsFiring.className = report.firing ? "badge badge-firing" : "badge badge-ok";
      els.alerts.replaceChildren(
        ...report.alerts.map((alert) => {
          const item = element("li", alert.firing ? "alert firing" : "alert");
          item.dataset.rule = alert.rule;
          item.dataset.firing = String(alert.firing);
          const head = element("div", "alert-head");
          head.append(
            element("span", "alert-state", alert.firing ? "FIRING" : "ok"),
            element("span", "alert-rule", alert.rule.replaceAll("_", " ")),
          );
          item.append(head, element("div", "alert-message", alert.message));
          return item;
        }),
      );
    },
  };

  const budgetStatsPanel = {
    load: (view) => (view.job ? api("v1/budget/statistics", { job_hash: view.job }) : null),
    show(statistics) {
      state.statistics.budget = statistics;
      renderStats(els.budgetStats, "budget", BUDGET_STATS, statistics);
    },
  };

  const responseStatsPanel = {
    load(view) {
      if (!view.job) return null;
      return Promise.all([
        api("v1/entropy-responses/statistics", { job_hash: view.job }),
        api("v1/entropy-responses/history", { job_hash: view.job, limit: CONFIG.recentResponses }),
      ]);
    },
    show(loaded) {
      const [statistics, recent] = loaded || [null, null];
      state.statistics.responses = statistics;
      state.responses.recent = recent ? recent.items : [];
      renderStats(els.responseStats, "responses", RESPONSE_STATS, statistics);
      els.recentResponses.replaceChildren(
        ...state.responses.recent.map((r) =>
          element(
            "li",
            "",
            `${timestamp(r.recorded_at)} · diversity ${fixed3(r.entropy_at_trigger)} < ` +
              `${fixed3(r.threshold_used)} · ${r.actions_taken.join(", ") || "no action"}` +
              (r.quarantine_revisits ? ` (${r.quarantine_revisits} revisited)` : ""),
          ),
        ),
      );
    },
  };

  const entropyNowPanel = {
    load: () => api("v1/pattern-entropy", { alert_threshold: CONFIG.diversityThreshold }),
    show(entropy) {
      state.statistics.entropy = entropy;
      renderStats(els.entropyStats, "entropy", ENTROPY_STATS, entropy);
    },
  };

  // ---- panel: webhook deliveries (every endpoint, whatever the job) -------------------------

  const DELIVERY_COLUMNS = ["last attempt", "event", "status", "attempts", "answer", "next"];

  function deliveryRow(delivery) {
    const row = element("tr", `delivery-${delivery.status}`);
    row.dataset.message = delivery.message_id;
    row.dataset.status = delivery.status;
    const answer =
      delivery.last_status_code !== null
        ? `HTTP ${delivery.last_status_code}`
        : delivery.last_error || "–";
    const cells = [
      ["delivery-time", delivery.last_attempt_at ? timestamp(delivery.last_attempt_at) : "not yet"],
      ["delivery-event", delivery.event_type],
      ["delivery-status", delivery.status],
      ["delivery-attempts", String(delivery.attempts)],
      ["delivery-answer", answer],
      ["delivery-next", delivery.next_attempt_at ? timestamp(delivery.next_attempt_at) : "–"],
    ];
    row.append(...cells.map(([className, text]) => element("td", className, text)));
    return row;
  }

  function webhookItem({ endpoint, deliveries }) {
    const item = element("li", "webhook");
    item.dataset.webhook = endpoint.id;
    const head = element("div", "webhook-head");
    const stateText = endpoint.enabled
      ? "enabled"
      : `disabled${endpoint.disabled_reason ? `: ${endpoint.disabled_reason}` : ""}`;
    head.append(
      element("span", "webhook-url", endpoint.url),
      element("span", `webhook-state ${endpoint.enabled ? "enabled" : "disabled"}`, stateText),
      element("span", "subtitle", endpoint.events.join(", ")),
    );
    item.append(head);
    if (deliveries.length === 0) {
      item.append(element("p", "note", "No messages yet."));
      return item;
    }
    const table = element("table", "deliveries");
    const header = element("tr");
    header.append(...DELIVERY_COLUMNS.map((name) => element("th", "", name)));
    table.append(header, ...deliveries.map(deliveryRow));
    item.append(table);
    return item;
  }

  const webhooksPanel = {
    async load() {
      const endpoints = await collect("v1/webhooks", {}, CONFIG.maxWebhooks);
      const recent = await Promise.all(
        endpoints.items.map((endpoint) =>
          api(`v1/webhooks/${encodeURIComponent(endpoint.id)}/attempts`, {
            limit: CONFIG.recentDeliveries,
          }),
        ),
      );
      return {
        endpoints: endpoints.items.map((endpoint, index) => ({
          endpoint,
          deliveries: recent[index].items,
        })),
        truncated: endpoints.truncated,
      };
    },
    show(loaded) {
      state.webhooks = loaded;
      const shown = loaded.endpoints.flatMap((entry) => entry.deliveries);
      const failed = shown.filter((d) => d.status === "failed").length;
      const pending = shown.filter((d) => d.status === "pending").length;
      let badge = "";
      if (failed) badge = `${failed} failed`;
      else if (pending) badge = `${pending} pending`;
      else if (shown.length) badge = "all delivered";
      els.webhooksBadge.textContent = badge;
      els.webhooksBadge.hidden = !badge;
      els.webhooksBadge.className = failed ? "badge badge-firing" : "badge badge-ok";
      const items = loaded.endpoints.map(webhookItem);
      if (items.length === 0) {
        items.push(
          element("li", "empty", "No webhook endpoints (POST /v1/webhooks subscribes one)."),
        );
      } else if (loaded.truncated) {
        items.push(element("li", "note", `Showing the latest ${items.length} endpoints.`));
      }
      els.webhooks.replaceChildren(...items);
    },
  };

  /**
   * The page's panels, in the order they are shown. Each `load(view)`s what it shows for the
   * view ({job, range, window}; job is null when there is none), and `show(data, view)`s it
   * once every panel has loaded, so one refresh never mixes two views. A new panel is its
   * markup in page.html and an entry here (a chart over time: built with timeChart()).
   */
  const PANELS = [
    budgetPanel,
    diversityPanel,
    alertsPanel,
    budgetStatsPanel,
    responseStatsPanel,
    entropyNowPanel,
    webhooksPanel,
  ];

  // ---- the pickers and the status line ------------------------------------------------------

  function renderPicker() {
    const jobs = state.jobs;
    const options = jobs.map((job) => {
      const option = element(
        "option",
        "",
        `${job.job_hash} (budget ${fixed3(job.budget.budget_value)})`,
      );
      option.value = job.job_hash;
      return option;
    });
    if (state.job && !jobs.some((job) => job.job_hash === state.job)) {
      const option = element("option", "", `${state.job} (not listed)`);
      option.value = state.job;
      options.unshift(option);
    }
    if (options.length === 0) {
      const option = element("option", "", "no jobs yet");
      option.value = "";
      options.push(option);
    }
    els.picker.replaceChildren(...options);
    els.picker.value = state.job || "";
    els.picker.disabled = jobs.length === 0 && !state.job;
    els.rangePicker.value = state.range;
  }

  function setStatus(status, message) {
    state.status = status;
    state.error = message || null;
    els.statusDot.className = `dot dot-${status}`;
    els.authBanner.hidden = status !== "auth";
    els.keyForm.classList.toggle("needs-key", status === "auth");
    els.errorBanner.hidden = status !== "error";
    if (status === "error") els.errorBanner.textContent = `Refresh failed: ${message}`;
    if (status === "auth") els.authDetail.textContent = message ? `(${message})` : "";
  }

  function showLastUpdated() {
    const when = state.lastUpdated;
    const prefix = state.status === "ok" ? "last updated" : "stale, last updated";
    els.lastUpdated.textContent = when ? `${prefix} ${utcText(when)}` : "not loaded yet";
    if (when) els.lastUpdated.dataset.timestamp = when.toISOString();
  }

  // ---- refresh loop --------------------------------------------------------------------------

  let timer = null;
  let inFlight = false;
  let queued = false;
  let paused = false;

  /** Every panel's data for the current view; null when the view changed meanwhile. */
  async function load() {
    const jobs = await collect("v1/jobs", {}, CONFIG.maxJobs);
    state.jobs = jobs.items;
    if (!state.job && jobs.items.length > 0) {
      state.job = jobs.items[0].job_hash;
      rememberView();
    }
    const view = { job: state.job, range: state.range, window: currentWindow() };
    const loaded = await Promise.all(PANELS.map((panel) => panel.load(view)));
    // The picker moved meanwhile: a new load is queued.
    if (view.job !== state.job || view.range !== state.range) return null;
    return { view, loaded };
  }

  function show({ view, loaded }) {
    state.window = view.window; // before the charts' data: their time axes read it
    renderPicker();
    PANELS.forEach((panel, index) => panel.show(loaded[index], view));
  }

  async function refresh() {
    if (inFlight) {
      queued = true;
      return;
    }
    inFlight = true;
    clearTimeout(timer);
    try {
      const result = await load();
      if (result) {
        state.lastUpdated = new Date();
        state.refreshCount += 1;
        setStatus("ok");
        show(result);
      }
    } catch (error) {
      if (error instanceof AuthError) {
        paused = true; // asking again every few seconds would only repeat the refusal
        setStatus(
          "auth",
          readKey()
            ? error.status === 403
              ? "the key given cannot read"
              : "the key given was not accepted"
            : "",
        );
        els.keyInput.focus();
      } else {
        setStatus("error", error.message);
        if (!(error instanceof ApiError)) console.error(error); // a bug of this page
      }
    } finally {
      inFlight = false;
      showLastUpdated();
      if (queued) {
        queued = false;
        refresh();
      } else if (!paused) {
        timer = setTimeout(tick, CONFIG.refreshMs);
      }
    }
  }

  /** The polling step: a hidden tab waits, and refreshes as soon as it is shown again. */
  function tick() {
    if (document.hidden) timer = setTimeout(tick, CONFIG.refreshMs);
    else refresh();
  }

  /** The job and the range live in the URL, so a view can be shared and survives a reload. */
  function rememberView() {
    const url = new URL(window.location.href);
    if (state.job) url.searchParams.set("job", state.job);
    else url.searchParams.delete("job");
    if (state.range !== DEFAULT_RANGE) url.searchParams.set("range", state.range);
    else url.searchParams.delete("range");
    window.history.replaceState(null, "", url);
  }

  // ---- wiring (no inline handlers: the CSP forbids them) -------------------------------------

  els.picker.addEventListener("change", () => {
    state.job = els.picker.value || null;
    rememberView();
    refresh();
  });

  els.rangePicker.addEventListener("change", () => {
    state.range = els.rangePicker.value in RANGES ? els.rangePicker.value : DEFAULT_RANGE;
    rememberView();
    refresh();
  });

  els.keyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    storeKey(els.keyInput.value.trim());
    paused = false;
    refresh();
  });

  els.keyForget.addEventListener("click", () => {
    els.keyInput.value = "";
    storeKey("");
    paused = false;
    refresh();
  });

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && !paused) refresh();
  });

  document.getElementById("band-label").textContent =
    `${CONFIG.floor.toFixed(2)}–${CONFIG.ceiling.toFixed(2)}`;
  document.getElementById("threshold-label").textContent = String(CONFIG.diversityThreshold);
  els.keyInput.value = readKey();
  const opened = new URL(window.location.href).searchParams;
  state.job = opened.get("job") || null;
  state.range = opened.get("range") in RANGES ? opened.get("range") : DEFAULT_RANGE;
  els.rangePicker.value = state.range;
  refresh();
})();
