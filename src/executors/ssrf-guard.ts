// The SSRF guard: a service that calls URLs it is given must not become a way into the network it
// runs in. Cloud metadata addresses are refused always; loopback, private, link-local and other
// non-public ranges unless the deployment allows them (ALLOW_PRIVATE_TARGETS).
//
// Two checks, both here so every HTTP-shaped executor uses the same rules:
// - `checkTargetUrl` at create time: resolves the host and refuses a target whose addresses are
//   refused, so the caller gets a 4xx instead of a job that can never run.
// - `createGuardedDispatcher` at execution: an undici dispatcher that checks the address each socket
//   actually connected to, after DNS, so a name that resolves differently later (DNS rebinding) or an
//   IP literal is caught before a byte of the request is written.
import { lookup } from 'node:dns/promises';
import type { LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { Agent, buildConnector, type Dispatcher } from 'undici';

export interface TargetPolicy {
  /** true: all non-public ranges allowed; false: none; a list: only these CIDR ranges. */
  allowPrivate: boolean | string[];
}

/** Thrown (as a connect error) when a socket reached a refused address; the attempt fails, not retries. */
export class RefusedTargetError extends Error {
  readonly code = 'ESWITCHYARD_REFUSED_TARGET';
  constructor(message: string) {
    super(message);
    this.name = 'RefusedTargetError';
  }
}

const METADATA = new BlockList();
METADATA.addSubnet('169.254.0.0', 16, 'ipv4');
METADATA.addAddress('fd00:ec2::254', 'ipv6');

// Everything that is not the public internet: loopback, RFC 1918, carrier-grade NAT, link-local,
// "this network", benchmarking, multicast and reserved, and their IPv6 counterparts.
const NON_PUBLIC = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16],
  ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) NON_PUBLIC.addSubnet(network, prefix, 'ipv4');
for (const [network, prefix] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96]] as const) {
  NON_PUBLIC.addSubnet(network, prefix, 'ipv6');
}

function allowList(ranges: string[]): BlockList {
  const list = new BlockList();
  for (const range of ranges) {
    const [network, prefix] = range.split('/') as [string, string];
    const family = isIP(network) === 6 ? 'ipv6' : 'ipv4';
    list.addSubnet(network, Number(prefix), family);
  }
  return list;
}

/** An IPv4 address written as IPv6 (::ffff:a.b.c.d) is judged as the IPv4 address it is. */
function normalise(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1]!, family: 'ipv4' };
  return { address, family: isIP(address) === 6 ? 'ipv6' : 'ipv4' };
}

/** Why an address is refused under a policy, or undefined when it may be reached. */
export function refusalReason(rawAddress: string, policy: TargetPolicy): string | undefined {
  const { address, family } = normalise(rawAddress);
  if (METADATA.check(address, family)) return `${rawAddress} is a cloud metadata address`;
  if (!NON_PUBLIC.check(address, family)) return undefined;
  const allowed = policy.allowPrivate === true
    || (Array.isArray(policy.allowPrivate) && allowList(policy.allowPrivate).check(address, family));
  return allowed ? undefined : `${rawAddress} is a loopback or private address (ALLOW_PRIVATE_TARGETS is off)`;
}

function hostOf(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/** Every address a name resolves to; the system resolver (getaddrinfo) unless a test gives another. */
export type Resolver = (host: string) => Promise<{ address: string; family: number }[]>;
const systemResolver: Resolver = (host) => lookup(host, { all: true, verbatim: true });

/**
 * Resolves a target URL's host and returns why it is refused, or undefined. A name that does not
 * resolve now is not refused: DNS may be briefly down, and the execution-time check still applies.
 */
export async function checkTargetUrl(target: string, policy: TargetPolicy, resolve: Resolver = systemResolver): Promise<string | undefined> {
  const host = hostOf(new URL(target));
  if (isIP(host)) return refusalReason(host, policy);
  let addresses: { address: string }[];
  try {
    addresses = await resolve(host);
  } catch {
    return undefined;
  }
  for (const { address } of addresses) {
    const reason = refusalReason(address, policy);
    if (reason) return `${host} resolves to ${reason}`;
  }
  return undefined;
}

/**
 * An undici dispatcher (for `fetch(url, { dispatcher })`) that refuses any connection whose peer
 * address the policy refuses. It checks the socket's remote address, so whatever resolved the name
 * and however the URL was written, the address actually reached is the one judged.
 */
export function createGuardedDispatcher(policy: TargetPolicy, options: Agent.Options = {}, resolve?: Resolver): Dispatcher {
  const connect = buildConnector(resolve ? { lookup: lookupWith(resolve) } : {});
  return new Agent({
    ...options,
    connect: (connectOptions, callback) => connect(connectOptions, (error, socket) => {
      if (error) return callback(error, null);
      const reason = socket!.remoteAddress === undefined ? 'the connection has no peer address' : refusalReason(socket!.remoteAddress, policy);
      if (reason) {
        socket!.destroy();
        return callback(new RefusedTargetError(`target refused: ${connectOptions.hostname} connected to ${reason}`), null);
      }
      callback(null, socket!);
    }),
  });
}

/** A resolver in the shape net.connect's `lookup` option takes. */
function lookupWith(resolve: Resolver): LookupFunction {
  return (host, options, callback) => {
    resolve(host).then((addresses) => {
      if (options.all) (callback as (error: null, addresses: LookupAddress[]) => void)(null, addresses);
      else callback(null, addresses[0]!.address, addresses[0]!.family);
    }, (error: NodeJS.ErrnoException) => callback(error, '', 0));
  };
}

/** The RefusedTargetError somewhere down a fetch error's cause chain, if that is why it failed. */
export function findRefusal(error: unknown): RefusedTargetError | undefined {
  let current = error as { cause?: unknown } | undefined;
  for (let depth = 0; current && depth < 5; depth++) {
    if (current instanceof RefusedTargetError) return current;
    current = current.cause as typeof current;
  }
  return undefined;
}
