/**
 * What the benchmarks share: medians of interleaved runs, times as text, the table of ratios.
 */

export interface Row {
  measurement: string;
  ours: string;
  peer: string;
  /** Our time divided by the peer's: lower is better. */
  ratio: number;
  /** The largest ratio that meets the goal. */
  goal: number;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

export function formatTime(value: number): string {
  return value >= 1 ? `${value.toFixed(2)} s` : `${(value * 1000).toFixed(1)} ms`;
}

export function samples(values: readonly number[]): string {
  return values.map(formatTime).join(", ");
}

/**
 * Warmup rounds, then `runs` rounds in which every contender runs once, the order rotating by
 * one each round (who goes first changes too), so that all see the same load on the machine.
 * Resolves with each contender's times, in the order given.
 */
export async function rotated(
  runs: number,
  warmup: number,
  contenders: ReadonlyArray<() => Promise<number>>,
): Promise<number[][]> {
  for (let n = 0; n < warmup; n++) {
    for (const contender of contenders) await contender();
  }
  const times = contenders.map(() => [] as number[]);
  for (let n = 0; n < runs; n++) {
    for (let k = 0; k < contenders.length; k++) {
      const which = (n + k) % contenders.length;
      times[which]!.push(await contenders[which]!());
    }
  }
  return times;
}

export function table(rows: readonly Row[]): string {
  const header = ["measurement", "pulumi-winrm", "peer", "ratio", "goal", "result"];
  const lines = rows.map((row) => [
    row.measurement,
    row.ours,
    row.peer,
    `${row.ratio.toFixed(2)}x`,
    `<= ${row.goal}x`,
    row.ratio <= row.goal ? "met" : "NOT met",
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...lines.map((line) => line[column]!.length)),
  );
  const format = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join("  ")
      .trimEnd();
  return [
    format(header),
    format(widths.map((width) => "-".repeat(width))),
    ...lines.map(format),
  ].join("\n");
}

/** A whole-number setting from the environment, at least `min`; `fallback` when unset. */
export function knob(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${name} must be a whole number of at least ${min}, got "${raw}"`);
  }
  return value;
}

/** The measurements named on the command line (all when none is), each one of `known`. */
export function selected<T extends string>(known: readonly T[], what: string): T[] {
  const wanted = process.argv.slice(2);
  for (const name of wanted) {
    if (!(known as readonly string[]).includes(name)) {
      throw new Error(`unknown ${what} "${name}"; choose from ${known.join(", ")}`);
    }
  }
  return wanted.length === 0 ? [...known] : (wanted as T[]);
}
