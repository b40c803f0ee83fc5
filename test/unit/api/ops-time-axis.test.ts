import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * The /ops charts' time axis (api/ops-page/time-axis.js): the page's own script, run here as it is
 * served (a classic script that sets a global), with no browser.
 */
interface TimeAxis {
  WINDOW_MS: number;
  lastHour(nowMs: number): [number, number];
}

let axis: TimeAxis;
beforeAll(async () => {
  await import(pathToFileURL(new URL('../../../api/ops-page/time-axis.js', import.meta.url).pathname).href);
  axis = (globalThis as { tributaryOpsTimeAxis?: TimeAxis }).tributaryOpsTimeAxis!;
});

describe('the /ops time axis', () => {
  it('is the last hour ending now, in seconds (uPlot\'s time unit)', () => {
    const now = Date.parse('2026-12-01T10:00:00Z');
    expect(axis.WINDOW_MS).toBe(3_600_000);
    expect(axis.lastHour(now)).toEqual([Date.parse('2026-12-01T09:00:00Z') / 1000, now / 1000]);
  });

  it('does not depend on the samples: one sample, none or an old one give the same hour', () => {
    const now = 1_800_000_000_000;
    const [min, max] = axis.lastHour(now);
    expect(max - min).toBe(3600);
    expect(max).toBe(now / 1000);
    // it takes nothing but the time: what uPlot passes (the data's extent) cannot widen it
    expect(axis.lastHour.length).toBe(1);
  });
});
