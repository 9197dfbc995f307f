/**
 * What the mutation fuzz tests share: a small seeded generator, so that a failing run can be
 * replayed from the FUZZ_SEED it prints, and the run's size and seed from the environment.
 */

/** Mutations per target; FUZZ_ITERATIONS overrides the default of 100,000. */
export const FUZZ_ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 100_000);
/** The seed of this run; FUZZ_SEED replays an earlier one. */
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);

/** mulberry32: a deterministic generator of whole numbers below `limit`. */
export function generator(seed: number): (limit: number) => number {
  let state = seed >>> 0;
  return (limit) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * limit);
  };
}
