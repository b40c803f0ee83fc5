export { LagMonitor, LAG_MONITOR_DEFAULTS, DEFAULT_EXCLUDED_GROUPS, type LagMonitorOptions, type LagReport } from './lag-monitor.ts';
export { readLatestLagReport } from './lag-report-reader.ts';
