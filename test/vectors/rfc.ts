/** Test vectors from RFC 1320 (MD4) and RFC 6229 (RC4). */
const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ""), "hex");

/** RFC 1320 A.5 Test suite. */
export const RFC1320_MD4: ReadonlyArray<readonly [string, string]> = [
  ["", "31d6cfe0d16ae931b73c59d7e0c089c0"],
  ["a", "bde52cb31de33e46245e05fbdbd6fb24"],
  ["abc", "a448017aaf21d8525fc10ae87aa6729d"],
  ["message digest", "d9130a8164549fe818874806e1c7014b"],
  ["abcdefghijklmnopqrstuvwxyz", "d79e1c308aa5bbcdeea8ed63df412da9"],
  [
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    "043f8582f241db351ce627e153e7f0e4",
  ],
  ["1234567890".repeat(8), "e33b4ddc9c38f2199c3e7b164fcc0536"],
];

export interface Rc4Vector {
  key: Buffer;
  /** Keystream offset to 16 bytes of keystream. */
  stream: ReadonlyArray<readonly [number, Buffer]>;
}

/** RFC 6229 section 2: the 40-bit key 0x0102030405. */
export const RFC6229_40_BIT: Rc4Vector = {
  key: hex("0102030405"),
  stream: [
    [0, hex("b2396305f03dc027ccc3524a0a1118a8")],
    [16, hex("6982944f18fc82d589c403a47a0d0919")],
    [240, hex("28cb1132c96ce286421dcaadb8b69eae")],
    [256, hex("1cfcf62b03eddb641d77dfcf7f8d8c93")],
    [496, hex("42b7d0cdd918a8a33dd51781c81f4041")],
    [512, hex("6459844432a7da923cfb3eb4980661f6")],
    [752, hex("ec10327bde2beefd18f9277680457e22")],
    [768, hex("eb62638d4f0ba1fe9fca20e05bf8ff2b")],
    [1008, hex("45129048e6a0ed0b56b490338f078da5")],
    [1024, hex("30abbcc7c20b01609f23ee2d5f6bb7df")],
    [1520, hex("3294f744d8f9790507e70f62e5bbceea")],
    [1536, hex("d8729db41882259bee4f825325f5a130")],
    [2032, hex("1eb14a0c13b3bf47fa2a0ba93ad45b8b")],
    [2048, hex("cc582f8ba9f265e2b1be9112e975d2d7")],
    [3056, hex("f2e30f9bd102ecbf75aaade9bc35c43c")],
    [3072, hex("ec0e11c479dc329dc8da7968fe965681")],
    [4080, hex("068326a2118416d21f9d04b2cd1ca050")],
    [4096, hex("ff25b58995996707e51fbdf08b34d875")],
  ],
};

/** RFC 6229 section 2: the 128-bit key 0x0102030405060708090a0b0c0d0e0f10. */
export const RFC6229_128_BIT: Rc4Vector = {
  key: hex("0102030405060708090a0b0c0d0e0f10"),
  stream: [
    [0, hex("9ac7cc9a609d1ef7b2932899cde41b97")],
    [16, hex("5248c4959014126a6e8a84f11d1a9e1c")],
    [240, hex("065902e4b620f6cc36c8589f66432f2b")],
    [256, hex("d39d566bc6bce3010768151549f3873f")],
    [496, hex("b6d1e6c4a5e4771cad79538df295fb11")],
    [512, hex("c68c1d5c559a974123df1dbc52a43b89")],
    [752, hex("c5ecf88de897fd57fed301701b82a259")],
    [768, hex("eccbe13de1fcc91c11a0b26c0bc8fa4d")],
    [1008, hex("e7a72574f8782ae26aabcf9ebcd66065")],
    [1024, hex("bdf0324e6083dcc6d3cedd3ca8c53c16")],
    [1520, hex("b40110c4190b5622a96116b0017ed297")],
    [1536, hex("ffa0b514647ec04f6306b892ae661181")],
    [2032, hex("d03d1bc03cd33d70dff9fa5d71963ebd")],
    [2048, hex("8a44126411eaa78bd51e8d87a8879bf5")],
    [3056, hex("fabeb76028ade2d0e48722e46c4615a3")],
    [3072, hex("c05d88abd50357f935a63c59ee537623")],
    [4080, hex("ff38265c1642c1abe8d3c2fe5e572bf8")],
    [4096, hex("a36a4c301ae8ac13610ccbc12256cacc")],
  ],
};
