import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

// Prometheus metrics for /metrics, one registry per app instance.
export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({
    name: 'hsmkms_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpLatency = new Histogram({
    name: 'hsmkms_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['route'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly tokenUp = new Gauge({ name: 'hsmkms_token_up', help: '1 when the last readiness probe reached the token', registers: [this.registry] });
  readonly databaseUp = new Gauge({ name: 'hsmkms_database_up', help: '1 when the last readiness probe reached the database', registers: [this.registry] });
  readonly tokenRecoveries = new Counter({ name: 'hsmkms_token_recoveries_total', help: 'Token reconnections after a lost session or token', registers: [this.registry] });

  /** The audit journal's backlog (docs/reliability.md#audit-journal): events answered but not yet in SQL. */
  watchAuditJournal(unmoved: () => number): void {
    new Gauge({
      name: 'hsmkms_audit_journal_unmoved_events',
      help: 'Audit events in this process journal that have not reached SQL yet (grows while SQL cannot be written)',
      registers: [this.registry],
      collect() {
        this.set(unmoved());
      },
    });
  }

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'hsmkms_' });
  }
}
