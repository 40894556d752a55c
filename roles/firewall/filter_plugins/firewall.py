"""Filters of the firewall role: check the rules, resolve their sources to addresses, and tell whether a client
may reach a port. Only the standard library (`ipaddress`): the controller needs no netaddr."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

# Fields of a rule, and the protocols that have ports.
FIELDS = {"name", "proto", "ports", "from", "per_source_limit"}
TRANSPORTS = {"tcp", "udp"}
# Words a rule's `from` may hold besides inventory groups and addresses.
KEYWORDS = {"any", "admin"}
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
PROTO_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
GROUP = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
RANGE = re.compile(r"^([0-9]{1,5})-([0-9]{1,5})$")


def _network(value):
    """An IPv4/IPv6 network from an address or a CIDR (host bits dropped), else None."""
    if not isinstance(value, str) or not re.match(r"^[0-9A-Fa-f.:]+(/[0-9]{1,3})?$", value.strip()):
        return None
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


def firewall_is_address(value) -> bool:
    """True for a single IPv4 or IPv6 address (no prefix length)."""
    try:
        ipaddress.ip_address(str(value).strip())
    except ValueError:
        return False
    return True


def firewall_is_network(value) -> bool:
    """True for an address or a CIDR."""
    return _network(value) is not None


def firewall_not_networks(values) -> list:
    """The entries of a list that are neither an address nor a CIDR."""
    return [value for value in values or [] if _network(value) is None]


def _proto(rule) -> str:
    return str(rule.get("proto", "tcp")).strip().lower()


def _port_error(port) -> str | None:
    if isinstance(port, bool):
        return f"{port!r} is not a port"
    text = str(port).strip()
    if text.isdigit():
        return None if 1 <= int(text) <= 65535 else f"{text} is not a port (1-65535)"
    match = RANGE.match(text)
    if match and 1 <= int(match[1]) <= int(match[2]) <= 65535:
        return None
    return f"{text!r} is neither a port (1-65535) nor a range 'low-high'"


def _mappings(rules_by_group):
    """One mapping or a list of them (the project's rules and the inventory's extra ones)."""
    return list(rules_by_group) if isinstance(rules_by_group, list) else [rules_by_group]


def firewall_rule_errors(rules_by_group, variable: str) -> list[str]:
    """Every mistake in a mapping of inventory group -> list of rules, each naming where it is."""
    if not isinstance(rules_by_group, Mapping):
        return [f"{variable} must be a mapping of inventory group names to lists of rules"]
    errors = []
    for group, rules in rules_by_group.items():
        where = f"{variable}.{group}"
        if not GROUP.match(str(group)):
            errors.append(f"{where}: {group!r} is not an inventory group name")
        if not isinstance(rules, list):
            errors.append(f"{where} must be a list of rules")
            continue
        for index, rule in enumerate(rules):
            here = f"{where}[{index}]"
            if not isinstance(rule, Mapping):
                errors.append(f"{here} must be a mapping with name, proto, ports and from")
                continue
            name = rule.get("name")
            if not isinstance(name, str) or not NAME.match(name):
                errors.append(f"{here}: name {name!r} must be a word (letters, digits, '_', '.', '-')")
            else:
                here = f"{here} ({name})"
            unknown = sorted(set(rule) - FIELDS)
            if unknown:
                errors.append(f"{here}: unknown field(s) {', '.join(unknown)} (a rule has {', '.join(sorted(FIELDS))})")
            proto = _proto(rule)
            if not (PROTO_NAME.match(proto) or (proto.isdigit() and 0 <= int(proto) <= 255)):
                errors.append(f"{here}: proto {proto!r} is neither an IP protocol name nor a number 0-255")
            ports = rule.get("ports", [])
            if not isinstance(ports, list):
                errors.append(f"{here}: ports must be a list")
            elif proto in TRANSPORTS and not ports:
                errors.append(f"{here}: proto {proto} needs ports")
            elif proto not in TRANSPORTS and ports:
                errors.append(f"{here}: proto {proto} has no ports (only tcp and udp have)")
            else:
                errors.extend(f"{here}: {error}" for error in map(_port_error, ports) if error)
            limit = rule.get("per_source_limit", 0)
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
                errors.append(f"{here}: per_source_limit {limit!r} must be a whole number (0 = no limit)")
            elif limit and proto != "tcp":
                errors.append(f"{here}: per_source_limit counts TCP connections: proto must be tcp")
            sources = rule.get("from")
            if not isinstance(sources, list) or not sources:
                errors.append(f"{here}: from must be a non-empty list (inventory groups, addresses/CIDRs, admin, any)")
                continue
            for source in sources:
                if not isinstance(source, str) or not (source in KEYWORDS or _network(source) or GROUP.match(source)):
                    errors.append(
                        f"{here}: from {source!r} is neither an inventory group, an address/CIDR, admin nor any"
                    )
    return errors


def _hosts_of(rule, groups) -> list[str]:
    hosts = []
    for source in rule.get("from") or []:
        if source not in KEYWORDS and _network(source) is None:
            hosts += [host for host in groups.get(source, []) if host not in hosts]
    return hosts


def _host_rules(rules_by_group, group_names):
    """(group, rule) of every rule that applies to a host in group_names (and `all`), in the mappings' order."""
    mine = {"all", *group_names}
    for mapping in _mappings(rules_by_group):
        for group, rules in (mapping or {}).items():
            if group in mine:
                for rule in rules or []:
                    yield group, rule


