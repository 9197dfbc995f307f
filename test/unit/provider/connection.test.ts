/**
 * checkConnection: what `pulumi preview` reports for a bad `connection` before anything runs.
 * Every failure names the option and says what to change; none repeats the password.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { checkConnection, UNKNOWN } from "../../../provider/connection";

const PASSWORD = "Corr3ct-H0rse-Battery!";
const base = { host: "win.example.com", user: "EXAMPLE\\admin", password: PASSWORD };

/** The failures of a connection, as "property: reason" lines. */
const failures = (connection: Record<string, unknown>) =>
  checkConnection(connection).map((failure) => `${failure.property}: ${failure.reason}`);

describe("checkConnection", () => {
  test("accepts a minimal connection, UPNs, bare names, and every option at a valid value", () => {
    assert.deepEqual(failures(base), []);
    assert.deepEqual(failures({ ...base, user: "admin@example.com" }), []);
    assert.deepEqual(failures({ ...base, user: "admin" }), []);
    assert.deepEqual(
      failures({
        ...base,
        port: 5986,
        auth: "ntlm",
        https: true,
        certFingerprint: "ab".repeat(32),
        operationTimeout: 60,
        readyTimeout: 0,
        maxConcurrency: 4,
        scripts: "powershell",
      }),
      [],
    );
    assert.deepEqual(failures({ ...base, scripts: "posix" }), []);
    assert.deepEqual(failures({ ...base, auth: "basic", https: true }), []);
    assert.deepEqual(failures({ ...base, auth: "basic", allowUnencrypted: true }), []);
  });

  test("accepts values still unknown during preview", () => {
    assert.deepEqual(checkConnection(UNKNOWN), []);
    assert.deepEqual(failures({ ...base, host: UNKNOWN, password: UNKNOWN }), []);
    // https unknown: Basic may yet go over TLS, so it is not refused now.
    assert.deepEqual(failures({ ...base, auth: "basic", https: UNKNOWN }), []);
  });

  const refused: [string, Record<string, unknown>, RegExp][] = [
    ["an empty host", { ...base, host: " " }, /^connection\.host: must be a non-empty host/],
    ["a missing user", { ...base, user: "" }, /^connection\.user: is required/],
    ["a missing password", { host: "h", user: "u" }, /^connection\.password: is required .*secret/],
    [
      "port 0",
      { ...base, port: 0 },
      /^connection\.port: must be a whole number from 1 to 65535, got 0/,
    ],
    ["port 70000", { ...base, port: 70000 }, /^connection\.port: .*got 70000/],
    ["a port as text", { ...base, port: "5985" }, /^connection\.port: .*got "5985"/],
    [
      "an unknown auth",
      { ...base, auth: "digest" },
      /^connection\.auth: must be "negotiate", "kerberos", "ntlm" or "basic", got "digest"/,
    ],
    [
      "Basic over HTTP",
      { ...base, auth: "basic" },
      /^connection\.auth: Basic over plain HTTP sends the password in the clear: set https: true/,
    ],
    [
      "caCert without https",
      { ...base, caCert: "-----BEGIN CERTIFICATE-----" },
      /^connection\.caCert: applies only with https: true/,
    ],
    [
      "insecure without https",
      { ...base, insecure: true },
      /^connection\.insecure: applies only with https: true/,
    ],
    [
      "a fractional operationTimeout",
      { ...base, operationTimeout: 1.5 },
      /^connection\.operationTimeout: must be a whole number of seconds from 1 to 3600, got 1\.5/,
    ],
    [
      "a negative readyTimeout",
      { ...base, readyTimeout: -1 },
      /^connection\.readyTimeout: must be a whole number of seconds from 0 to 86400, got -1/,
    ],
    [
      "maxConcurrency 0",
      { ...base, maxConcurrency: 0 },
      /^connection\.maxConcurrency: must be a whole number from 1 to 1000, got 0/,
    ],
    ["https as text", { ...base, https: "yes" }, /^connection\.https: must be true or false/],
    [
      "an unknown script family",
      { ...base, scripts: "cmd" },
      /^connection\.scripts: must be "auto", "powershell" or "posix", got "cmd"/,
    ],
    [
      "a misspelt option",
      { ...base, hostname: "x" },
      /^connection\.hostname: is not a connection option \(known: host, port/,
    ],
  ];
  for (const [what, connection, expected] of refused) {
    test(`refuses ${what}, naming the option, without the password`, () => {
      const found = failures(connection);
      assert.ok(
        found.some((line) => expected.test(line)),
        `expected ${String(expected)}, got ${JSON.stringify(found)}`,
      );
      for (const line of found) assert.ok(!line.includes(PASSWORD), `password in: ${line}`);
    });
  }

  test("refuses a connection that is not an object", () => {
    assert.match(checkConnection("win.example.com")[0]?.reason ?? "", /must be an object/);
    assert.match(checkConnection(null)[0]?.reason ?? "", /must be an object/);
  });
});
