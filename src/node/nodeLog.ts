import {type JsonLog, jsonLog} from '../log/jsonLog.js'

/** NodeLog is the storage node's logger: the shared JSON-lines {@link JsonLog}. */
export type NodeLog = JsonLog

/** jsonLineLog is {@link jsonLog}, kept under the name the node's code uses. */
export const jsonLineLog = jsonLog
