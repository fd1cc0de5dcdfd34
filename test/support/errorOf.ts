/** errorOf returns what `fn` throws, and fails the test when it throws nothing. */
export function errorOf(fn: () => unknown): Error & {code?: string} {
  try {
    fn()
  } catch (e) {
    return e as Error & {code?: string}
  }
  throw new Error('expected a throw')
}