def firewall_unresolved(rules_by_group, group_names, groups, addresses) -> list[str]:
    """Hosts a rule of this host names through a group whose address is not an IP address."""
    bad = []
    for _, rule in _host_rules(rules_by_group, group_names):
        for host in _hosts_of(rule, groups):
            entry = f"{host} ({addresses.get(host, '')!r})"
            if not firewall_is_address(addresses.get(host, "")) and entry not in bad:
                bad.append(entry)
    return bad


def _collapse(networks):
    collapsed = ipaddress.collapse_addresses(sorted(networks))
    return [str(n.network_address) if n.num_addresses == 1 else str(n) for n in collapsed]


def firewall_host_rules(rules_by_group, group_names, groups, addresses, admin_networks) -> list[dict]:
    """The rules of a host in group_names, each with its sources resolved: `any`, or sorted IPv4 and IPv6
    addresses/networks; `notes` say why a source added nothing. Identical rules are kept once."""
    resolved, seen = [], set()
    for group, rule in _host_rules(rules_by_group, group_names):
        sources = [str(source) for source in rule.get("from") or []]
        networks, notes = set(), []
        for source in sources:
            if source == "any":
                continue
            if source == "admin":
                found = [_network(n) for n in admin_networks or []]
                if not found:
                    notes.append("admin: firewall_admin_networks is empty")
            elif _network(source) is not None:
                found = [_network(source)]
            elif source in groups:
                found = [_network(addresses.get(host, "")) for host in groups[source]]
                if not groups[source]:
                    notes.append(f"{source}: the group has no hosts")
            else:
                found = []
                notes.append(f"{source}: no such group in the inventory")
            networks |= {network for network in found if network is not None}
        entry = {
            "name": rule["name"],
            "group": group,
            "proto": _proto(rule),
            "ports": [str(port).strip() for port in rule.get("ports") or []],
            "from": sources,
            "any": "any" in sources,
            "ip": _collapse([n for n in networks if n.version == 4]),
            "ip6": _collapse([n for n in networks if n.version == 6]),
            "notes": notes,
            "per_source_limit": int(rule.get("per_source_limit") or 0),
        }
        key = repr({k: v for k, v in entry.items() if k not in ("group", "from", "notes")})
        if key not in seen:
            seen.add(key)
            resolved.append(entry)
    return resolved


def _port_matches(spec: str, port: int) -> bool:
    low, _, high = spec.partition("-")
    return int(low) <= port <= int(high or low)


def firewall_allows(resolved_rules, address, port, proto="tcp") -> bool:
    """Whether resolved rules (firewall_host_rules) accept a connection from `address` to `port`."""
    client = ipaddress.ip_address(str(address).strip())
    if client.version == 6 and client.ipv4_mapped:
        client = client.ipv4_mapped
    for rule in resolved_rules:
        if rule["proto"] != proto or not any(_port_matches(spec, int(port)) for spec in rule["ports"]):
            continue
        if rule["any"] or any(client in ipaddress.ip_network(n) for n in rule["ip"] + rule["ip6"]):
            return True
    return False


class FilterModule:
    def filters(self):
        return {
            "firewall_is_address": firewall_is_address,
            "firewall_is_network": firewall_is_network,
            "firewall_not_networks": firewall_not_networks,
            "firewall_rule_errors": firewall_rule_errors,
            "firewall_unresolved": firewall_unresolved,
            "firewall_host_rules": firewall_host_rules,
            "firewall_allows": firewall_allows,
        }
