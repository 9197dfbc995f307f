// Assembles provider/crypto/rc4.wat (WebAssembly text) with wabt and writes the binary, as
// base64, into provider/crypto/rc4-wasm.ts, which the package ships. Run it after editing the
// .wat (`npm run build:wasm`); test/unit/crypto/rc4-wasm.test.ts assembles the source again and
// fails if the two differ.
//
//   node test/setup/assemble-wasm.mjs [--check]
//
// --check writes nothing and exits 1 when rc4-wasm.ts is not the assembly of rc4.wat.
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(import.meta.url);
const root = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..", "..");
const source = join(root, "provider", "crypto", "rc4.wat");
const target = join(root, "provider", "crypto", "rc4-wasm.ts");

const wabt = await require("wabt")();
const module = wabt.parseWat("rc4.wat", readFileSync(source, "utf8"));
module.validate();
const { buffer } = module.toBinary({ write_debug_names: false });
module.destroy();
const base64 = Buffer.from(buffer).toString("base64");

const lines = base64.match(/.{1,96}/g) ?? [];
const text = `/**
 * The WebAssembly binary of rc4.wat (${buffer.length} bytes, base64), written by
 * \`npm run build:wasm\` (test/setup/assemble-wasm.mjs): do not edit by hand, edit rc4.wat.
 * test/unit/crypto/rc4-wasm.test.ts checks that this is rc4.wat assembled.
 */
export const RC4_WASM_BASE64 =
${lines.map((line, index) => `  "${line}"${index < lines.length - 1 ? " +" : ";"}`).join("\n")}
`;

if (process.argv.includes("--check")) {
  const current = readFileSync(target, "utf8");
  if (current !== text) {
    console.error(`${target} is not the assembly of ${source}: run npm run build:wasm`);
    process.exit(1);
  }
  console.log(`${target}: up to date (${buffer.length} bytes)`);
} else {
  writeFileSync(target, text);
  console.log(`${target}: ${buffer.length} bytes`);
}
