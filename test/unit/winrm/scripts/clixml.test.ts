/**
 * decodeClixml on stderr as powershell.exe writes it with -EncodedCommand: samples written
 * from the serialisation format (MS-PSRP 2.2.5: <Objs>, <S> strings with the stream in the S
 * attribute, _xHHHH_ escapes of MS-PSRP 2.2.5.1.1), not captured from a host.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decodeClixml } from "../../../../provider/winrm/scripts";
import { ClixmlStream } from "../../../../provider/winrm/scripts/clixml";

const NS = "http://schemas.microsoft.com/powershell/2004/04";
const objs = (body: string) => `#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="${NS}">${body}</Objs>`;
const CRLF = "_x000D__x000A_";

/** A progress record as the console host serialises it (left out of the text). */
const PROGRESS =
  '<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T>' +
  '<T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first use.</AV>' +
  "<AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR></MS></Obj>";

describe("decodeClixml", () => {
  test("an error record's lines become text", () => {
    const stderr = objs(
      `${PROGRESS}<S S="Error">Remove-Item : Cannot find path 'C:\\nope' because it does not exist.${CRLF}</S>` +
        `<S S="Error">At line:1 char:1${CRLF}</S><S S="Error">+ Remove-Item C:\\nope${CRLF}</S>` +
        `<S S="Error">+ ~~~~~~~~~~~~~~~~~~~${CRLF}</S>` +
        `<S S="Error">    + CategoryInfo          : ObjectNotFound: (C:\\nope:String) [Remove-Item], ItemNotFoundException${CRLF}</S>`,
    );
    assert.equal(
      decodeClixml(stderr),
      "Remove-Item : Cannot find path 'C:\\nope' because it does not exist.\r\n" +
        "At line:1 char:1\r\n+ Remove-Item C:\\nope\r\n+ ~~~~~~~~~~~~~~~~~~~\r\n" +
        "    + CategoryInfo          : ObjectNotFound: (C:\\nope:String) [Remove-Item], ItemNotFoundException\r\n",
    );
  });

  test("_x005F_ escapes an underscore, so a literal _x000A_ survives", () => {
    const stderr = objs(`<S S="Error">name_x005F_x000A_ and snake_case and _x_${CRLF}</S>`);
    assert.equal(decodeClixml(stderr), "name_x000A_ and snake_case and _x_\r\n");
  });

  test("surrogate pairs arrive as two escapes and control characters as one", () => {
    const stderr = objs(`<S S="Error">smile _xD83D__xDE00_ bell _x0007_ tab_x0009_end</S>`);
    assert.equal(decodeClixml(stderr), "smile 😀 bell \u0007 tab\tend");
  });

  test("XML entities and non-ASCII text are decoded once", () => {
    const stderr = objs(`<S S="Error">&lt;tag&gt; &amp;amp; &quot;q&quot; ünï ✓</S>`);
    assert.equal(decodeClixml(stderr), '<tag> &amp; "q" ünï ✓');
  });

  test("warning, verbose and debug lines get the console host's prefixes", () => {
    const stderr = objs(
      `<S S="warning">low disk${CRLF}</S><S S="verbose">step 1${CRLF}</S><S S="debug">x=1${CRLF}</S>`,
    );
    assert.equal(decodeClixml(stderr), "WARNING: low disk\r\nVERBOSE: step 1\r\nDEBUG: x=1\r\n");
  });

  test("a warning serialised without its line end (as 5.1 and 7 write it) is still a line", () => {
    const stderr = objs(
      `<S S="warning">careful</S><S S="Error">boom_x000A_</S><S S="verbose">v</S>`,
    );
    assert.equal(decodeClixml(stderr), "WARNING: careful\nboom\nVERBOSE: v\n");
  });

  test("several documents mixed with plain text, in order", () => {
    const stderr =
      "plain before\n" +
      objs(`<S S="Error">first${CRLF}</S>`) +
      "native tool wrote this\n" +
      objs(`${PROGRESS}`) +
      objs(`<S S="Error">second</S>`) +
      "\ntrailing plain";
    assert.equal(
      decodeClixml(stderr),
      "plain before\nfirst\r\nnative tool wrote this\nsecond\ntrailing plain",
    );
  });

  test("text without CLIXML passes through unchanged, byte for byte", () => {
    for (const text of ["", "error: something\r\n", "<Objs>not after a marker</Objs>", "_x000A_"]) {
      assert.equal(decodeClixml(text), text);
    }
  });

  test("a truncated or malformed document is kept raw rather than lost; the marker line goes", () => {
    const cut = `<Objs Version="1.1.0.1" xmlns="${NS}"><S S="Error">cut off`;
    assert.equal(decodeClixml(`#< CLIXML\r\n${cut}`), cut);
    const malformed = objs(`<S S="Error">bad <nesting</S>`);
    assert.equal(
      decodeClixml(`x ${malformed} y`),
      `x ${malformed.slice("#< CLIXML\r\n".length)} y`,
    );
    assert.equal(decodeClixml("#< CLIXML\r\nnot xml at all"), "not xml at all");
  });

  test("text a script wrote to the raw stderr after the marker, before the document, stays in place", () => {
    // pwsh 7.6 with -EncodedCommand: the marker goes out with the first record written to the
    // error stream, the serialised records only when the process ends; raw writes land between.
    const stderr =
      "#< CLIXML\nAttempted to divide by zero.\nAt line:1 char:56\n" +
      `<Objs Version="1.1.0.1" xmlns="${NS}"><S S="warning">w</S></Objs>`;
    assert.equal(
      decodeClixml(stderr),
      "Attempted to divide by zero.\nAt line:1 char:56\nWARNING: w\n",
    );
  });

  test("PowerShell 7's colour sequences are removed from decoded records", () => {
    // As pwsh 7.6 serialises Write-Error 'boom' and 1/0 for a redirected stderr.
    const stderr = objs(
      '<S S="Error">_x001B_[31;1mWrite-Error: _x001B_[31;1mboom_x001B_[0m_x000A_</S>' +
        '<S S="Error">_x001B_[31;1mRuntimeException: _x001B_[31;1mAttempted to divide by zero._x001B_[0m_x000A_</S>',
    );
    assert.equal(
      decodeClixml(stderr),
      "Write-Error: boom\nRuntimeException: Attempted to divide by zero.\n",
    );
  });

  test("a DOCTYPE is refused, so no entity can be expanded", () => {
    const hostile =
      `#< CLIXML\r\n<Objs><!DOCTYPE Objs [<!ENTITY a "aaaaaaaaaa">]>` +
      `<S S="Error">&a;&a;&a;</S></Objs>`;
    assert.equal(decodeClixml(hostile), hostile.slice("#< CLIXML\r\n".length));
  });

  test("an error record serialised as an object contributes its ToString", () => {
    const stderr = objs(
      `<Obj S="Error" RefId="1"><TN RefId="1"><T>System.Management.Automation.ErrorRecord</T></TN>` +
        `<ToString>boom_x0021_</ToString><MS><S N="Message">ignored</S></MS></Obj>`,
    );
    assert.equal(decodeClixml(stderr), "boom!\n");
  });

  test("a pathological document of 2 MB decodes without backtracking", () => {
    // A guard against catastrophic behaviour, not a speed target (those live in bench/): a
    // million unterminated "_x" escape starts take about half a second when decoding is
    // linear (20 times that on a saturated CI machine), while a pattern that backtracked over
    // them would need on the order of 10^12 steps, hours. The bound sits between the two.
    const repeats = 1_000_000;
    const body = `<S S="Error">${"_x".repeat(repeats)}000D_</S>`;
    const started = Date.now();
    const decoded = decodeClixml(objs(body));
    const took = Date.now() - started;
    // Only the last start is an escape (of a carriage return); compared as a boolean, since a
    // failing comparison of 2 MB strings would print both.
    const expected = `${"_x".repeat(repeats - 1)}\r`;
    assert.ok(decoded === expected, `decoded ${decoded.length} characters: ${decoded.slice(-20)}`);
    assert.ok(took < 30_000, `took ${took} ms`);
  });

  test("as a stream: every split of the input gives what decoding the whole gives", () => {
    const samples = [
      "plain before\r\n" +
        objs(`<S S="warning">careful</S><S S="Error">first${CRLF}</S>`) +
        "native tool wrote this\n" +
        objs(`${PROGRESS}<S S="Error">second_x001B_[31m red_x001B_[0m</S>`) +
        "\ntrailing plain #< CLI",
      "#< CLIXML\nAttempted to divide by zero.\n" +
        `<Objs Version="1.1.0.1" xmlns="${NS}"><S S="warning">w</S></Objs>`,
      `#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="${NS}"><S S="Error">cut off`,
      "no marker at all, <Objs> and _x000A_ stay as they are",
    ];
    for (const sample of samples) {
      const whole = decodeClixml(sample);
      for (let cut = 0; cut <= sample.length; cut++) {
        const stream = new ClixmlStream();
        const text =
          stream.write(sample.slice(0, cut)) + stream.write(sample.slice(cut)) + stream.end();
        assert.equal(text, whole, `split at ${cut} of ${JSON.stringify(sample.slice(0, 40))}`);
      }
      const stream = new ClixmlStream();
      const byCharacter = [...sample].map((char) => stream.write(char)).join("") + stream.end();
      assert.equal(byCharacter, whole, "one character at a time");
    }
  });

  test("as a stream: plain text is let out at once, a record once its document has ended", () => {
    const stream = new ClixmlStream();
    assert.equal(stream.write("native output\n#< CLIXML\n"), "native output\n");
    assert.equal(stream.write("raw error line\n"), "raw error line\n");
    assert.equal(stream.write(`<Objs Version="1.1.0.1" xmlns="${NS}"><S S="Error">late`), "");
    assert.equal(stream.write(`${CRLF}</S></Objs>`), "late\r\n");
    assert.equal(stream.end(), "");
  });
});
