/**
 * Options with their defaults applied, once, where they enter a runtime object: an option given
 * as undefined (a caller passing its own optional setting through) takes its default, as an
 * omitted one does. `R` is the resolved type; `defaults` must cover what `options` may leave out.
 */
export function withDefaults<R extends object>(
  defaults: Partial<R>,
  options: { [K in keyof R]?: R[K] | undefined },
): R {
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  return { ...defaults, ...given } as R;
}
