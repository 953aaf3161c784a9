import { useEffect, useState } from 'react';
import { emptyView, nextView, type TopSample, type TopView } from './top-view.js';

/**
 * The view grown from `sample()`, taken every `intervalMs` (none while `paused`, none without a
 * sampler). A refresh that fails keeps the last view and goes to `onError`.
 */
export function useSampledView(o: {
  sample: (() => Promise<TopSample>) | undefined;
  intervalMs: number;
  target: string;
  paused?: boolean;
  onError?: ((err: unknown) => void) | undefined;
}): TopView {
  const [view, setView] = useState<TopView>(() => emptyView(o.target));
  useEffect(() => {
    if (o.paused || !o.sample) return;
    const sample = o.sample;
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const tick = async () => {
      try {
        const s = await sample();
        if (!stopped) setView((v) => nextView(v, s));
      } catch (err) {
        o.onError?.(err);
      }
      if (!stopped) timer = setTimeout(() => void tick(), o.intervalMs);
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [o.paused, o.intervalMs, o.sample]);
  return view;
}
