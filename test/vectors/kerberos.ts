/** Published Kerberos crypto vectors: RFC 3961 A.1 (n-fold) and RFC 3962 Appendix B. */
const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ""), "hex");

/** RFC 3961 A.1: [input, output bits, output]. */
export const RFC3961_NFOLD: ReadonlyArray<readonly [string, number, Buffer]> = [
  ["012345", 64, hex("be072631276b1955")],
  ["password", 56, hex("78a07b6caf85fa")],
  ["Rough Consensus, and Running Code", 64, hex("bb6ed30870b7f0e0")],
  ["password", 168, hex("59e4a8ca7c0385c3c37b3f6d2000247cb6e6bd5b3e")],
  [
    "MASSACHVSETTS INSTITVTE OF TECHNOLOGY",
    192,
    hex("db3b0d8f0b061e603282b308a50841229ad798fab9540c1b"),
  ],
  ["Q", 168, hex("518a54a215a8452a518a54a215a8452a518a54a215")],
  ["ba", 168, hex("fb25d531ae8974499f52fd92ea9857c4ba24cf297e")],
  ["kerberos", 64, hex("6b65726265726f73")],
  ["kerberos", 128, hex("6b65726265726f737b9b5b2b93132b93")],
  ["kerberos", 168, hex("8372c236344e5f1550cd0747e15d62ca7a5a3bcea4")],
  ["kerberos", 256, hex("6b65726265726f737b9b5b2b93132b935c9bdcdad95c9899c4cae4dee6d6cae4")],
];

export interface StringToKeyVector {
  iterations: number;
  password: string;
  salt: string;
  aes128: Buffer;
  aes256: Buffer;
}

/** RFC 3962 Appendix B: PBKDF2-HMAC-SHA1 followed by DK(tkey, "kerberos"). */
export const RFC3962_STRING_TO_KEY: readonly StringToKeyVector[] = [
  {
    iterations: 1,
    password: "password",
    salt: "ATHENA.MIT.EDUraeburn",
    aes128: hex("42263c6e89f4fc28b8df68ee09799f15"),
    aes256: hex("fe697b52bc0d3ce14432ba036a92e65bbb52280990a2fa27883998d72af30161"),
  },
  {
    iterations: 2,
    password: "password",
    salt: "ATHENA.MIT.EDUraeburn",
    aes128: hex("c651bf29e2300ac27fa469d693bdda13"),
    aes256: hex("a2e16d16b36069c135d5e9d2e25f896102685618b95914b467c67622225824ff"),
  },
  {
    iterations: 1200,
    password: "password",
    salt: "ATHENA.MIT.EDUraeburn",
    aes128: hex("4c01cd46d632d01e6dbe230a01ed642a"),
    aes256: hex("55a6ac740ad17b4846941051e1e8b0a7548d93b0ab30a8bc3ff16280382b8c2a"),
  },
  {
    iterations: 5,
    password: "password",
    salt: hex("1234567878563412").toString("latin1"),
    aes128: hex("e9b23d52273747dd5c35cb55be619d8e"),
    aes256: hex("97a4e786be20d81a382d5ebc96d5909cabcdadc87ca48f574504159f16c36e31"),
  },
  {
    iterations: 1200,
    password: "X".repeat(64),
    salt: "pass phrase equals block size",
    aes128: hex("59d1bb789a828b1aa54ef9c2883f69ed"),
    aes256: hex("89adee3608db8bc71f1bfbfe459486b05618b70cbae22092534e56c553ba4b34"),
  },
  {
    iterations: 1200,
    password: "X".repeat(65),
    salt: "pass phrase exceeds block size",
    aes128: hex("cb8005dc5f90179a7f02104c0018751d"),
    aes256: hex("d78c5c9cb872a8c9dad4697f0bb5b2d21496c82beb2caeda2112fceea057401b"),
  },
  {
    iterations: 50,
    password: "\u{1D11E}",
    salt: "EXAMPLE.COMpianist",
    aes128: hex("f149c1f2e154a73452d43e7fe62a56e5"),
    aes256: hex("4b6d9839f84406df1f09cc166db4b83c571848b784a3d6bdc346589a3e393f9e"),
  },
];

/** RFC 3962 Appendix B: AES-128 CBC with ciphertext stealing, key "chicken teriyaki", IV 0. */
export const RFC3962_CTS_KEY = Buffer.from("chicken teriyaki", "latin1");
const CTS_PLAINTEXT = Buffer.from(
  "I would like the General Gau's Chicken, please, and wonton soup.",
  "latin1",
);
export const RFC3962_CTS: ReadonlyArray<readonly [Buffer, Buffer]> = [
  [CTS_PLAINTEXT.subarray(0, 17), hex("c6353568f2bf8cb4d8a580362da7ff7f97")],
  [
    CTS_PLAINTEXT.subarray(0, 31),
    hex("fc00783e0efdb2c1d445d4c8eff7ed22 97687268d6ecccc0c07b25e25ecfe5"),
  ],
  [
    CTS_PLAINTEXT.subarray(0, 32),
    hex("39312523a78662d5be7fcbcc98ebf5a8 97687268d6ecccc0c07b25e25ecfe584"),
  ],
  [
    CTS_PLAINTEXT.subarray(0, 47),
    hex(
      "97687268d6ecccc0c07b25e25ecfe584 b3fffd940c16a18c1b5549d2f838029e 39312523a78662d5be7fcbcc98ebf5",
    ),
  ],
  [
    CTS_PLAINTEXT.subarray(0, 48),
    hex(
      "97687268d6ecccc0c07b25e25ecfe584 9dad8bbb96c4cdc03bc103e1a194bbd8 39312523a78662d5be7fcbcc98ebf5a8",
    ),
  ],
  [
    CTS_PLAINTEXT,
    hex(
      "97687268d6ecccc0c07b25e25ecfe584 39312523a78662d5be7fcbcc98ebf5a8 " +
        "4807efe836ee89a526730dbc2f7bc840 9dad8bbb96c4cdc03bc103e1a194bbd8",
    ),
  ],
];
