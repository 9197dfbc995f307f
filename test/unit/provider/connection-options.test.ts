/**
 * The one declaration of connection options (provider/winrm/connection-options.ts) against
 * every place that shows or takes them: the README's option table, the resources' check,
 * the client's validation and the command-line tool's flags.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { parseCommandLine, USAGE } from "../../../provider/cli/args";
import {
  type ConnectionArgs as ProviderConnectionArgs,
  checkConnection,
  toClientOptions,
} from "../../../provider/connection";
import type { ConnectionArgs as SdkConnectionArgs } from "../../../sdk/connection";
import { InvalidArgumentError } from "../../../provider/errors";
import {
  CONNECTION_OPTIONS,
  optionsOf,
  type ConnectionOption,
} from "../../../provider/winrm/connection-options";
import { resolveClientOptions } from "../../../provider/winrm/options";

const README = join(__dirname, "..", "..", "..", "..", "README.md");

/** The README row an option must have: name (with the client's name), scope, default, help. */
function row(option: ConnectionOption): string {
  const name = option.clientName
    ? `\`${option.name}\` (\`${option.clientName}\` on \`WinRMClient\`)`
    : `\`${option.name}\``;
  const scope = ["R", "C"].filter((surface) => option.surfaces.includes(surface as "R")).join(" ");
  return `| ${name} | ${scope} | ${option.defaultText} | ${option.help} |`;
}

/**
 * The TypeScript interfaces users and the provider write connections with. Record<keyof ...>
 * makes the compiler demand exactly their properties here; the test then demands exactly the
 * declaration's R options, so neither side can gain an option the other lacks.
 */
const SDK_NAMES: Record<keyof SdkConnectionArgs, true> = {
  host: true,
  port: true,
  user: true,
  password: true,
  auth: true,
  realm: true,
  kdc: true,
  spn: true,
  keytab: true,
  ccache: true,
  https: true,
  insecure: true,
  caCert: true,
  certFingerprint: true,
  allowUnencrypted: true,
  operationTimeout: true,
  readyTimeout: true,
  maxConcurrency: true,
  scripts: true,
};
const PROVIDER_NAMES: Record<keyof ProviderConnectionArgs, true> = { ...SDK_NAMES };

describe("connection options, declared once", () => {
  test("the SDK's and the provider's ConnectionArgs have exactly the R options", () => {
    const declared = optionsOf("R")
      .map((option) => option.name)
      .sort();
    assert.deepEqual(Object.keys(SDK_NAMES).sort(), declared);
    assert.deepEqual(Object.keys(PROVIDER_NAMES).sort(), declared);
  });

  test("the README's option table is the declaration, row for row", () => {
    const readme = readFileSync(README, "utf8");
    const start = readme.indexOf("| option | scope | default | meaning |");
    assert.ok(start >= 0, "the README has its option table");
    const rows = readme
      .slice(start)
      .split("\n")
      .slice(2)
      .filter((_, index, all) => all.slice(0, index + 1).every((line) => line.startsWith("|")));
    assert.deepEqual(rows, CONNECTION_OPTIONS.map(row));
  });

  test("the resources take exactly the R options, and refuse any other name", () => {
    const base = { host: "h", user: "u", password: "p" };
    assert.deepEqual(checkConnection(base), []);
    const [unknown] = checkConnection({ ...base, bogus: 1 });
    const known = /\(known: (.*)\)$/.exec(unknown?.reason ?? "")?.[1]?.split(", ");
    assert.deepEqual(
      known,
      optionsOf("R").map((option) => option.name),
    );
    const refused = optionsOf("C").filter((option) => !option.surfaces.includes("R"));
    for (const option of refused) {
      const failures = checkConnection({ ...base, [option.name]: 1 });
      assert.match(
        failures.map((failure) => `${failure.property}: ${failure.reason}`).join("\n"),
        new RegExp(`connection\\.${option.name}: is not a connection option`),
      );
    }
  });

  test("times: seconds on the resources and the CLI, milliseconds on the client, by name", () => {
    const client = toClientOptions({ host: "h", user: "u", password: "p", readyTimeout: 7 });
    assert.equal(client.readyTimeoutMs, 7000);
    assert.equal(toClientOptions({ host: "h", user: "u", password: "p" }).readyTimeoutMs, 300_000);
    const parsed = parseCommandLine(["identify", "-H", "h", "-u", "u", "--ready-timeout", "2.5"]);
    assert.equal(parsed.connection.readyTimeoutMs, 2500);
    assert.equal(
      resolveClientOptions({ host: "h", user: "u", password: "p" }).transport.readyTimeoutMs,
      30_000,
    );
    for (const old of ["readyTimeout", "connectTimeout"]) {
      assert.throws(
        () => resolveClientOptions({ host: "h", user: "u", password: "p", [old]: 5 }),
        (error: unknown) =>
          error instanceof InvalidArgumentError &&
          new RegExp(`${old}Ms \\(milliseconds\\)`).test(error.message),
      );
    }
  });

  test("every CLI option has its flag in --help, and the flag sets the client option", () => {
    for (const option of optionsOf("L")) {
      assert.ok(option.flag, `${option.name} has a flag`);
      assert.match(USAGE.exec, new RegExp(`--${option.flag.name}\\b`), option.name);
      if (option.kind !== "boolean") continue;
      const parsed = parseCommandLine(["identify", "-H", "h", "-u", "u", `--${option.flag.name}`]);
      const client = parsed.connection as Record<string, unknown>;
      assert.equal(client[option.clientName ?? option.name], true, option.name);
    }
  });

  test("an enum value outside the declaration is refused on all three surfaces", () => {
    for (const option of CONNECTION_OPTIONS.filter((item) => item.kind === "enum")) {
      if (option.surfaces.includes("R")) {
        const failures = checkConnection({
          host: "h",
          user: "u",
          password: "p",
          [option.name]: "bogus",
        });
        assert.match(failures[0]?.reason ?? "", /must be .* got "bogus"/, option.name);
      }
      assert.throws(
        () => resolveClientOptions({ host: "h", user: "u", password: "p", [option.name]: "bogus" }),
        InvalidArgumentError,
        option.name,
      );
      if (option.flag) {
        assert.throws(
          () =>
            parseCommandLine(["identify", "-H", "h", "-u", "u", `--${option.flag!.name}`, "bogus"]),
          /must be .* not "bogus"/,
        );
      }
    }
  });
});
