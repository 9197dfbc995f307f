// js-md4 ships no type declarations; this declares the one call hash.ts makes. The package's
// CommonJS export is the md4 function object itself.
declare module "js-md4" {
  const md4: {
    arrayBuffer(message: Uint8Array | ArrayBuffer | string): ArrayBuffer;
  };
  export = md4;
}
