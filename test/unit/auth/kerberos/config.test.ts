/**
 * Where Kerberos settings come from when the program does not say: krb5.conf (MIT's profile
 * format, as kdc.conf and krb5.conf(5) document it) and the credential cache's location.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { credentialCachePath } from "../../../../provider/auth/kerberos/ccache";
import { parseKrb5Conf } from "../../../../provider/auth/kerberos/krb5-conf";
import { InvalidArgumentError, ProtocolError } from "../../../../provider/errors";

const SAMPLE = `
# A domain and an MIT realm, as krb5.conf(5) lays them out.
[libdefaults]
    default_realm = CORP.EXAMPLE.COM
    dns_lookup_kdc = true ; trailing comments are not stripped from values, only whole lines

[realms]
    CORP.EXAMPLE.COM = {
        kdc = dc01.corp.example.com
        kdc = dc02.corp.example.com:88
        admin_server = dc01.corp.example.com
        auth_to_local = {
            nested = groups are skipped
        }
    }
    LAB.TEST = {
        kdc = tcp/kdc.lab.test:1088 *
    }

[domain_realm]
    .corp.example.com = CORP.EXAMPLE.COM
    corp.example.com = CORP.EXAMPLE.COM
    special.lab.test = LAB.TEST
    .lab.test = LAB.TEST
`;

describe("krb5.conf", () => {
  const config = parseKrb5Conf(SAMPLE);

  test("the default realm and each realm's KDCs, in order", () => {
    assert.equal(config.defaultRealm, "CORP.EXAMPLE.COM");
    assert.deepEqual(config.kdcs("CORP.EXAMPLE.COM"), [
      "dc01.corp.example.com",
      "dc02.corp.example.com:88",
    ]);
    // A final marker (*) is not part of the value.
    assert.deepEqual(config.kdcs("LAB.TEST"), ["tcp/kdc.lab.test:1088"]);
    assert.deepEqual(config.kdcs("ELSEWHERE.TEST"), []);
    assert.equal(config.knowsRealm("LAB.TEST"), true);
    assert.equal(config.knowsRealm("ELSEWHERE.TEST"), false);
  });

  test("a host's realm: an exact name first, then the longest .domain", () => {
    assert.equal(config.realmOfHost("web01.corp.example.com"), "CORP.EXAMPLE.COM");
    assert.equal(config.realmOfHost("CORP.example.com"), "CORP.EXAMPLE.COM");
    assert.equal(config.realmOfHost("special.lab.test"), "LAB.TEST");
    assert.equal(config.realmOfHost("a.b.lab.test"), "LAB.TEST");
    assert.equal(config.realmOfHost("example.org"), undefined);
  });

  test("malformed files say which line", () => {
    assert.throws(() => parseKrb5Conf("kdc = x\n"), /line 1: a relation outside any \[section\]/);
    assert.throws(() => parseKrb5Conf("[realms]\n}\n"), /line 2: a } without its {/);
    assert.throws(() => parseKrb5Conf("[realms]\nno equals sign\n"), ProtocolError);
  });
});

describe("the credential cache's location", () => {
  test("the ccache option, then KRB5CCNAME, then /tmp/krb5cc_<uid>", () => {
    const saved = process.env.KRB5CCNAME;
    try {
      assert.equal(credentialCachePath("FILE:/var/run/cache"), "/var/run/cache");
      assert.equal(credentialCachePath("/plain/path"), "/plain/path");
      process.env.KRB5CCNAME = "FILE:/from/env";
      assert.equal(credentialCachePath(), "/from/env");
      delete process.env.KRB5CCNAME;
      assert.equal(credentialCachePath(), `/tmp/krb5cc_${process.getuid!()}`);
    } finally {
      if (saved === undefined) delete process.env.KRB5CCNAME;
      else process.env.KRB5CCNAME = saved;
    }
  });

  test("caches that live in the system are refused with what to do instead", () => {
    for (const name of ["KEYRING:persistent:0", "KCM:0", "API:x"]) {
      assert.throws(
        () => credentialCachePath(name),
        (error: unknown) => {
          assert.ok(error instanceof InvalidArgumentError);
          assert.match(error.message, /kinit -c FILE:/);
          return true;
        },
      );
    }
  });
});
