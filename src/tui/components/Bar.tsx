import {Text} from 'ink'
import {utilisationBar} from '../../planner/render/utilisationBar.js'

/** BarProps: `value` drawn on a scale of 0..`scale`, `width` cells wide, in `color`. */
export interface BarProps {
  value: number
  scale: number
  width: number
  color?: string
  /** target, when given, is marked with `│` where the bar does not reach it. */
  target?: number
}

/**
 * Bar is a horizontal bar in eighth-cell steps (the planner's utilisationBar glyphs), the
 * empty part dotted so the bar's extent stays visible without colour.
 */
export function Bar({value, scale, width, color, target}: BarProps) {
  if (width <= 0) return null
  const cells = utilisationBar(value, scale, width, target).replace(/ /g, '·')
  return <Text color={color}>{cells}</Text>
}
