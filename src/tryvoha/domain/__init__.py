"""The pure core: regions, alerts, events, the state projection and statistics. No I/O."""
