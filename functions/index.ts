import healthInfrastructure from './health-infrastructure.ts'
import healthServices from './health-services.ts'
import heartbeats from './heartbeats.ts'
import presets from './presets.ts'
import schedulerRun from './scheduler-run.ts'
import schedulerStatus from './scheduler-status.ts'
import shouldRestart from './should-restart.ts'
import status from './status.ts'
import clean from './clean.ts'
import deploy from './deploy.ts'
import deployment from './deployment.ts'
import deployments from './deployments.ts'
import logs from './logs.ts'
import teardown from './teardown.ts'
import backends from './backends.ts'
import requestRestart from './request-restart.ts'
import containerStatus from './container-status.ts'
import containers from './containers.ts'
import servicesRestart from './services-restart.ts'
import topology from './topology.ts'

/** The registry: every endpoint, nothing else. */
export const functions = [
  healthInfrastructure, healthServices, shouldRestart, presets, status, heartbeats,
  schedulerStatus, schedulerRun,
  deploy, deployments, deployment, teardown, clean, logs,
  backends, requestRestart, containerStatus, containers, servicesRestart, topology,
]
