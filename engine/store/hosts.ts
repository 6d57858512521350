/**
 * The `hosts` table: every IP address of the case, rebuilt after each ingest from the flows and
 * the application records (so it covers all evidence of the case), then enriched with offline
 * GeoIP/ASN data for globally reachable addresses.
 *
 * - mac: the source MAC seen most often for the address as originator or responder (ties: the
 *   lowest), leaving out MACs that carry more than MAX_IPS_PER_MAC addresses (a router's MAC
 *   stands for every remote host; naming it as theirs would mislead).
 * - names: DNS answers (A/AAAA data -> owner name), DHCP host names (assigned or client address),
 *   TLS SNI and HTTP Host headers (the responder's address), at most MAX_NAMES, sorted.
 */
import { HOSTS } from '../../common/fields.js';
import { ColumnBatch } from './batch.js';
import type { CaseStore } from './case-store.js';
import { GeoIp, isGlobalAddress } from '../geo/geoip.js';

const MAX_IPS_PER_MAC = 4;
const MAX_NAMES = 20;

/** Timestamps come back from DuckDB as strings here; seconds and nanoseconds for the batch. */
function tsParts(v: unknown): { sec: number; ns: number } | null {
  if (v === null || v === undefined) return null;
  const n = BigInt(String(v));
  return { sec: Number(n / 1_000_000_000n), ns: Number(n % 1_000_000_000n) };
}

export async function rebuildHosts(store: CaseStore, geo: () => GeoIp | null): Promise<number> {
  await store.con.run('DELETE FROM hosts');
  const { rows } = await store.query(`
    WITH ends AS (
      SELECT orig_h AS ip, ip_version, ts, last_ts, 1 AS o, 0 AS r, orig_ip_bytes AS sent, resp_ip_bytes AS recv, orig_l2_addr AS mac FROM flows
      UNION ALL
      SELECT resp_h, ip_version, ts, last_ts, 0, 1, resp_ip_bytes, orig_ip_bytes, resp_l2_addr FROM flows
    ),
    mac_ips AS (SELECT mac, count(DISTINCT ip) AS n FROM ends WHERE mac IS NOT NULL GROUP BY mac),
    -- the most frequent MAC of an address (ties: the lowest, so that the choice never depends on row order)
    ip_macs AS (
      SELECT e.ip, e.mac, count(*) AS c FROM ends e JOIN mac_ips m USING (mac) WHERE m.n <= ${MAX_IPS_PER_MAC} GROUP BY e.ip, e.mac
    ),
    best_mac AS (SELECT ip, first(mac ORDER BY c DESC, mac) AS mac FROM ip_macs GROUP BY ip),
    names AS (
      SELECT data AS ip, lower(name) AS name FROM dns_answers WHERE type IN (1, 28) AND data <> '' AND name <> ''
      UNION SELECT coalesce(assigned_addr, client_addr), host_name FROM dhcp WHERE host_name IS NOT NULL AND coalesce(assigned_addr, client_addr) IS NOT NULL
      UNION SELECT resp_h, lower(server_name) FROM tls WHERE server_name IS NOT NULL AND server_name <> ''
      UNION SELECT resp_h, lower(regexp_replace(host, ':[0-9]+$', '')) FROM http WHERE host IS NOT NULL AND host <> '' AND NOT regexp_matches(host, '^[0-9.:\\[\\]]+$')
    ),
    name_lists AS (
      SELECT ip, string_agg(name, ',' ORDER BY name) AS names FROM (SELECT ip, name, row_number() OVER (PARTITION BY ip ORDER BY name) AS k FROM names) WHERE k <= ${MAX_NAMES} GROUP BY ip
    )
    SELECT e.ip, any_value(e.ip_version) AS ip_version,
           any_value(bm.mac) AS mac,
           any_value(nl.names) AS names,
           epoch_ns(min(e.ts))::VARCHAR AS first_seen, epoch_ns(max(e.last_ts))::VARCHAR AS last_seen,
           sum(e.o)::DOUBLE AS flows_orig, sum(e.r)::DOUBLE AS flows_resp, sum(e.sent)::DOUBLE AS sent, sum(e.recv)::DOUBLE AS recv
      FROM ends e LEFT JOIN best_mac bm USING (ip) LEFT JOIN name_lists nl USING (ip)
     GROUP BY e.ip ORDER BY e.ip`);
  const batch = new ColumnBatch(HOSTS);
  let g: GeoIp | null | undefined;
  for (const r of rows) {
    const ip = String(r.ip);
    const global = isGlobalAddress(ip);
    let info = null;
    if (global) {
      if (g === undefined) g = geo();
      info = g ? g.lookup(ip) : null;
    }
    batch.pushRow({
      ip,
      ip_version: r.ip_version,
      mac: r.mac ?? null,
      names: r.names ?? null,
      first_seen: tsParts(r.first_seen),
      last_seen: tsParts(r.last_seen),
      flows_orig: r.flows_orig,
      flows_resp: r.flows_resp,
      bytes_sent: r.sent,
      bytes_received: r.recv,
      is_private: !global,
      country_code: info?.countryCode ?? null,
      region: info?.region ?? null,
      city: info?.city ?? null,
      latitude: info?.latitude ?? null,
      longitude: info?.longitude ?? null,
      asn: info?.asn ?? null,
      as_org: info?.asOrg ?? null,
    });
    if (batch.full) store.appendNow(batch);
  }
  store.appendNow(batch);
  await store.flush();
  return rows.length;
}
