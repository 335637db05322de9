# Supply chain: cargo-deny's licenses, bans and sources checks (deny.toml).
# The advisory check needs the network: see docs/THREAT_MODEL.md.
step "supply chain: cargo deny" ./scripts/deny
