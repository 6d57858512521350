/**
 * NTLM messages built in code (MS-NLMP 2.2.1.1 and 2.2.1.3) for parser tests: the corpus has no
 * NTLM over a clear-text protocol.
 */

/** A NEGOTIATE message (type 1) with the Unicode and NTLM flags. */
export function ntlmNegotiate(): Buffer {
  const m = Buffer.alloc(32);
  m.write('NTLMSSP\0', 0, 'latin1');
  m.writeUInt32LE(1, 8);
  m.writeUInt32LE(0x00000201 | 0x00000001, 12);
  return m;
}

/** An AUTHENTICATE message (type 3) for `domain\user` from `workstation`, strings UTF-16LE or OEM. */
export function ntlmAuthenticateMessage(o: { domain: string; user: string; workstation: string; unicode?: boolean }): Buffer {
  const unicode = o.unicode ?? true;
  const enc = (s: string) => Buffer.from(s, unicode ? 'utf16le' : 'latin1');
  const lm = Buffer.alloc(24, 0x11);
  const nt = Buffer.alloc(24, 0x22);
  const parts = [lm, nt, enc(o.domain), enc(o.user), enc(o.workstation), Buffer.alloc(16, 0x33)];
  const head = Buffer.alloc(72); // signature, type, six fields, flags, version
  head.write('NTLMSSP\0', 0, 'latin1');
  head.writeUInt32LE(3, 8);
  let off = head.length;
  parts.forEach((p, i) => {
    const at = 12 + 8 * i;
    head.writeUInt16LE(p.length, at);
    head.writeUInt16LE(p.length, at + 2);
    head.writeUInt32LE(off, at + 4);
    off += p.length;
  });
  head.writeUInt32LE(unicode ? 0x00088205 : 0x00088206, 60);
  return Buffer.concat([head, ...parts]);
}

/** An AUTHENTICATE message of an old client (Windows 9x): no flags, the payload starts at offset 52. */
export function ntlmAuthenticateNoFlags(o: { domain: string; user: string; workstation: string; unicode: boolean }): Buffer {
  const enc = (s: string) => Buffer.from(s, o.unicode ? 'utf16le' : 'latin1');
  const parts = [Buffer.alloc(24, 0x11), Buffer.alloc(24, 0x22), enc(o.domain), enc(o.user), enc(o.workstation)];
  const head = Buffer.alloc(52);
  head.write('NTLMSSP\0', 0, 'latin1');
  head.writeUInt32LE(3, 8);
  let off = head.length;
  parts.forEach((p, i) => {
    head.writeUInt16LE(p.length, 12 + 8 * i);
    head.writeUInt16LE(p.length, 14 + 8 * i);
    head.writeUInt32LE(off, 16 + 8 * i);
    off += p.length;
  });
  // the session key field (52) is absent: its place holds the first payload bytes
  return Buffer.concat([head, ...parts]);
}

/** `token` inside a minimal SPNEGO NegTokenResp (as HTTP `Negotiate` carries NTLM). */
export function spnegoWrap(token: Buffer): Buffer {
  const octet = Buffer.concat([Buffer.from([0x04, 0x81, token.length]), token]);
  const resp = Buffer.concat([Buffer.from([0xa2, 0x81, octet.length]), octet]);
  const seq = Buffer.concat([Buffer.from([0x30, 0x81, resp.length]), resp]);
  return Buffer.concat([Buffer.from([0xa1, 0x81, seq.length]), seq]);
}
