/**
 * NTLM (MS-NLMP) where it crosses clear-text protocols: HTTP `Authorization: NTLM|Negotiate ...`
 * and SASL `AUTH NTLM` (SMTP, IMAP, POP3). Only the AUTHENTICATE message (type 3, MS-NLMP
 * 2.2.1.3) names the user; the password itself never crosses the wire (the message carries a
 * challenge-response), so a login is recorded with its user and no password, as Wireshark shows
 * "User: DOMAIN\user".
 */

const SIGNATURE = Buffer.from('NTLMSSP\0', 'latin1');
/** NegotiateFlags bit: strings are UTF-16LE (else the OEM code page, read here as Latin-1). */
const NEGOTIATE_UNICODE = 0x00000001;
/** Bytes up to and including NegotiateFlags. */
const AUTHENTICATE_HEADER = 64;

export interface NtlmLogin {
  user: string;
  domain: string;
  workstation: string;
}

/**
 * The user of the NTLM AUTHENTICATE message in `d`, bare or wrapped in SPNEGO (`Negotiate`), or
 * null when `d` holds none (a NEGOTIATE or CHALLENGE message, another mechanism, fields that run
 * past the message, or an anonymous login with an empty user).
 */
export function ntlmAuthenticate(d: Uint8Array): NtlmLogin | null {
  const all = Buffer.from(d.buffer, d.byteOffset, d.length);
  const at = all.indexOf(SIGNATURE);
  if (at < 0 || all.length - at < AUTHENTICATE_HEADER) return null;
  const m = all.subarray(at); // field offsets count from the start of the NTLM message
  if (m.readUInt32LE(8) !== 3) return null;
  // old clients (Windows 9x, Davenport) end the header before NegotiateFlags: their payload starts
  // at offset 52 or 60, and the bytes at 60 are text, not flags (as Wireshark, which reads the
  // flags only when the payload starts after them)
  let dataStart = m.length;
  for (let o = 12; o <= 52; o += 8) if (m.readUInt16LE(o) > 0) dataStart = Math.min(dataStart, m.readUInt32LE(o + 4));
  const unicode = dataStart >= AUTHENTICATE_HEADER ? (m.readUInt32LE(60) & NEGOTIATE_UNICODE) !== 0 : looksUtf16(m, 36);
  const field = (o: number): string | null => {
    const len = m.readUInt16LE(o);
    const off = m.readUInt32LE(o + 4);
    if (len === 0) return '';
    if (off + len > m.length || (unicode && len % 2 !== 0)) return null;
    return m.toString(unicode ? 'utf16le' : 'latin1', off, off + len);
  };
  const domain = field(28);
  const user = field(36);
  const workstation = field(44);
  if (domain === null || user === null || workstation === null || user === '') return null;
  return { user, domain, workstation };
}

/** Without flags: the field at `o` is taken as UTF-16LE when every second byte is zero (ASCII names). */
function looksUtf16(m: Buffer, o: number): boolean {
  const len = m.readUInt16LE(o);
  const off = m.readUInt32LE(o + 4);
  if (len === 0 || len % 2 !== 0 || off + len > m.length) return false;
  for (let i = off + 1; i < off + len; i += 2) if (m[i] !== 0) return false;
  return true;
}

/** The user as Wireshark shows it: DOMAIN\user, or the user alone without a domain. */
export function ntlmUserName(l: NtlmLogin): string {
  return l.domain === '' ? l.user : `${l.domain}\\${l.user}`;
}
