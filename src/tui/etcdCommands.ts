import {setAutopilotPaused} from '../autopilot/autopilotService.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {setPaused, setThrottle} from '../executor/controlService.js'
import {requestCancel} from '../executor/moveStore.js'
import {type TopCommands} from './LiveTop.js'

/**
 * pauseEverything is what `p` in `top` does: it sets (or clears) both pause switches, the
 * executor's moves (`moves pause`) and the autopilot's decisions (`autopilot pause`), so a
 * paused cluster neither runs moves nor keeps deciding new ones that would wait behind the
 * pause. Pausing stops the autopilot first (nothing new is decided while the moves stop);
 * resuming lets the moves go first (the autopilot then decides on a cluster that moves).
 * Returns one message naming both outcomes. Throws NOT_FOUND for an unknown cluster.
 */
export async function pauseEverything(ctx: ServiceContext, paused: boolean): Promise<string> {
  if (paused) {
    const autopilot = await setAutopilotPaused(ctx, true)
    const moves = await setPaused(ctx, true)
    return `${moves.message}; ${autopilot.message}`
  }
  const moves = await setPaused(ctx, false)
  const autopilot = await setAutopilotPaused(ctx, false)
  return `${moves.message}; ${autopilot.message}`
}

/** etcdCommands are the key commands acting on the cluster through the control services. */
export function etcdCommands(ctx: ServiceContext): TopCommands {
  return {
    setPaused: (paused) => pauseEverything(ctx, paused),
    setThrottle: async (rate) => (await setThrottle(ctx, rate)).message,
    cancelMove: async (id) => (await requestCancel(ctx, id)).message,
  }
}
