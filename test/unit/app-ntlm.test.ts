import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ntlmAuthenticate, ntlmUserName } from '../../engine/app/ntlm.js';
import { parseNtlmAuth } from '../../engine/app/http.js';
import { ntlmAuthenticateMessage, ntlmAuthenticateNoFlags, ntlmNegotiate, spnegoWrap } from '../helpers/ntlm.js';

describe('NTLM AUTHENTICATE messages', () => {
  it('user, domain and workstation, in UTF-16LE or OEM text', () => {
    const u = ntlmAuthenticateMessage({ domain: 'CORP', user: 'jdoe', workstation: 'WS-17' });
    expect(ntlmAuthenticate(u)).toEqual({ user: 'jdoe', domain: 'CORP', workstation: 'WS-17' });
    const o = ntlmAuthenticateMessage({ domain: 'CORP', user: 'jdoe', workstation: 'WS-17', unicode: false });
    expect(ntlmAuthenticate(o)).toEqual({ user: 'jdoe', domain: 'CORP', workstation: 'WS-17' });
    expect(ntlmUserName({ user: 'jdoe', domain: 'CORP', workstation: '' })).toBe('CORP\\jdoe');
    expect(ntlmUserName({ user: 'jdoe', domain: '', workstation: '' })).toBe('jdoe');
    expect(ntlmAuthenticate(ntlmAuthenticateMessage({ domain: 'CORP', user: 'Jürgen', workstation: 'X' }))!.user).toBe('Jürgen');
  });

  it('old clients without NegotiateFlags (payload from offset 52): the text is not misread as flags', () => {
    for (const unicode of [true, false]) {
      const m = ntlmAuthenticateNoFlags({ domain: 'CORP', user: 'bob', workstation: 'W95', unicode });
      expect(ntlmAuthenticate(m)).toEqual({ user: 'bob', domain: 'CORP', workstation: 'W95' });
    }
  });

  it('found inside SPNEGO (HTTP Negotiate); NEGOTIATE messages, anonymous logins and fields past the end give null', () => {
    expect(ntlmAuthenticate(spnegoWrap(ntlmAuthenticateMessage({ domain: 'D', user: 'u', workstation: 'w' })))).toMatchObject({ user: 'u', domain: 'D' });
    expect(ntlmAuthenticate(ntlmNegotiate())).toBeNull();
    expect(ntlmAuthenticate(ntlmAuthenticateMessage({ domain: '', user: '', workstation: '' }))).toBeNull();
    const m = ntlmAuthenticateMessage({ domain: 'D', user: 'u', workstation: 'w' });
    expect(ntlmAuthenticate(m.subarray(0, m.length - 20))).toBeNull();
    expect(ntlmAuthenticate(Buffer.from('not ntlm at all'))).toBeNull();
  });

  it('never throws: every truncation and random bytes after the signature', () => {
    const m = ntlmAuthenticateMessage({ domain: 'CORP', user: 'jdoe', workstation: 'WS' });
    for (let n = 0; n <= m.length; n++) expect(() => ntlmAuthenticate(m.subarray(0, n))).not.toThrow();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (tail, type3) => {
        const head = Buffer.from(`NTLMSSP\0${type3 ? '\x03' : '\x01'}\0\0\0`, 'latin1');
        const r = ntlmAuthenticate(Buffer.concat([head, Buffer.from(tail)]));
        if (r !== null) expect(typeof r.user).toBe('string');
      }),
      { numRuns: 2000 },
    );
  });

  it('HTTP Authorization values: NTLM and Negotiate carry the user; other schemes and type-1 messages do not', () => {
    const t3 = ntlmAuthenticateMessage({ domain: 'CORP', user: 'jdoe', workstation: 'WS' });
    expect(parseNtlmAuth(`NTLM ${t3.toString('base64')}`)).toBe('CORP\\jdoe');
    expect(parseNtlmAuth(`Negotiate ${spnegoWrap(t3).toString('base64')}`)).toBe('CORP\\jdoe');
    expect(parseNtlmAuth(`NTLM ${ntlmNegotiate().toString('base64')}`)).toBeNull();
    expect(parseNtlmAuth('Bearer abc.def')).toBeNull();
    expect(parseNtlmAuth('NTLM !!!')).toBeNull();
  });
});
