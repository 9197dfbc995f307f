/** The Kerberos encryption types this implementation speaks, registered on import. */
export * from "./profile";
export { AES128_CTS_HMAC_SHA1_96, AES256_CTS_HMAC_SHA1_96 } from "./aes-sha1";
export { RC4_HMAC } from "./rc4-hmac";
