/**
 * The time axis of the /ops page's charts: always the last hour, ending now, whatever the samples.
 * (Left to itself, uPlot widens a time axis holding a single sample to 86,400,000 of its units — with
 * seconds, years.) A classic script with no imports, so the page loads it without a bundler, before
 * ops.js; it sets `globalThis.tributaryOpsTimeAxis`. test/unit/api/ops-time-axis.test.ts runs it in Node.
 */
(() => {
  'use strict';

  /** How far back the charts look: the hour of samples the API process keeps. */
  const WINDOW_MS = 60 * 60_000;

  /** The x scale's [min, max] at `nowMs`, in uPlot's time unit (seconds since the epoch): [now − 1 h, now]. */
  const lastHour = (nowMs) => [(nowMs - WINDOW_MS) / 1000, nowMs / 1000];

  globalThis.tributaryOpsTimeAxis = Object.freeze({ WINDOW_MS, lastHour });
})();
