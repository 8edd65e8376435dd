"""Pictures and reports for people: MIPs with lesion overlays, the self-contained HTML report."""
