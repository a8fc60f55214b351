import healthInfrastructure from './health-infrastructure.ts'
import healthServices from './health-services.ts'
import heartbeats from './heartbeats.ts'
import presets from './presets.ts'
import shouldRestart from './should-restart.ts'
import status from './status.ts'

/** The registry: every endpoint, nothing else. */
export const functions = [healthInfrastructure, healthServices, shouldRestart, presets, status, heartbeats]
