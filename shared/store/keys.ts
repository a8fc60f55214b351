/**
 * THE Redis key layout. Nothing else hard-codes a key. The `service:*` keys are the
 * reference's wire format and must not change; `orchestrator:*` keys are ours.
 * A prefix (ORCHESTRATOR_KEY_PREFIX) isolates test runs and tenants; it is empty by default
 * so that Bannou services and NGINX see the reference keys verbatim.
 */
export const HEARTBEAT_KEY_BASE = 'service:heartbeat:'

export function createKeys(prefix = '') {
  const p = prefix
  return {
    prefix: p,
    /** `service:heartbeat:{serviceId}:{appId}` (TTL 90 s, written by services). */
    heartbeat: (serviceId: string, appId: string) => `${p}${HEARTBEAT_KEY_BASE}${serviceId}:${appId}`,
    /** Index members are the part after `service:heartbeat:`: `{serviceId}:{appId}` or, for the short form, `{appId}`. */
    heartbeatFromMember: (member: string) => `${p}${HEARTBEAT_KEY_BASE}${member}`,
    heartbeatMember: (serviceId: string, appId: string) => `${serviceId}:${appId}`,
    /**
     * The last heartbeat of one instance (same JSON, same TTL) when the heartbeat names its
     * `instanceId`. Replicas of an app share the reference key, so only this key tells whether a
     * given instance (a restart's replacement) has beaten; it is not part of the health listing.
     */
    instanceHeartbeat: (serviceId: string, appId: string, instanceId: string) => `${p}orchestrator:instance-heartbeat:${serviceId}:${appId}:${instanceId}`,
    heartbeatScanPattern: `${p}${HEARTBEAT_KEY_BASE}*`,
    /** Strips prefix and base from a scanned key; null when it is not a heartbeat key. */
    memberFromHeartbeatKey: (key: string) =>
      key.startsWith(`${p}${HEARTBEAT_KEY_BASE}`) ? key.slice(p.length + HEARTBEAT_KEY_BASE.length) : null,
    /** Sorted set of every instance, score = last seen (ms). The sweep reads this, never SCAN. */
    heartbeatIndex: `${p}orchestrator:heartbeats`,
    /** Sorted set of one service's instances (same members and scores as the global index). */
    serviceHeartbeatIndex: (serviceId: string) => `${p}orchestrator:heartbeats:service:${serviceId}`,
    /** Set of every service name ever seen in a heartbeat. */
    services: `${p}orchestrator:services`,
    /** Hash serviceName -> ms since it was first seen degraded (removed when healthy). */
    degradedSince: `${p}orchestrator:degraded-since`,
    /** Cursor of the incremental SCAN that indexes heartbeats written by other clients. */
    reconcileCursor: `${p}orchestrator:heartbeats:reconcile-cursor`,
    routing: (serviceName: string) => `${p}service:routing:${serviceName}`,
    routingScanPattern: `${p}service:routing:*`,
    configCurrent: `${p}orchestrator:config:current`,
    configPrevious: `${p}orchestrator:config:previous`,
    configVersion: `${p}orchestrator:config:version`,
    /** Hash: current (revision JSON), counter (last revision number), inProgress (crash-recovery record). */
    deployment: (env: string) => `${p}orchestrator:deployment:${env}`,
    revisions: (env: string) => `${p}orchestrator:revisions:${env}`,
    restarts: (appName: string) => `${p}orchestrator:restarts:${appName}`,
    /** Pending (coalescing) restart request of one app: JSON, expires a while after it is due. */
    restartPending: (appName: string) => `${p}orchestrator:restart:pending:${appName}`,
    /** Restart running for one app: its id, PX lease so a dead orchestrator frees it. */
    restartRunning: (appName: string) => `${p}orchestrator:restart:running:${appName}`,
    /** Sorted set of restart ids charged to one app's budget, score = when (ms). */
    restartBudget: (appName: string) => `${p}orchestrator:restart:budget:${appName}`,
    /** Sorted set of restarts running in one environment, score = lease expiry (ms): the concurrency limit. */
    restartSlots: (env: string) => `${p}orchestrator:restart:slots:${env}`,
    /** Set of app names with a pending restart (so the scheduler finds due ones without SCAN). */
    restartQueue: `${p}orchestrator:restart:queue`,
    outbox: `${p}orchestrator:outbox`,
    audit: `${p}orchestrator:audit`,
    lease: (name: string) => `${p}orchestrator:lease:${name}`,
    fence: (name: string) => `${p}orchestrator:fence:${name}`,
    /** Sorted set of instances whose heartbeat expired, score = ms when the sweep first saw it gone. */
    instancesLost: `${p}orchestrator:instances:lost`,
    /** Hash index member -> ms since the instance was first seen not healthy (degradation check). */
    instanceDegradedSince: `${p}orchestrator:instances:degraded-since`,
    /** Hash appName -> JSON of the one pending restart request of that app (consumed by the restart executor). */
    restartsPending: `${p}orchestrator:restart-requests:pending`,
    /** String with PX: a request for this app was accepted recently; later requests coalesce into it. */
    restartWindow: (appName: string) => `${p}orchestrator:restart-requests:window:${appName}`,
    /** Hash of one scheduled task's last run (startedAt, durationMs, ok, outcome, holder, fence). */
    schedulerTask: (name: string) => `${p}orchestrator:scheduler:task:${name}`,
    /** One deployment run (plan, stage, per-unit progress, result) as JSON; kept 7 days. */
    deploymentRun: (id: string) => `${p}orchestrator:deployments:${id}`,
    /** Sorted set of deployment ids, score = start time (ms). */
    deploymentIndex: `${p}orchestrator:deployments`,
    /** Set of environment names ever deployed. */
    environments: `${p}orchestrator:environments`,
  }
}

export type Keys = ReturnType<typeof createKeys>
