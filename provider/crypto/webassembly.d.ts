/**
 * The part of the WebAssembly JavaScript API that rc4.ts uses. Node has the whole API as a
 * global, but its type declarations live in TypeScript's DOM library, which this project
 * leaves out (it would declare browser globals that do not exist in Node).
 */
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, unknown>);
    readonly exports: Record<string, unknown>;
  }
  class Memory {
    readonly buffer: ArrayBuffer;
    grow(pages: number): number;
  }
}
