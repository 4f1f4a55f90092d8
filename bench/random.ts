/** Seeded randomness for benchmarks: the same seed gives the same labs, learners and sessions. */

export { prng as seeded } from '../src/util/prng';

/** Poisson(mean), by Knuth's multiplication method (means here are small). */
export function poisson(random: () => number, mean: number): number {
  const limit = Math.exp(-mean);
  let k = 0;
  let p = random();
  while (p > limit) {
    k++;
    p *= random();
  }
  return k;
}

/** Log-normal with the given median and shape (sigma of the underlying normal). */
export function logNormal(random: () => number, median: number, sigma: number): number {
  // Box-Muller; 1 - random() keeps the logarithm finite.
  const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return median * Math.exp(sigma * z);
}

export function uniform(random: () => number, min: number, max: number): number {
  return min + (max - min) * random();
}

/** Fisher-Yates, in place. */
export function shuffle<T>(random: () => number, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
