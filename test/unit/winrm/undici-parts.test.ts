// provider/winrm/http/undici.ts loads undici's Client and connector alone, by path.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import * as undici from "undici";
import { buildConnector, Client, request } from "../../../provider/winrm/http/undici";

test("the parts are the package's own Client, request and buildConnector", () => {
  assert.equal(Client, undici.Client);
  // eslint-disable-next-line @typescript-eslint/unbound-method -- compared, not called
  assert.equal(request, undici.Client.prototype.request);
  assert.equal(buildConnector, undici.buildConnector);
});

test("loading them does not load the whole package", () => {
  // In a fresh process: this one has the whole package loaded by the import above. Should an
  // undici release move the modules, the fallback loads index.js and this fails, saying so.
  const module = join(__dirname, "..", "..", "..", "provider", "winrm", "http", "undici.js");
  const loaded = execFileSync(
    process.execPath,
    [
      "-e",
      `require(${JSON.stringify(module)});` +
        "process.stdout.write(JSON.stringify(Object.keys(require.cache)" +
        ".filter((file) => /[\\\\/]undici[\\\\/]/.test(file))))",
    ],
    { encoding: "utf8" },
  );
  const files = JSON.parse(loaded) as string[];
  for (const part of [/dispatcher[\\/]client\.js$/, /api[\\/]api-request\.js$/]) {
    assert.ok(
      files.some((file) => part.test(file)),
      `${part.source} loaded`,
    );
  }
  assert.ok(
    !files.some((file) => /undici[\\/]index\.js$/.test(file)),
    "undici's index.js was loaded: the modules moved, and every process start pays for all of undici",
  );
});
